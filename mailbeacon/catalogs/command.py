"""`mailbeacon catalogs refresh`: the command's arguments and output around `refresh`."""

from __future__ import annotations

import json
from collections.abc import Sequence

from ..config import Config
from ..errors import InvalidInput
from . import BY_NAME
from .refresh import refresh


def _urls(pairs: Sequence[str]) -> dict[str, str]:
    urls = {}
    for pair in pairs:
        name, sep, url = pair.partition("=")
        base, _, part = name.partition(":")
        source = BY_NAME.get(base)
        known_part = not part or (part == "minus" and source is not None and source.minus_url)
        if (
            not sep
            or source is None
            or not known_part
            or not url.startswith(("http://", "https://"))
        ):
            known = ", ".join(BY_NAME)
            raise InvalidInput(
                "--url expects NAME=http(s)://... (or NAME:minus=...),"
                f" NAME one of {known}: {pair!r}"
            )
        urls[name] = url
    return urls


def run_refresh(
    config: Config, *, urls: Sequence[str] = (), only: Sequence[str] = (), as_json: bool = False
) -> int:
    """Refresh and report each catalogue; exit 1 if any download failed (the old list stays)."""
    overrides = _urls(urls)
    unknown = [name for name in only if name not in BY_NAME]
    if unknown:
        raise InvalidInput(f"unknown catalogue {unknown[0]!r}; known: {', '.join(BY_NAME)}")
    results = refresh(config.data_dir / "catalogs", urls=overrides, only=only)
    if as_json:
        print(json.dumps([r.to_dict() for r in results], indent=2))
    else:
        for r in results:
            status = (
                f"{r.networks} networks" if r.ok and r.networks else "kept" if r.ok else "FAILED"
            )
            print(f"{r.name:<20} {status:<16} {r.detail}")
    return 0 if all(r.ok for r in results) else 1
