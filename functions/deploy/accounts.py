"""The plan's identities and credentials: the functions' own account, the account Cloud Build
builds them as, and the Secret Manager secrets every function mounts."""

from __future__ import annotations

from .declaration import DeployConfig
from .resources import ACCOUNT, BUILD_ACCOUNT, BUILD_ROLES, Secret, build_account

RUNTIME_ROLES = ("roles/datastore.user", "roles/pubsub.publisher")


def _binding(project: str, member: str, role: str) -> str:
    return (
        f"gcloud projects add-iam-policy-binding {project} --member={member} "
        f"--role={role} --condition=None --quiet >/dev/null"
    )


def account_commands(config: DeployConfig, sa: str, p: str) -> list[str]:
    """Both accounts, each with only what it uses. The build account exists because a
    project created since mid-2024 builds as the Compute Engine default account, which a
    secure-by-default organisation leaves without any role, so `gcloud functions deploy`
    stops (https://cloud.google.com/functions/docs/troubleshooting#build-service-account)."""
    project, build = config.project, build_account(config.project)
    lines = ["# The functions' own service account, with only what they use"]
    lines.append(
        f"gcloud iam service-accounts describe {sa} {p} >/dev/null 2>&1 || "
        f"gcloud iam service-accounts create {ACCOUNT} --display-name=Mailbeacon {p}"
    )
    lines += [_binding(project, f"serviceAccount:{sa}", role) for role in RUNTIME_ROLES]
    lines += [
        "# The account Cloud Build builds the functions as (--build-service-account)",
        f"gcloud iam service-accounts describe {build} {p} >/dev/null 2>&1 || "
        f"gcloud iam service-accounts create {BUILD_ACCOUNT} "
        f"--display-name='Mailbeacon builds' {p}",
    ]
    lines += [_binding(project, f"serviceAccount:{build}", role) for role in BUILD_ROLES]
    return lines


def secret_commands(secret: Secret, p: str, sa: str) -> list[str]:
    """Create the secret once; add a version when the deployer's value differs from the
    latest; stop when a needed secret has no version; let the functions' account read it."""
    name, var = secret.name, secret.env
    if secret.generated:
        lines = [
            f"# {secret.why} made once, never replaced by a later deploy",
            f"gcloud secrets describe {name} {p} >/dev/null 2>&1 || {secret.make} | "
            f"gcloud secrets create {name} --replication-policy=automatic --data-file=- {p}",
        ]
    else:
        # A mounted secret's variable names a file on the deployer's machine: its content goes
        # in (--data-file=PATH); any other's variable holds the value itself.
        value, data = (
            (f'"$(cat "${{{var}}}")"', f'--data-file="${{{var}}}"')
            if secret.mount
            else (f'"${{{var}}}"', "--data-file=-")
        )
        add = (
            f"gcloud secrets versions add {name} {data} {p}"
            if secret.mount
            else f'printf %s "${{{var}}}" | gcloud secrets versions add {name} {data} {p}'
        )
        lines = [
            f"# {var}: from this shell's environment into Secret Manager (the plan holds no value)",
            f"gcloud secrets describe {name} {p} >/dev/null 2>&1 || "
            f"gcloud secrets create {name} --replication-policy=automatic {p}",
            f'if [ -n "${{{var}:-}}" ] && [ "$(gcloud secrets versions access latest '
            f'--secret={name} {p} 2>/dev/null)" != {value} ]; then {add}; fi',
            f"gcloud secrets versions describe latest --secret={name} {p} >/dev/null 2>&1 || "
            f"{{ echo 'mailbeacon: set {var} and deploy again' >&2; exit 1; }}",
        ]
    lines.append(
        f"gcloud secrets add-iam-policy-binding {name} --member=serviceAccount:{sa} "
        f"--role=roles/secretmanager.secretAccessor {p} >/dev/null"
    )
    return lines
