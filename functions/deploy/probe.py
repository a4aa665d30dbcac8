"""What the preflight reads of the target project, and nothing it could change.

Every gcloud call is a read (``describe``, ``list``, ``get-iam-policy``, ``access``, the
caller's account and token); the deployer's own permissions come from two REST methods gcloud
does not wrap, each needing no permission itself: Resource Manager's
``projects.testIamPermissions`` (https://cloud.google.com/resource-manager/reference/rest/v1/
projects/testIamPermissions) and IAM's ``projects.serviceAccounts.testIamPermissions``
(https://cloud.google.com/iam/docs/reference/rest/v1/projects.serviceAccounts/
testIamPermissions). ``MAILBEACON_GOOGLE_APIS_URL`` points both at a stand-in.

A read that fails is recorded as unknown (None), never guessed: the preflight says so.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

READ_VERBS = frozenset({"describe", "list", "get-iam-policy", "access", "print-access-token"})
"""The only gcloud verbs the preflight runs (tests/integration/test_preflight.py checks)."""


@dataclass
class Facts:
    """What the preflight learnt; None wherever a read failed."""

    account: str | None = None
    project: dict[str, Any] | None = None
    project_error: str = ""
    billing: bool | None = None
    enabled: set[str] | None = None
    policies: dict[str, bool | None] = field(default_factory=dict)
    """Organisation policy constraint -> enforced (None: could not be read)."""
    bindings: dict[str, set[str]] | None = None
    """The project's IAM policy: member -> roles."""
    permissions: set[str] | None = None
    """Of the permissions asked, those the caller holds on the project."""
    accounts: dict[str, bool] = field(default_factory=dict)
    """Service account email -> exists."""
    act_as: dict[str, bool | None] = field(default_factory=dict)
    """Service account email -> the caller may act as it."""
    secrets: dict[str, str | None] = field(default_factory=dict)
    """Secret name -> its latest version's value when read, "" when it has none."""
    firebase_cli: bool = False


class Probe:
    """Runs the reads with the deployer's environment (PATH, credentials)."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = dict(env)
        self._token: str | None = None

    def gcloud(self, *args: str) -> tuple[bool, str]:
        """(succeeded, stdout or stderr) of a read-only gcloud call."""
        verb = next((a for a in args if a in READ_VERBS), None)
        if verb is None:
            raise ValueError(f"the preflight only reads: gcloud {' '.join(args)}")
        program = shutil.which("gcloud", path=self.env.get("PATH"))
        if program is None:
            return False, "gcloud is not installed (https://cloud.google.com/sdk)"
        try:
            done = subprocess.run(
                [program, *args], capture_output=True, text=True, env=self.env, timeout=120
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return False, str(exc)
        return done.returncode == 0, done.stdout if done.returncode == 0 else done.stderr

    def json(self, *args: str) -> Any | None:
        ok, out = self.gcloud(*args, "--format=json")
        if not ok:
            return None
        try:
            return json.loads(out)
        except ValueError:
            return None

    def has(self, program: str) -> bool:
        return shutil.which(program, path=self.env.get("PATH")) is not None

    def token(self) -> str | None:
        if self._token is None:
            ok, out = self.gcloud("auth", "print-access-token")
            self._token = out.strip() if ok else ""
        return self._token or None

    def test_permissions(self, resource: str, permissions: Sequence[str]) -> set[str] | None:
        """``resource`` is ``cloudresourcemanager/v1/projects/P`` or
        ``iam/v1/projects/-/serviceAccounts/EMAIL``; None when the call failed."""
        import requests

        token = self.token()
        if token is None:
            return None
        base = self.env.get("MAILBEACON_GOOGLE_APIS_URL")
        service, _, path = resource.partition("/")
        url = f"{base}/{resource}" if base else f"https://{service}.googleapis.com/{path}"
        try:
            response = requests.post(
                f"{url}:testIamPermissions",
                json={"permissions": list(permissions)},
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            )
        except requests.RequestException:
            return None
        if response.status_code != 200:
            return None
        return set(response.json().get("permissions") or ())
