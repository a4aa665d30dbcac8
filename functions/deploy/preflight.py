"""`mailbeacon deploy --check`: what would stop the plan in this project, read before anything
is changed, as a checklist with the command or console step that fixes each finding.

Each check names what the real platform does when it is missed (the sources are beside each
one): billing off refuses the APIs, a missing permission stops the plan half-way, an
organisation's policies refuse grants and keys, a project's Pub/Sub service agent from before
April 2021 cannot sign push tokens, Gmail refuses a watch on another project's topic. A blocker
makes the command exit 1, and `mailbeacon deploy` runs this first and stops on one.
"""

from __future__ import annotations

from dataclasses import dataclass

from .declaration import DeployConfig
from .probe import Facts, Probe
from .resources import build_account, service_account

OK, PLAN, BLOCKER, WARNING, MANUAL = "ok", "plan", "BLOCKER", "warning", "manual"
DRS = ("iam.allowedPolicyMemberDomains", "iam.managed.allowedPolicyMembers")
"""Domain-restricted sharing, legacy and managed (https://cloud.google.com/resource-manager/
docs/organization-policy/restricting-domains); enforced by default in organisations created
since May 3, 2024 (https://cloud.google.com/resource-manager/docs/secure-by-default-
organizations)."""
KEYS = ("iam.disableServiceAccountKeyCreation", "iam.managed.disableServiceAccountKeyCreation")
ACCOUNTS = ("iam.disableServiceAccountCreation", "iam.managed.disableServiceAccountCreation")
PUBSUB_AGENT_CUTOFF = "2021-04-08"
"""A Pub/Sub service agent enabled on or before this day needs roles/iam.serviceAccount
TokenCreator to sign push tokens (https://cloud.google.com/pubsub/docs/push#authentication);
the project's creation time stands in for the agent's."""
PERMISSIONS = {
    # The role that grants each permission the plan uses (the IAM roles reference).
    "roles/serviceusage.serviceUsageAdmin": ("serviceusage.services.enable",),
    "roles/resourcemanager.projectIamAdmin": (
        "resourcemanager.projects.getIamPolicy",
        "resourcemanager.projects.setIamPolicy",
    ),
    "roles/iam.serviceAccountAdmin": ("iam.serviceAccounts.create",),
    "roles/cloudfunctions.developer": (
        "cloudfunctions.functions.create",
        "cloudfunctions.functions.update",
    ),
    "roles/run.admin": ("run.services.update", "run.services.setIamPolicy"),
    "roles/pubsub.admin": (
        "pubsub.topics.create",
        "pubsub.topics.setIamPolicy",
        "pubsub.subscriptions.create",
        "pubsub.subscriptions.update",
        "pubsub.subscriptions.setIamPolicy",
    ),
    "roles/secretmanager.admin": (
        "secretmanager.secrets.create",
        "secretmanager.secrets.setIamPolicy",
        "secretmanager.versions.add",
        "secretmanager.versions.access",
    ),
    "roles/datastore.owner": ("datastore.databases.create", "datastore.indexes.create"),
    "roles/cloudscheduler.admin": ("cloudscheduler.jobs.create", "cloudscheduler.jobs.update"),
    "roles/gsuiteaddons.developer": (
        "gsuiteaddons.authorizations.get",
        "gsuiteaddons.deployments.create",
        "gsuiteaddons.deployments.install",
    ),
}
FRONT_PERMISSIONS = {"roles/firebasehosting.admin": ("firebasehosting.sites.update",)}
ACT_AS = "iam.serviceAccounts.actAs"


@dataclass(frozen=True)
class Finding:
    status: str
    what: str
    fix: tuple[str, ...] = ()


def read(config: DeployConfig, probe: Probe) -> Facts:
    """Every read the checks need (a few dozen gcloud calls, two REST calls)."""
    p, facts = f"--project={config.project}", Facts()
    ok, out = probe.gcloud("auth", "list", "--filter=status:ACTIVE", "--format=value(account)")
    facts.account = out.strip().splitlines()[0] if ok and out.strip() else None
    facts.project = probe.json("projects", "describe", config.project)
    if facts.project is None:
        facts.project_error = probe.gcloud("projects", "describe", config.project)[1].strip()
        return facts
    billing = probe.json("billing", "projects", "describe", config.project)
    facts.billing = None if billing is None else bool(billing.get("billingEnabled"))
    ok, out = probe.gcloud("services", "list", "--enabled", p, "--format=value(config.name)")
    facts.enabled = set(out.split()) if ok else None
    for constraint in (*DRS, *KEYS, *ACCOUNTS):
        policy = probe.json("org-policies", "describe", constraint, p, "--effective")
        facts.policies[constraint] = None if policy is None else _enforced(policy)
    policy = probe.json("projects", "get-iam-policy", config.project)
    if policy is not None:
        facts.bindings = {}
        for binding in policy.get("bindings") or ():
            for member in binding.get("members") or ():
                facts.bindings.setdefault(member, set()).add(binding["role"])
    asked = [perm for perms in permissions_for(config).values() for perm in perms]
    facts.permissions = probe.test_permissions(
        f"cloudresourcemanager/v1/projects/{config.project}", [*asked, ACT_AS]
    )
    for email in (service_account(config.project), build_account(config.project)):
        facts.accounts[email] = probe.gcloud("iam", "service-accounts", "describe", email, p)[0]
        if facts.accounts[email] and ACT_AS not in (facts.permissions or ()):
            held = probe.test_permissions(f"iam/v1/projects/-/serviceAccounts/{email}", [ACT_AS])
            facts.act_as[email] = None if held is None else ACT_AS in held
    for secret in config.secrets():
        if secret.generated:
            continue
        ok, out = probe.gcloud(
            "secrets", "versions", "access", "latest", f"--secret={secret.name}", p
        )
        facts.secrets[secret.name] = out if ok else ""
    facts.firebase_cli = probe.has("firebase")
    return facts


def _enforced(policy: dict) -> bool:
    rules = (policy.get("spec") or {}).get("rules") or ()
    return any(
        r.get("enforce") or r.get("denyAll") or (r.get("values") and not r.get("allowAll"))
        for r in rules
    )


def permissions_for(config: DeployConfig) -> dict[str, tuple[str, ...]]:
    return {**PERMISSIONS, **(FRONT_PERMISSIONS if config.public_url else {})}
