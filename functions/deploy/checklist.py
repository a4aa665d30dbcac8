"""The preflight's findings, from what it read: each with its status and the exact command or
console step that fixes it; printed as a checklist, blockers first to fix."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from .declaration import DeployConfig
from .preflight import (
    ACCOUNTS,
    ACT_AS,
    BLOCKER,
    DRS,
    KEYS,
    MANUAL,
    OK,
    PLAN,
    PUBSUB_AGENT_CUTOFF,
    WARNING,
    Finding,
    permissions_for,
)
from .probe import Facts
from .resources import BUILD_ROLES, GMAIL_KEY_SECRET, build_account, service_account

Findings = Iterator[Finding]


def findings(config: DeployConfig, facts: Facts, env: Mapping[str, str]) -> list[Finding]:
    """Every finding, in the order the plan meets them."""
    found = list(_access(config, facts))
    if facts.project is None:
        return found
    for check in (_billing_and_apis, _permissions_held, _accounts, _organisation, _pubsub_agent):
        found += check(config, facts)
    found += [*_secrets(config, facts, env), *_gmail(config, facts, env), *_front(config, facts)]
    found += _workspace(config, facts)
    return found


def _grant(config: DeployConfig, facts: Facts, role: str) -> str:
    member = f"user:{facts.account or 'YOU@example.com'}"
    return (
        f"gcloud projects add-iam-policy-binding {config.project} --member={member}"
        f" --role={role}   # by the project's owner"
    )


def _access(config: DeployConfig, facts: Facts) -> Findings:
    if facts.account is None:
        yield Finding(BLOCKER, "gcloud has no signed-in account", ("gcloud auth login",))
    if facts.project is None:
        why = facts.project_error.splitlines()[-1] if facts.project_error else "no answer"
        yield Finding(
            BLOCKER,
            f"project {config.project} cannot be read: {why}",
            ("check the project id, or ask its owner for roles/viewer on it",),
        )
    else:
        yield Finding(OK, f"project {config.project} (number {facts.project['projectNumber']})")


def _billing_and_apis(config: DeployConfig, facts: Facts) -> Findings:
    if facts.billing is False:
        yield Finding(
            BLOCKER,
            "billing is off: Cloud Functions, Cloud Build and Cloud Scheduler refuse to be enabled",
            (
                f"gcloud billing projects link {config.project} --billing-account=ACCOUNT_ID"
                "   # or console: Billing -> Link a billing account",
            ),
        )
    elif facts.billing is None:
        yield Finding(WARNING, "billing could not be read (roles/billing.viewer shows it)")
    else:
        yield Finding(OK, "billing is enabled")
    if facts.enabled is None:
        yield Finding(WARNING, "the enabled APIs could not be listed")
        return
    missing = [api for api in config.apis() if api not in facts.enabled]
    if missing:
        yield Finding(PLAN, f"the plan enables {len(missing)} APIs: {', '.join(missing)}")
    else:
        yield Finding(OK, "every API the plan uses is enabled")


def _permissions_held(config: DeployConfig, facts: Facts) -> Findings:
    held = facts.permissions
    if held is None:
        yield Finding(WARNING, "your permissions could not be tested (projects.testIamPermissions)")
        return
    lacking = {
        role: [p for p in perms if p not in held]
        for role, perms in permissions_for(config).items()
        if any(p not in held for p in perms)
    }
    for role, perms in lacking.items():
        yield Finding(
            BLOCKER,
            f"you lack {', '.join(perms)} (the plan uses them)",
            (_grant(config, facts, role),),
        )
    if not lacking:
        yield Finding(OK, f"you hold every permission the plan uses ({facts.account})")
    if ACT_AS in held:
        return
    for email in (service_account(config.project), build_account(config.project)):
        if facts.act_as.get(email):
            continue
        yield Finding(
            BLOCKER,
            f"you may not act as {email} (iam.serviceAccounts.actAs): the functions run and"
            " build as it",
            (_grant(config, facts, "roles/iam.serviceAccountUser"),),
        )


def _accounts(config: DeployConfig, facts: Facts) -> Findings:
    build = build_account(config.project)
    roles = (facts.bindings or {}).get(f"serviceAccount:{build}", set())
    to_grant = [r for r in BUILD_ROLES if r not in roles]
    number = facts.project["projectNumber"]
    default = (facts.bindings or {}).get(
        f"serviceAccount:{number}-compute@developer.gserviceaccount.com"
    )
    note = (
        ""
        if facts.bindings is None
        else " (the project's default build account has "
        + (", ".join(sorted(default)) if default else "no role")
        + ": the plan never uses it)"
    )
    if to_grant:
        yield Finding(PLAN, f"the plan creates {build} and grants it {', '.join(to_grant)}{note}")
    else:
        yield Finding(OK, f"functions build as {build}{note}")
    missing = [e for e, exists in facts.accounts.items() if not exists]
    if missing and any(facts.policies.get(c) for c in ACCOUNTS):
        yield Finding(
            BLOCKER,
            "the organisation forbids creating service accounts; the plan needs"
            f" {', '.join(missing)}",
            ("an organisation policy administrator creates them, or exempts this project from"
             " iam.disableServiceAccountCreation",),
        )  # fmt: skip


def _organisation(config: DeployConfig, facts: Facts) -> Findings:
    drs = [c for c in DRS if facts.policies.get(c)]
    if any(facts.policies.get(c) is None for c in DRS):
        yield Finding(
            WARNING, "domain-restricted sharing could not be read (roles/orgpolicy.policyViewer)"
        )
    if drs:
        yield Finding(
            OK,
            f"domain-restricted sharing is enforced ({drs[0]}): the plan binds no allUsers;"
            " public functions have Cloud Run's invoker check off",
        )
        if config.gmail_watch:
            yield Finding(
                BLOCKER,
                "the sent-mail watch grants gmail-api-push@system.gserviceaccount.com publish"
                " rights, which domain-restricted sharing refuses (Gmail's push guide)",
                (
                    f"an organisation policy administrator overrides {drs[0]} for project"
                    f" {config.project} (console: IAM & Admin -> Organization policies ->"
                    " the constraint -> Manage policy -> Override parent's policy -> Allow all),"
                    " or leave MAILBEACON_GMAIL_WATCH_TOPIC unset",
                ),
            )


def _pubsub_agent(config: DeployConfig, facts: Facts) -> Findings:
    created = str(facts.project.get("createTime", ""))[:10]
    if not created or created > PUBSUB_AGENT_CUTOFF:
        return
    number = facts.project.get("projectNumber")
    agent = f"serviceAccount:service-{number}@gcp-sa-pubsub.iam.gserviceaccount.com"
    role = "roles/iam.serviceAccountTokenCreator"
    if facts.bindings is not None and role in facts.bindings.get(agent, set()):
        yield Finding(OK, "the Pub/Sub service agent may sign push tokens")
        return
    yield Finding(
        BLOCKER,
        f"the project dates from {created}: its Pub/Sub service agent needs {role} to sign"
        " the push subscriptions' tokens",
        (
            f"gcloud projects add-iam-policy-binding {config.project} --member={agent}"
            f" --role={role}",
        ),
    )


def _secrets(config: DeployConfig, facts: Facts, env: Mapping[str, str]) -> Findings:
    for secret in config.secrets():
        if secret.generated or env.get(secret.env) or facts.secrets.get(secret.name):
            continue
        what = "the key file's path" if secret.mount else "its value"
        yield Finding(
            BLOCKER,
            f"{secret.name} has no version and {secret.env} is not set",
            (f"export {secret.env}=...   # {what}, read once by the plan into Secret Manager",),
        )


def _gmail(config: DeployConfig, facts: Facts, env: Mapping[str, str]) -> Findings:
    if not config.gmail:
        return
    key = _key(env.get(GMAIL_KEY_SECRET.env), facts.secrets.get(GMAIL_KEY_SECRET.name))
    keys_blocked = any(facts.policies.get(c) for c in KEYS)
    if key is None and keys_blocked:
        yield Finding(
            BLOCKER,
            "the organisation forbids service account keys (iam.disableServiceAccountKeyCreation),"
            " and the Gmail features need a delegated key",
            ("an organisation policy administrator exempts this project from the constraint,"
             " creates the key, and you export MAILBEACON_GMAIL_CREDENTIALS=key.json",),
        )  # fmt: skip
    if key is None or not config.gmail_watch:
        return
    topic = config.gmail_watch
    topic_project = topic.split("/")[1] if topic.startswith("projects/") else config.project
    if key.get("project_id") != topic_project:
        yield Finding(
            BLOCKER,
            f"the watch topic is in project {topic_project} but the Gmail key's account is of"
            f" {key.get('project_id')}: Gmail refuses it (the topic's project must be the one"
            " calling users.watch)",
            (f"export MAILBEACON_GMAIL_WATCH_TOPIC=projects/{key.get('project_id')}/topics/"
             f"{topic.rpartition('/')[2]}",),
        )  # fmt: skip
    else:
        yield Finding(OK, f"the watch topic {topic} is in the key's project")


def _key(path: str | None, stored: str | None) -> dict[str, Any] | None:
    try:
        text = Path(path).read_text() if path else stored
        key = json.loads(text) if text else None
    except (OSError, ValueError):
        return None
    return key if isinstance(key, dict) else None


def _front(config: DeployConfig, facts: Facts) -> Findings:
    if not config.public_url:
        return
    if not facts.firebase_cli:
        yield Finding(
            BLOCKER,
            "the custom domain's front needs the Firebase CLI",
            ("npm install -g firebase-tools && firebase login",),
        )
    yield Finding(
        MANUAL,
        f"after the deploy: connect {config.public_url} to the Hosting site {config.hosting_site}",
        ("console: Firebase -> Hosting -> Add custom domain",),
    )


def _workspace(config: DeployConfig, facts: Facts) -> Findings:
    if "MAILBEACON_WORKSPACE_DOMAINS" not in dict(config.settings):
        yield Finding(
            BLOCKER,
            "MAILBEACON_WORKSPACE_DOMAINS is not set: the add-on would admit nobody",
            ("export MAILBEACON_WORKSPACE_DOMAINS=example.com",),
        )
    parent = facts.project.get("parent") or {}
    if parent.get("type") not in ("organization", "folder"):
        yield Finding(
            WARNING,
            "the project is in no organisation: an Internal OAuth consent screen needs it in"
            " your Workspace organisation",
            ("console: IAM & Admin -> Settings -> Migrate, into your organisation",),
        )
    yield Finding(
        MANUAL,
        "OAuth consent screen: user type Internal",
        ("console: Google Auth platform -> Audience -> Internal (docs/admin.md section 3)",),
    )
    yield Finding(
        MANUAL,
        "Marketplace SDK: private app, Deployment ID mailbeacon, admin install",
        ("console: Google Workspace Marketplace SDK -> App Configuration (docs/admin.md)",),
    )
    if config.gmail:
        yield Finding(
            MANUAL,
            "domain-wide delegation of the Gmail key's client id, with only the scopes used",
            ("Admin console: Security -> API controls -> Domain-wide delegation",),
        )


def render(config: DeployConfig, facts: Facts, found: list[Finding]) -> str:
    lines = [
        f"Preflight of project {config.project} ({config.region}) as"
        f" {facts.account or 'nobody'}: reads only, nothing was changed",
        "",
    ]
    for finding in found:
        lines.append(f"  {finding.status:<8} {finding.what}")
        lines += [f"           fix: {fix}" for fix in finding.fix]
    blockers = sum(f.status == BLOCKER for f in found)
    lines.append("")
    lines.append(
        f"{blockers} blocker{'s' if blockers != 1 else ''}: deploy refuses to run until"
        " they are fixed."
        if blockers
        else "No blockers: the plan can run."
    )
    return "\n".join(lines) + "\n"
