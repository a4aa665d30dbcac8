"""A customer's Google Cloud project as `gcloud` and `firebase` see it, with the rules of the
real platform that broke real deployments: a disabled API fails its calls, billing off refuses
to enable billable APIs, an organisation's domain-restricted sharing refuses ``allUsers`` and
Google's system accounts, a build account without rights fails the build, a secret a function
mounts must be readable by its account, a subscription needs its topics, Hosting needs a site
and the Cloud Run services it rewrites to.

``gcloud_commands.answer(project, argv, stdin, cwd)`` returns what the real CLI would: exit
status and output. The messages are the platform's own wording, from captured outputs:
- a disabled API: "PERMISSION_DENIED: <API> has not been used in project N before or it is
  disabled. Enable it by visiting ..." (m-lab/etl#713);
- billing off: "FAILED_PRECONDITION: Billing account for project 'N' is not found. Billing must
  be enabled for activation of service(s) ..." (kyegomez/zeta#71);
- domain-restricted sharing: "One or more users named in the policy do not belong to a
  permitted customer, perhaps due to an organization policy." (firebase-tools#2238);
- a build account without rights: Cloud Functions' "Could not build the function due to a
  missing permission on the build service account" (cloud.google.com/functions/docs/
  troubleshooting#build-service-account);
- no Hosting site: firebase-tools' src/commands/deploy.ts.
Reads gcloud answers from a user's machine with the SDK's own quota project (projects, billing,
organisation policies, services, auth) work whatever the project has enabled.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OWNER = None
DRS = "iam.allowedPolicyMemberDomains"
KEY_CREATION = "iam.disableServiceAccountKeyCreation"
REFUSED_BY_DRS = (
    "One or more users named in the policy do not belong to a permitted customer,"
    " perhaps due to an organization policy."
)
BUILD_FAILED = (
    "OperationError: code=3, message=Could not build the function due to a missing permission"
    " on the build service account. If you didn't revoke that permission explicitly, this could"
    " be caused by a change in the organization policies. Please refer to the following"
    " documentation for more details and resolution:"
    " https://cloud.google.com/functions/docs/troubleshooting#build-service-account"
)
BUILDER_ROLES = {"roles/cloudbuild.builds.builder", "roles/editor"}
BUILD_TRIO = {
    "roles/logging.logWriter",
    "roles/artifactregistry.writer",
    "roles/storage.objectViewer",
}
BILLABLE = {
    "cloudfunctions.googleapis.com",
    "run.googleapis.com",
    "cloudbuild.googleapis.com",
    "artifactregistry.googleapis.com",
    "cloudscheduler.googleapis.com",
    "secretmanager.googleapis.com",
}
SERVICE = {
    # A command group and the API its calls go to (in the project they touch).
    "functions": "cloudfunctions.googleapis.com",
    "run": "run.googleapis.com",
    "pubsub": "pubsub.googleapis.com",
    "firestore": "firestore.googleapis.com",
    "secrets": "secretmanager.googleapis.com",
    "scheduler": "cloudscheduler.googleapis.com",
    "workspace-add-ons": "gsuiteaddons.googleapis.com",
    "iam": "iam.googleapis.com",
}
TITLES = {
    "cloudfunctions.googleapis.com": "Cloud Functions API",
    "run.googleapis.com": "Cloud Run Admin API",
    "pubsub.googleapis.com": "Cloud Pub/Sub API",
    "firestore.googleapis.com": "Cloud Firestore API",
    "secretmanager.googleapis.com": "Secret Manager API",
    "cloudscheduler.googleapis.com": "Cloud Scheduler API",
    "gsuiteaddons.googleapis.com": "Google Workspace Add-ons API",
    "iam.googleapis.com": "Identity and Access Management (IAM) API",
    "cloudbuild.googleapis.com": "Cloud Build API",
    "firebasehosting.googleapis.com": "Firebase Hosting API",
    "firebase.googleapis.com": "Firebase Management API",
}


VERBS = frozenset(
    {"describe", "create", "update", "deploy", "enable", "list", "access", "add", "install"}
    | {"replace", "get-iam-policy", "add-iam-policy-binding", "add-invoker-policy-binding"}
    | {"get-authorization", "print-access-token"}
)
"""Where a command's name ends and its arguments begin (gcloud names the command in errors)."""


class Refused(Exception):
    """What the CLI prints on stderr when the platform refuses, with exit status 1."""


@dataclass
class CloudProject:
    """The target project: its settings (the test arranges them) and what exists in it."""

    id: str = "acme-mail-1"
    number: str = "123456789012"
    created: str = "2025-03-04T09:00:00.000Z"
    parent: dict[str, str] | None = field(
        default_factory=lambda: {"type": "organization", "id": "410000000001"}
    )
    billing: bool = True
    enabled: set[str] = field(default_factory=set)
    policies: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Effective organisation policies, ``constraint -> spec`` (``{"rules": [...]}``)."""
    caller: str = "deployer@example.com"
    permissions: frozenset[str] | None = OWNER
    """The caller's permissions on the project; None: its owner (every permission)."""
    iam: dict[str, set[str]] = field(default_factory=dict)
    """Project-level roles per member (``serviceAccount:...``)."""
    addon_sa: str = ""
    addon_client_id: str = "112233445566778899000"
    state: dict[str, str] = field(default_factory=dict)
    """What exists, by kind and id (``pubsub topics mailbeacon-hits``): value is its data."""
    secrets: dict[str, list[str]] = field(default_factory=dict)
    secret_readers: dict[str, set[str]] = field(default_factory=dict)
    public: set[str] = field(default_factory=set)
    """Cloud Run services whose invoker check is off."""
    invokers: dict[str, set[str]] = field(default_factory=dict)
    functions: dict[str, list[str]] = field(default_factory=dict)
    """Each deployed function's last `gcloud functions deploy` argv."""
    firebase: bool = False
    sites: set[str] = field(default_factory=set)
    hosting: dict[str, Any] = field(default_factory=dict)
    """The firebase.json each site was last deployed with."""

    def __post_init__(self) -> None:
        self.addon_sa = self.addon_sa or (
            f"service-{self.number}@gcp-sa-gsuiteaddons.iam.gserviceaccount.com"
        )

    @classmethod
    def secure_by_default(cls, **changes: Any) -> CloudProject:
        """A project created today in an organisation created since May 2024: domain-restricted
        sharing and key creation enforced, no API enabled yet, and the Compute Engine default
        account (the default build account) without any role."""
        policies = {
            DRS: {"rules": [{"values": {"allowedValues": ["C0acme01"]}}]},
            KEY_CREATION: {"rules": [{"enforce": True}]},
        }
        return cls(policies=policies, **changes)

    # Rules -----------------------------------------------------------------------------------

    @property
    def compute_sa(self) -> str:
        return f"{self.number}-compute@developer.gserviceaccount.com"

    def enforced(self, constraint: str) -> bool:
        return any(
            rule.get("enforce") or rule.get("values") or rule.get("denyAll")
            for rule in self.policies.get(constraint, {}).get("rules", [])
        )

    def admit(self, member: str) -> None:
        """Domain-restricted sharing: only the organisation's identities, its projects'
        service accounts and Google's per-project service agents may be granted roles;
        raises Refused for anyone else."""
        if not self.enforced(DRS) and not self.enforced("iam.managed.allowedPolicyMembers"):
            return
        kind, _, email = member.partition(":")
        if kind == "serviceAccount":
            allowed = email.partition("@")[2] != "system.gserviceaccount.com"
        else:
            allowed = kind in ("user", "group", "domain") and email.endswith("@example.com")
        if not allowed:
            raise Refused(f"FAILED_PRECONDITION: {REFUSED_BY_DRS}")

    def grant(self, member: str, role: str) -> None:
        self.admit(member)
        self.iam.setdefault(member, set()).add(role)

    def need(self, api: str) -> None:
        if api not in self.enabled:
            title = TITLES.get(api, api)
            raise Refused(
                f"PERMISSION_DENIED: {title} has not been used in project {self.number} before"
                f" or it is disabled. Enable it by visiting https://console.developers.google.com"
                f"/apis/api/{api}/overview?project={self.number} then retry. If you enabled this"
                " API recently, wait a few minutes for the action to propagate to our systems"
                " and retry."
            )

    def holds(self, permission: str) -> bool:
        return self.permissions is None or permission in self.permissions

    def can_build(self, account: str) -> bool:
        roles = self.iam.get(f"serviceAccount:{account}", set())
        return bool(roles & BUILDER_ROLES) or roles >= BUILD_TRIO

    # Answers ---------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """What exists, as JSON (for a test's assertion message or a rehearsal's log)."""
        return json.loads(
            json.dumps(
                {"state": self.state, "enabled": sorted(self.enabled), "iam": self.iam},
                default=sorted,
            )
        )

    def read_file(self, path: str, cwd: str) -> str:
        return (Path(cwd) / path).read_text() if path else ""
