"""What the plan deployed, read back from the stand-in of Google's control plane after the
plan's script ran against it (functions/standins/gcloud.py): each function's environment and
secrets exactly as its `gcloud functions deploy` received them, the topics and subscriptions
as created and updated, who may invoke which function, and the Hosting rewrites deployed.

The rehearsal starts the functions, the emulator's subscriptions and its front from this, so
what runs here is what the plan would leave in a real project, not a second reading of the
declaration.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..standins.cloud_project import CloudProject

ENV_FLAG = "--set-env-vars=^|^"
"""gcloud's alternate delimiter (`gcloud topic escaping`): ``^|^K=V|K=V``."""


def environment(argv: list[str]) -> dict[str, str]:
    flag = next(a for a in argv if a.startswith(ENV_FLAG))
    return dict(item.split("=", 1) for item in flag[len(ENV_FLAG) :].split("|"))


def mounts(argv: list[str]) -> list[tuple[str, str]]:
    """(variable or file path, secret name) of ``--set-secrets``."""
    flag = next((a for a in argv if a.startswith("--set-secrets=")), "--set-secrets=")
    pairs = [m.split("=", 1) for m in flag.split("=", 1)[1].split(",") if m]
    return [(target, ref.split(":")[0]) for target, ref in pairs]


@dataclass
class Deployed:
    """The deployment as the project holds it after the plan ran."""

    project: CloudProject
    functions: dict[str, dict[str, str]] = field(default_factory=dict)
    topics: list[str] = field(default_factory=list)
    subscriptions: dict[str, dict[str, str]] = field(default_factory=dict)

    @classmethod
    def read(cls, project: CloudProject, secret_dir: Path) -> Deployed:
        deployed = cls(project)
        for name, argv in project.functions.items():
            env = environment(argv)
            for target, secret in mounts(argv):
                value = project.secrets[secret][-1]
                if target.startswith("/"):  # a mounted file: here under the work folder
                    local = secret_dir / target.lstrip("/")
                    local.parent.mkdir(parents=True, exist_ok=True)
                    local.write_text(value)
                    env = {k: str(local) if v == target else v for k, v in env.items()}
                else:
                    env[target] = value
            deployed.functions[name] = env
        for key, data in project.state.items():
            if key.startswith("pubsub topics "):
                deployed.topics.append(key.split(" ", 2)[2])
            elif key.startswith("pubsub subscriptions "):
                deployed.subscriptions[key.split(" ", 2)[2]] = json.loads(data or "{}")
        return deployed

    def pushed_to(self, subscription: str) -> str | None:
        """The function a push subscription delivers to (its endpoint is that function's
        `gcloud functions describe` URL), or None for a pull subscription."""
        endpoint = self.subscriptions[subscription].get("push-endpoint")
        if not endpoint:
            return None
        host = endpoint.split("//", 1)[1].split(".", 1)[0]
        return next((f for f in self.functions if host.startswith(f.replace("_", "-") + "-")), None)

    def invokers(self, function: str) -> set[str] | None:
        """Who may invoke ``function``: None when anyone may (the invoker check is off)."""
        if function.replace("_", "-") in self.project.public:
            return None
        return set(self.project.invokers.get(function, set()))

    def rewrites(self) -> list[dict[str, Any]]:
        """The Hosting site's rewrites as deployed (empty without a custom domain)."""
        sites = list(self.project.hosting.values())
        return list(sites[0].get("rewrites", [])) if sites else []
