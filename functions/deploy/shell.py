"""Shell text for the plan: quoting (with the script's run-time values as ``"${NAME}"``),
gcloud's environment and secret flags, and verbatim files as quoted heredocs."""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence

from .resources import Ref, Secret, Value


def shell_word(parts: Sequence[str]) -> str:
    """One shell word: literal runs single-quoted, Refs as ``"${NAME}"``."""
    out, run = [], ""
    for part in parts:
        if isinstance(part, Ref):
            if run:
                out.append(shlex.quote(run))
                run = ""
            out.append(f'"${{{part}}}"')
        else:
            run += part
    if run:
        out.append(shlex.quote(run))
    return "".join(out)


def env_flag(env: Mapping[str, Value], extra: Mapping[str, str]) -> str:
    """``--set-env-vars`` with gcloud's alternate delimiter (values may hold commas)."""
    parts: list[str] = ["--set-env-vars=^|^"]
    items = [*env.items(), *((k, (v,)) for k, v in extra.items())]
    for i, (key, value) in enumerate(items):
        parts.append(("|" if i else "") + f"{key}=")
        parts.extend(value)
    return shell_word(parts)


def secrets_flag(secrets: Sequence[Secret]) -> str:
    """``--set-secrets``: an environment variable per secret, or a file for a mounted one
    (gcloud's ``/mount/path/file=SECRET:VERSION`` form, secrets_config.py)."""
    return shlex.quote(
        "--set-secrets=" + ",".join(f"{s.mount or s.env}={s.name}:latest" for s in secrets)
    )


def heredoc(path: str, text: str, tag: str) -> list[str]:
    """Write ``text`` to the (double-quoted shell) ``path``, verbatim: a quoted heredoc."""
    assert tag not in text
    return [f"cat > \"{path}\" <<'{tag}'", *text.rstrip("\n").splitlines(), tag]
