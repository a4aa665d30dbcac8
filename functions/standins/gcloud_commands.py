"""The `gcloud` and `firebase` commands the deploy plan and its preflight run, answered from a
``CloudProject`` with the platform's rules (cloud_project.py says where each comes from).

Resources are known by their kind and id (``pubsub topics mailbeacon-hits``); a service
account's email and its id are one resource, so `describe x@p.iam.gserviceaccount.com` finds
what `create x` made. Outputs follow ``--format``: ``value(field)`` prints the field, ``json``
prints the resource as the REST API returns it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .cloud_project import (
    BILLABLE,
    BUILD_FAILED,
    KEY_CREATION,
    SERVICE,
    VERBS,
    CloudProject,
    Refused,
)

Flags = dict[str, str]


def parse(argv: list[str]) -> tuple[list[str], Flags]:
    words, flags = [], {}
    for arg in argv:
        if arg.startswith("--"):
            name, _, value = arg[2:].partition("=")
            flags[name] = value
        else:
            words.append(arg)
    return words, flags


def value_of(flags: Flags, fields: dict[str, Any]) -> str:
    """``--format=value(a.b)`` or ``json`` over a resource's fields."""
    fmt = flags.get("format", "")
    if fmt == "json":
        return json.dumps(fields, indent=2) + "\n"
    if fmt.startswith("value(") and fmt.endswith(")"):
        out = []
        for path in fmt[6:-1].split(","):
            node: Any = fields
            for part in path.split("."):
                node = node.get(part, "") if isinstance(node, dict) else ""
            out.append(str(node))
        return "\t".join(out) + "\n"
    return ""


def key(words: list[str], verb: str) -> str:
    """The resource's kind and id: the words around the verb, emails reduced to their id."""
    i = words.index(verb)
    return " ".join(w.split("@")[0] for w in [*words[:i], *words[i + 1 :]])


def answer(
    project: CloudProject, argv: list[str], stdin: str = "", cwd: str = ""
) -> tuple[int, str]:
    """(exit status, output) for one `gcloud ...` or `firebase ...` call; a refusal is
    printed as gcloud prints errors, naming the command."""
    try:
        return 0, run(project, argv, stdin, cwd)
    except Refused as exc:
        words = [w for w in argv[1:] if not w.startswith("-")]
        end = next((i for i, w in enumerate(words) if w in VERBS), len(words) - 1)
        return 1, f"ERROR: ({'.'.join([argv[0], *words[: end + 1]])}) {exc}\n"


def run(project: CloudProject, argv: list[str], stdin: str, cwd: str) -> str:
    program, rest = argv[0], argv[1:]
    if program == "firebase":
        return firebase(project, rest, cwd)
    words, flags = parse(rest)
    if words[0] == "scheduler":
        words = [w for w in words if w not in ("pubsub", "http")]  # "jobs create pubsub NAME"
    handler = HANDLERS.get(tuple(words[:2])) or HANDLERS.get((words[0],))
    if handler is not None:
        return handler(project, words, flags, stdin, cwd)
    return generic(project, words, flags, stdin)


def generic(project: CloudProject, words: list[str], flags: Flags, stdin: str) -> str:
    """describe: exit 1 unless it exists; create: make it; anything else: accepted."""
    api = SERVICE.get(words[0])
    if api:
        project.need(api)
    if "describe" in words:
        found = key(words, "describe")
        if found not in project.state:
            raise Refused(f"NOT_FOUND: {found} was not found")
        return value_of(flags, json.loads(project.state[found] or "{}"))
    if "create" in words:
        made = key(words, "create")
        if made in project.state and words[0] != "firestore":
            raise Refused(f"ALREADY_EXISTS: {made} already exists")
        keys = words[:3] == ["iam", "service-accounts", "keys"]
        if keys and project.enforced(KEY_CREATION):
            raise Refused(
                "FAILED_PRECONDITION: Key creation is not allowed on this service account."
            )
        project.state[made] = json.dumps(flags)
    return ""


def services(project: CloudProject, words: list[str], flags: Flags, stdin: str, cwd: str) -> str:
    if words[1] == "enable":
        wanted = [w for w in words[2:]]
        billable = [w for w in wanted if w in BILLABLE and w not in project.enabled]
        if billable and not project.billing:
            raise Refused(
                f"FAILED_PRECONDITION: Billing account for project '{project.number}' is not"
                f" found. Billing must be enabled for activation of service(s)"
                f" '{','.join(billable)}' to proceed."
            )
        project.enabled |= set(wanted)
        return ""
    if words[1] == "list":
        return "".join(f"{api}\n" for api in sorted(project.enabled))
    return ""


def projects(project: CloudProject, words: list[str], flags: Flags, stdin: str, cwd: str) -> str:
    verb = words[1]
    if words[2:3] != [project.id]:
        raise Refused(f"PERMISSION_DENIED: The caller does not have permission ({words[2:3]})")
    if verb == "describe":
        fields = {
            "projectId": project.id,
            "projectNumber": project.number,
            "createTime": project.created,
            "lifecycleState": "ACTIVE",
            **({"parent": project.parent} if project.parent else {}),
        }
        return value_of(flags, fields)
    if verb == "add-iam-policy-binding":
        project.grant(flags["member"], flags["role"])
        return ""
    if verb == "get-iam-policy":
        roles: dict[str, list[str]] = {}
        for member, granted in project.iam.items():
            for role in granted:
                roles.setdefault(role, []).append(member)
        bindings = [{"role": r, "members": sorted(m)} for r, m in sorted(roles.items())]
        return value_of(flags, {"bindings": bindings, "etag": "BwY=", "version": 1})
    return ""


def billing(project: CloudProject, words: list[str], flags: Flags, stdin: str, cwd: str) -> str:
    fields = {
        "name": f"projects/{project.id}/billingInfo",
        "projectId": project.id,
        "billingAccountName": "billingAccounts/01A2B3-C4D5E6-F7A8B9" if project.billing else "",
        "billingEnabled": project.billing,
    }
    return value_of(flags, fields)


def auth(project: CloudProject, words: list[str], flags: Flags, stdin: str, cwd: str) -> str:
    if words[1] == "print-access-token":
        return "ya29.standin-token\n"
    return f"{project.caller}\n"


def org_policies(
    project: CloudProject, words: list[str], flags: Flags, stdin: str, cwd: str
) -> str:
    constraint = words[2]
    name = f"projects/{project.number}/policies/{constraint}"
    return value_of(flags, {"name": name, "spec": project.policies.get(constraint, {})})


def add_ons(project: CloudProject, words: list[str], flags: Flags, stdin: str, cwd: str) -> str:
    project.need("gsuiteaddons.googleapis.com")
    if words[1] == "get-authorization":
        fields = {
            "name": f"projects/{project.number}/authorization",
            "serviceAccountEmail": project.addon_sa,
            "oauthClientId": project.addon_client_id,
        }
        return value_of(flags, fields)
    return generic(project, words, flags, stdin)


def pubsub(project: CloudProject, words: list[str], flags: Flags, stdin: str, cwd: str) -> str:
    project.need("pubsub.googleapis.com")
    kind, verb, name = words[1], words[2], words[3]
    if verb in ("create", "update") and kind == "subscriptions":
        for topic in (flags.get("topic"), flags.get("dead-letter-topic")):
            if topic and f"pubsub topics {topic}" not in project.state:
                raise Refused(f"NOT_FOUND: Resource not found (resource={topic}).")
    if verb == "add-iam-policy-binding":
        if f"pubsub {kind} {name}" not in project.state:
            raise Refused(f"NOT_FOUND: Resource not found (resource={name}).")
        project.admit(flags["member"])
        return ""
    if verb == "update":
        found = f"pubsub {kind} {name}"
        if found not in project.state:
            raise Refused(f"NOT_FOUND: Resource not found (resource={name}).")
        project.state[found] = json.dumps({**json.loads(project.state[found] or "{}"), **flags})
        return ""
    return generic(project, words, flags, stdin)


def secrets(project: CloudProject, words: list[str], flags: Flags, stdin: str, cwd: str) -> str:
    project.need("secretmanager.googleapis.com")
    if words[1] == "versions":
        name = words[3] if words[2] == "add" else flags.get("secret", "")
        versions = project.secrets.get(name)
        if words[2] == "add":
            if f"secrets {name}" not in project.state:
                raise Refused(f"NOT_FOUND: Secret [{name}] not found.")
            data = flags.get("data-file", "")
            value = stdin if data == "-" else Path(cwd, data).read_text()
            project.secrets.setdefault(name, []).append(value)
            return ""
        if not versions:
            raise Refused(
                f"NOT_FOUND: Secret Version [{name}/latest] not found or has no versions."
            )
        return versions[-1] if words[2] == "access" else ""
    if words[1] == "add-iam-policy-binding":
        project.secret_readers.setdefault(words[2], set()).add(flags["member"])
        return ""
    out = generic(project, words, flags, stdin)
    if words[1] == "create" and flags.get("data-file") == "-":
        project.secrets.setdefault(words[2], []).append(stdin)
    return out


def functions(project: CloudProject, words: list[str], flags: Flags, stdin: str, cwd: str) -> str:
    verb, name = words[1], words[2]
    project.need("cloudfunctions.googleapis.com")
    if verb == "deploy":
        return _deploy(project, name, flags, cwd)
    if name not in project.functions:
        where = f"projects/{project.id}/locations/{flags.get('region')}/functions/{name}"
        raise Refused(f"NOT_FOUND: Resource '{where}' was not found")
    if verb == "describe":
        url = f"https://{name.replace('_', '-')}-abc123-{flags.get('region', 'ew')}.a.run.app"
        return value_of(flags, {"serviceConfig": {"uri": url}, "name": name})
    if verb == "add-invoker-policy-binding":
        project.admit(flags["member"])
        project.invokers.setdefault(name, set()).add(flags["member"])
    return ""


def _deploy(project: CloudProject, name: str, flags: Flags, cwd: str) -> str:
    for api in (
        "run.googleapis.com",
        "cloudbuild.googleapis.com",
        "artifactregistry.googleapis.com",
    ):
        project.need(api)
    source = Path(cwd, flags.get("source", "."))
    if not (source / "main.py").exists():
        raise Refused(
            f"INVALID_ARGUMENT: File {source}/main.py that will be executed doesn't exist"
        )
    runtime = flags.get("service-account", project.compute_sa).split("@")[0]
    if f"iam service-accounts {runtime}" not in project.state:
        raise Refused(
            f"INVALID_ARGUMENT: Service account {flags.get('service-account')} does not exist."
        )
    build = flags.get("build-service-account", "").rpartition("/")[2] or project.compute_sa
    if not project.can_build(build):
        raise Refused(BUILD_FAILED)
    for mount in filter(None, flags.get("set-secrets", "").split(",")):
        secret = mount.partition("=")[2].partition(":")[0]
        readers = project.secret_readers.get(secret, set())
        if not project.secrets.get(secret):
            raise Refused(
                f"NOT_FOUND: Secret projects/{project.number}/secrets/{secret}/versions/latest"
                " was not found"
            )
        if f"serviceAccount:{flags.get('service-account')}" not in readers:
            raise Refused(
                f"FAILED_PRECONDITION: Permission denied on secret: projects/{project.number}"
                f"/secrets/{secret}/versions/latest for Revision service account"
                f" {flags.get('service-account')}. The service account used must be granted the"
                " 'Secret Manager Secret Accessor' role (roles/secretmanager.secretAccessor) at"
                " the secret, project or higher level."
            )
    project.functions[name] = [f"--{k}={v}" if v else f"--{k}" for k, v in flags.items()]
    if "allow-unauthenticated" in flags:  # gcloud binds allUsers after creating the function
        project.admit("allUsers")
        project.public.add(name)
    elif "no-allow-unauthenticated" in flags:
        project.invokers.get(name, set()).discard("allUsers")
    return ""


def run_services(
    project: CloudProject, words: list[str], flags: Flags, stdin: str, cwd: str
) -> str:
    project.need("run.googleapis.com")
    service = words[3]
    if service not in {n.replace("_", "-") for n in project.functions}:
        raise Refused(f"NOT_FOUND: Service [{service}] could not be found.")
    if "no-invoker-iam-check" in flags:
        project.public.add(service)
    return ""


def firebase(project: CloudProject, argv: list[str], cwd: str) -> str:
    """The firebase CLI's few commands the front needs (firebase-tools src/commands)."""
    words, _ = parse(argv)
    command = words[0]
    if command == "projects:list":
        ids = (
            [{"projectId": project.id, "projectNumber": project.number}] if project.firebase else []
        )
        return json.dumps({"status": "success", "result": ids})
    if command == "projects:addfirebase":
        if project.firebase:
            raise Refused("Failed to add Firebase to Google Cloud Platform project: already added")
        project.firebase = True
        project.enabled |= {"firebase.googleapis.com"}
        return ""
    if not project.firebase:
        raise Refused(
            f"Failed to get Firebase project {project.id}. Please make sure the project exists"
            " and your account has permission to access it."
        )
    project.need("firebasehosting.googleapis.com")
    if command == "hosting:sites:get":
        if words[1] not in project.sites:
            raise Refused(f"Failed to get site {words[1]}")
        return ""
    if command == "hosting:sites:create":
        project.sites.add(words[1])
        return ""
    if command == "deploy":
        config = json.loads(Path(cwd, "firebase.json").read_text())["hosting"]
        site = config.get("site")
        if site not in project.sites:
            raise Refused(
                "Unable to deploy to Hosting as there is no Hosting site. Use"
                " firebase hosting:sites:create to create a site."
            )
        deployed = {n.replace("_", "-") for n in project.functions}
        for rewrite in config.get("rewrites", []):
            service = rewrite["run"]["serviceId"]
            if service not in deployed:
                raise Refused(
                    f"Cloud Run service {service} does not exist in region"
                    f" {rewrite['run']['region']}"
                )
        project.hosting[site] = config
    return ""


HANDLERS: dict[tuple[str, ...], Any] = {
    ("services",): services,
    ("projects",): projects,
    ("billing",): billing,
    ("auth",): auth,
    ("org-policies",): org_policies,
    ("workspace-add-ons",): add_ons,
    ("pubsub",): pubsub,
    ("secrets",): secrets,
    ("functions",): functions,
    ("run", "services"): run_services,
}
