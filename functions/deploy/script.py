"""The plan as a bash script: every gcloud (and firebase) command, in order, from one
DeployConfig. ``--dry-run`` prints this text and a real run executes the very same text.

Every creating step is guarded (``describe || create``) and followed by an update where the
resource has settings, so running it again converges: the data, the topics and, above all, the
token secret are kept (a new token secret would break every sent pixel).
"""

from __future__ import annotations

import importlib.resources
import json
import shlex
from pathlib import Path

from mailbeacon.bus import DIGEST

from .declaration import DeployConfig
from .resources import (
    ACCOUNT,
    APIS,
    FUNCTIONS,
    RETRY,
    RUNTIME,
    SUBSCRIBERS,
    TOPIC_IDS,
    Secret,
    service_account,
)
from .shell import env_flag, secrets_flag
from .workspace import addon_commands, front_commands, gmail_watch_commands


def plan(config: DeployConfig, *, source: Path) -> str:
    """The deployment as a bash script, in order."""
    p = f"--project={config.project}"
    sa = service_account(config.project)
    lines = [
        *_preamble(config, source, p),
        *_data(config, p),
        *_service_account(config.project, sa, p),
    ]
    for secret in config.secrets():
        lines += _secret_commands(secret, p, sa)
    lines += [
        *_functions(config, source, sa, p),
        *_subscriptions(config.region, sa, p),
        *_digest(config, p),
        *gmail_watch_commands(config, sa, p),
        *addon_commands(config, p),
        *front_commands(config),
        *_told(config),
    ]
    return "\n".join(lines) + "\n"


def _preamble(config: DeployConfig, source: Path, p: str) -> list[str]:
    project = config.project
    return [
        "#!/usr/bin/env bash",
        f"# Mailbeacon into project {project}, region {config.region}. Source: {source}",
        "set -euo pipefail",
        f"gcloud services enable {' '.join(APIS)} {p}",
        f"PROJECT_NUMBER=$(gcloud projects describe {project} --format='value(projectNumber)')",
        'PUBSUB_AGENT="serviceAccount:service-${PROJECT_NUMBER}@gcp-sa-pubsub.iam.gserviceaccount.com"',
    ]


def _data(config: DeployConfig, p: str) -> list[str]:
    """Firestore with its indexes and TTL, and the bus topics with their dead-letter topics."""
    lines = [
        "# Firestore (native mode), its indexes, and the TTL that enforces retention",
        f"gcloud firestore databases describe --database='(default)' {p} >/dev/null 2>&1 || "
        f"gcloud firestore databases create --database='(default)' --location={config.region} "
        f"--type=firestore-native {p}",
        *_index_commands(p, indexes()),
        "# Pub/Sub topics, with a dead-letter topic for each consumer",
    ]
    for topic in SUBSCRIBERS:
        for name in (TOPIC_IDS[topic], f"{TOPIC_IDS[topic]}-dead"):
            lines.append(
                f"gcloud pubsub topics describe {name} {p} >/dev/null 2>&1 || "
                f"gcloud pubsub topics create {name} {p}"
            )
    return lines


def _service_account(project: str, sa: str, p: str) -> list[str]:
    lines = [
        "# The functions' own service account, with only what they use",
        f"gcloud iam service-accounts describe {sa} {p} >/dev/null 2>&1 || "
        f"gcloud iam service-accounts create {ACCOUNT} --display-name=Mailbeacon {p}",
    ]
    for role in ("roles/datastore.user", "roles/pubsub.publisher"):
        lines.append(
            f"gcloud projects add-iam-policy-binding {project} --member=serviceAccount:{sa} "
            f"--role={role} --condition=None --quiet >/dev/null"
        )
    return lines


def _functions(config: DeployConfig, source: Path, sa: str, p: str) -> list[str]:
    """The add-on's identity (the environment names it), then every entry point as a 2nd gen
    function, each with the whole declared environment."""
    lines = [
        "# The add-on's identity: the service agent that signs Google's requests, and the OAuth"
        " client the user's ID token is issued to",
        f"ADDON_SA=$(gcloud workspace-add-ons get-authorization {p} "
        "--format='value(serviceAccountEmail)')",
        f"ADDON_CLIENT_ID=$(gcloud workspace-add-ons get-authorization {p} "
        "--format='value(oauthClientId)')",
        "# Every entry point as a 2nd gen function, each with the whole declared environment",
    ]
    env, secrets = config.environment(), secrets_flag(config.secrets())
    for fn in FUNCTIONS:
        lines.append(
            f"gcloud functions deploy {fn.name} --gen2 --runtime={RUNTIME} "
            f"--region={config.region} "
            f"--source={shlex.quote(str(source))} --entry-point={fn.name} --trigger-http "
            f"{'--allow-unauthenticated' if fn.public else '--no-allow-unauthenticated'} "
            f"--service-account={sa} --memory={fn.memory} --cpu=1 "
            f"--concurrency={fn.concurrency} --min-instances={fn.min_instances} "
            f"--max-instances={fn.max_instances} --timeout={fn.timeout} "
            f"{env_flag(env, {'THREADS': str(fn.concurrency)})} {secrets} {p} --quiet"
        )
    return lines


def _subscriptions(region: str, sa: str, p: str) -> list[str]:
    """Each topic's push subscription into its function, retried with backoff and
    dead-lettered."""
    lines = [
        f"# Push subscriptions: retried with backoff, dead-lettered after {RETRY['attempts']}"
        " attempts"
    ]
    for topic, fn_name in SUBSCRIBERS.items():
        sub = f"{TOPIC_IDS[topic]}-{fn_name.replace('_', '-')}"
        dead = f"{TOPIC_IDS[topic]}-dead"
        url = (
            f"$(gcloud functions describe {fn_name} --gen2 --region={region} {p} "
            "--format='value(serviceConfig.uri)')"
        )
        lines += [
            f"gcloud functions add-invoker-policy-binding {fn_name} --region={region} "
            f"--member=serviceAccount:{sa} {p} >/dev/null",
            f"gcloud pubsub subscriptions describe {sub} {p} >/dev/null 2>&1 || "
            f"gcloud pubsub subscriptions create {sub} --topic={TOPIC_IDS[topic]} {p}",
            f'gcloud pubsub subscriptions update {sub} --push-endpoint="{url}" '
            f"--push-auth-service-account={sa} --ack-deadline={RETRY['ack_deadline']} "
            f"--min-retry-delay={RETRY['min']} --max-retry-delay={RETRY['max']} "
            f"--dead-letter-topic={dead} --max-delivery-attempts={RETRY['attempts']} {p}",
            f'gcloud pubsub topics add-iam-policy-binding {dead} --member="$PUBSUB_AGENT" '
            f"--role=roles/pubsub.publisher {p} >/dev/null",
            f'gcloud pubsub subscriptions add-iam-policy-binding {sub} --member="$PUBSUB_AGENT" '
            f"--role=roles/pubsub.subscriber {p} >/dev/null",
        ]
    return lines


REMINDER_JOB = '{"job": "reminders"}'
"""What the reminder job publishes on the digest topic (functions/consumers.py)."""


def _digest(config: DeployConfig, p: str) -> list[str]:
    region = config.region
    schedule = (
        f"--location={region} --schedule={shlex.quote(f'0 {config.digest_hour} * * *')} "
        f"--time-zone=Etc/UTC --topic={TOPIC_IDS[DIGEST]} --message-body='{{}}'"
    )
    every5 = (
        f"--location={region} --schedule={shlex.quote('*/5 * * * *')} "
        f"--time-zone=Etc/UTC --topic={TOPIC_IDS[DIGEST]} "
        f"--message-body={shlex.quote(REMINDER_JOB)}"
    )
    return [
        "# The daily digest (the notifier fans it out per user, once a day per user)",
        f"gcloud scheduler jobs describe mailbeacon-digest --location={region} {p} "
        ">/dev/null 2>&1 || "
        f"gcloud scheduler jobs create pubsub mailbeacon-digest {schedule} {p}",
        f"gcloud scheduler jobs update pubsub mailbeacon-digest {schedule} {p} >/dev/null",
        "# Follow-up reminders that fell due (every five minutes, each due time once)",
        f"gcloud scheduler jobs describe mailbeacon-reminders --location={region} {p} "
        ">/dev/null 2>&1 || "
        f"gcloud scheduler jobs create pubsub mailbeacon-reminders {every5} {p}",
        f"gcloud scheduler jobs update pubsub mailbeacon-reminders {every5} {p} >/dev/null",
    ]


def _told(config: DeployConfig) -> list[str]:
    """What the deployer registers with Google and Slack, printed at the end."""
    urls = config.urls()
    told = (
        ("Mailbeacon is deployed.", ""),
        ("Chat app, HTTP endpoint URL:", urls["chat endpoint"]),
        ("Slack app, redirect URL:", urls["slack redirect"]),
        ("Slack app, event request URL:", urls["slack events"]),
        ("Slack app, interactivity request URL:", urls["slack interactivity"]),
        ("Dashboard sign-in, authorised redirect URI:", urls["dashboard sign-in redirect"]),
    )
    return [f"echo {shlex.quote(f'{label} {url}'.strip())}" for label, url in told]


def indexes() -> dict:
    """The Firestore indexes, shipped inside the package (so an installed wheel deploys)."""
    text = (
        importlib.resources.files("functions")
        .joinpath("cloud_files/firestore.indexes.json")
        .read_text()
    )
    return json.loads(text)


def _index_commands(p: str, spec: dict) -> list[str]:
    lines = []
    for index in spec.get("indexes", []):
        fields = " ".join(
            f"--field-config=field-path={f['fieldPath']},order={f['order'].lower()}"
            for f in index["fields"]
        )
        lines.append(
            f"gcloud firestore indexes composite create {p} --async "
            f"--collection-group={index['collectionGroup']} "
            f"--query-scope={index['queryScope'].lower()} {fields} "
            ">/dev/null 2>&1 || true  # an existing index is fine"
        )
    for override in spec.get("fieldOverrides", []):
        group, path = override["collectionGroup"], override["fieldPath"]
        if not override.get("indexes"):
            lines.append(
                f"gcloud firestore indexes fields update {path} {p} --collection-group={group} "
                "--disable-indexes --quiet"
            )
        if override.get("ttl"):
            lines.append(
                f"gcloud firestore fields ttls update {path} {p} --collection-group={group} "
                "--enable-ttl --async --quiet"
            )
    return lines


def _secret_commands(secret: Secret, p: str, sa: str) -> list[str]:
    name, var = secret.name, secret.env
    if secret.generated:
        lines = [
            f"# {secret.why} made once, never replaced by a later deploy",
            f"gcloud secrets describe {name} {p} >/dev/null 2>&1 || {secret.make} | "
            f"gcloud secrets create {name} --replication-policy=automatic --data-file=- {p}",
        ]
    else:
        lines = [
            f"# {var}: from this shell's environment into Secret Manager (the plan holds no value)",
            f"gcloud secrets describe {name} {p} >/dev/null 2>&1 || "
            f"gcloud secrets create {name} --replication-policy=automatic {p}",
            f'if [ -n "${{{var}:-}}" ] && [ "$(gcloud secrets versions access latest '
            f'--secret={name} {p} 2>/dev/null)" != "${{{var}}}" ]; then '
            f'printf %s "${{{var}}}" | gcloud secrets versions add {name} --data-file=- {p}; fi',
            f"gcloud secrets versions describe latest --secret={name} {p} >/dev/null 2>&1 || "
            f"{{ echo 'mailbeacon: set {var} and deploy again' >&2; exit 1; }}",
        ]
    lines.append(
        f"gcloud secrets add-iam-policy-binding {name} --member=serviceAccount:{sa} "
        f"--role=roles/secretmanager.secretAccessor {p} >/dev/null"
    )
    return lines
