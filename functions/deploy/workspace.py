"""The Google Workspace side of the plan: the add-on's deployment, the sent-mail watch (Gmail
publishes to a topic, Pub/Sub pushes to /gmail/push, Scheduler renews daily) and a custom
domain's front (Firebase Hosting)."""

from __future__ import annotations

import json
import shlex
from urllib.parse import urlsplit

from .declaration import DeployConfig
from .front import firebase_json
from .resources import ADDON_DEPLOYMENT, GMAIL_PUSH_AGENT, GMAIL_RENEW_SCHEDULE, RETRY
from .shell import heredoc


def addon_commands(config: DeployConfig, p: str) -> list[str]:
    """The Workspace add-on's HTTP deployment from the generated descriptor, installed."""
    from addon.deployment import build_deployment

    descriptor = build_deployment(
        config.base("addon"),
        link_prefixes=(f"{config.base('dashboard')}/", f"{config.base('slack')}/"),
    )
    d = f"{p} >/dev/null 2>&1 || "
    return [
        "# The Workspace add-on: its HTTP deployment from the generated descriptor, installed"
        " for you (developer mode; publish it to your domain with the Marketplace SDK)",
        "ADDON_DESCRIPTOR=$(mktemp)",
        *heredoc("$ADDON_DESCRIPTOR", json.dumps(descriptor, indent=2), "MAILBEACON_ADDON"),
        f"gcloud workspace-add-ons deployments describe {ADDON_DEPLOYMENT} {d}"
        f"gcloud workspace-add-ons deployments create {ADDON_DEPLOYMENT} "
        f'--deployment-file="$ADDON_DESCRIPTOR" {p}',
        f"gcloud workspace-add-ons deployments replace {ADDON_DEPLOYMENT} "
        f'--deployment-file="$ADDON_DESCRIPTOR" {p}',
        f"gcloud workspace-add-ons deployments install {ADDON_DEPLOYMENT} {p}",
    ]


def front_commands(config: DeployConfig) -> list[str]:
    """A custom domain's front (Firebase Hosting), when one is declared: Firebase added to the
    project, the Hosting site created (`firebase deploy --non-interactive` refuses a project
    without one), then the rewrites deployed (after the functions: Hosting refuses a rewrite to
    a Cloud Run service that does not exist). firebase-tools has no custom-domain command: the
    domain is connected in the console."""
    if not config.public_url:
        return []
    project, site = shlex.quote(config.project), shlex.quote(config.hosting_site)
    has_firebase = (
        'import json,sys; ids={p["projectId"] for p in json.load(sys.stdin).get("result") or []};'
        " sys.exit(0 if sys.argv[1] in ids else 1)"
    )
    return [
        f"# The custom domain's front: Firebase Hosting routes each path of"
        f" {config.public_url} to the function that serves it",
        "command -v firebase >/dev/null || { echo 'mailbeacon: install firebase-tools"
        " (npm install -g firebase-tools) and deploy again' >&2; exit 1; }",
        f"firebase projects:list --json | python3 -c {shlex.quote(has_firebase)} {project} || "
        f"firebase projects:addfirebase {project}",
        f"firebase hosting:sites:get {site} --project={project} >/dev/null 2>&1 || "
        f"firebase hosting:sites:create {site} --project={project} --non-interactive",
        'FRONT_DIR=$(mktemp -d) && mkdir "$FRONT_DIR/public"',
        *heredoc(
            "$FRONT_DIR/firebase.json",
            json.dumps(firebase_json(config), indent=2),
            "MAILBEACON_FRONT",
        ),
        f'(cd "$FRONT_DIR" && firebase deploy --only hosting --project={project} '
        "--non-interactive)",
        f"echo 'Then connect {urlsplit(config.public_url).hostname} to the site {site} in the"
        " Firebase console (Hosting, Add custom domain).'",
    ]


def gmail_watch_commands(config: DeployConfig, sa: str, p: str) -> list[str]:
    """The sent-mail watch's cloud side, when MAILBEACON_GMAIL_WATCH_TOPIC is declared (and so
    the delegated key is mounted: the secret step stops the plan when it has no version): the
    topic Gmail publishes to, a push subscription into /gmail/push signed as the functions'
    account, and a daily Scheduler call to /gmail/renew (Gmail stops a watch after 7 days)."""
    topic = config.gmail_watch
    if not topic or not config.gmail:
        return []
    q = shlex.quote
    push, renew = (
        f"{config.base('dashboard')}/gmail/push",
        f"{config.base('dashboard')}/gmail/renew",
    )
    region = config.region
    job = (
        f"--location={region} --schedule={q(GMAIL_RENEW_SCHEDULE)} --time-zone=Etc/UTC "
        f"--uri={q(renew)} --http-method=POST --oidc-service-account-email={sa} "
        f"--oidc-token-audience={q(renew)}"
    )
    return [
        "# The sent-mail watch: Gmail publishes to the topic, Pub/Sub pushes to /gmail/push",
        f"gcloud pubsub topics describe {q(topic)} {p} >/dev/null 2>&1 || "
        f"gcloud pubsub topics create {q(topic)} {p}",
        f"gcloud pubsub topics add-iam-policy-binding {q(topic)} --member={GMAIL_PUSH_AGENT} "
        f"--role=roles/pubsub.publisher {p} >/dev/null",
        f"gcloud pubsub subscriptions describe mailbeacon-gmail-push {p} >/dev/null 2>&1 || "
        f"gcloud pubsub subscriptions create mailbeacon-gmail-push --topic={q(topic)} {p}",
        f"gcloud pubsub subscriptions update mailbeacon-gmail-push --push-endpoint={q(push)} "
        f"--push-auth-service-account={sa} --push-auth-token-audience={q(push)} "
        f"--ack-deadline={RETRY['ack_deadline']} --min-retry-delay={RETRY['min']} "
        f"--max-retry-delay={RETRY['max']} {p}",
        "# ...and renewed daily by Cloud Scheduler",
        f"gcloud scheduler jobs describe mailbeacon-gmail-renew --location={region} {p} "
        ">/dev/null 2>&1 || "
        f"gcloud scheduler jobs create http mailbeacon-gmail-renew {job} {p}",
        f"gcloud scheduler jobs update http mailbeacon-gmail-renew {job} {p} >/dev/null",
    ]
