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

from mailbeacon.bus import DIGEST, HITS
from mailbeacon.bus.fallback import SWEEP_PAYLOAD
from mailbeacon.reminders import SCAN_PAYLOAD

from .accounts import account_commands, secret_commands
from .declaration import DeployConfig
from .resources import (
    DEAD_IDS,
    KEPT_IDS,
    REMINDER_SCHEDULE,
    SUBSCRIBERS,
    SWEEP_SCHEDULE,
    TOPIC_IDS,
    service_account,
)
from .runtime import function_commands, subscription_commands
from .workspace import addon_commands, front_commands, gmail_watch_commands


def plan(config: DeployConfig, *, source: Path) -> str:
    """The deployment as a bash script, in order."""
    p = f"--project={config.project}"
    sa = service_account(config.project)
    lines = [
        *_preamble(config, source, p),
        *_data(config, p),
        *account_commands(config, sa, p),
    ]
    for secret in config.secrets():
        lines += secret_commands(secret, p, sa)
    lines += [
        *function_commands(config, source, sa, p),
        *subscription_commands(config.region, sa, p),
        *_schedules(config, p),
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
        f"gcloud services enable {' '.join(config.apis())} {p}",
        f"PROJECT_NUMBER=$(gcloud projects describe {project} --format='value(projectNumber)')",
        'PUBSUB_AGENT="serviceAccount:service-${PROJECT_NUMBER}@gcp-sa-pubsub.iam.gserviceaccount.com"',
    ]


def _data(config: DeployConfig, p: str) -> list[str]:
    """Firestore with its indexes and TTL; the bus topics, each with a dead-letter topic whose
    own subscription keeps what it receives (a topic without one discards it)."""
    lines = [
        "# Firestore (native mode), its indexes, and the TTL that enforces retention",
        f"gcloud firestore databases describe --database='(default)' {p} >/dev/null 2>&1 || "
        f"gcloud firestore databases create --database='(default)' --location={config.region} "
        f"--type=firestore-native {p}",
        *_index_commands(p, indexes()),
        "# Pub/Sub topics, with a dead-letter topic for each consumer, kept 7 days for"
        " `mailbeacon deadletters`",
    ]
    for topic in SUBSCRIBERS:
        for name in (TOPIC_IDS[topic], DEAD_IDS[topic]):
            lines.append(
                f"gcloud pubsub topics describe {name} {p} >/dev/null 2>&1 || "
                f"gcloud pubsub topics create {name} {p}"
            )
        kept = KEPT_IDS[topic]
        lines.append(
            f"gcloud pubsub subscriptions describe {kept} {p} >/dev/null 2>&1 || "
            f"gcloud pubsub subscriptions create {kept} --topic={DEAD_IDS[topic]} "
            f"--message-retention-duration=7d --expiration-period=never {p}"
        )
    return lines


def _schedules(config: DeployConfig, p: str) -> list[str]:
    """Cloud Scheduler: the daily digest, follow-up reminders that fell due (every five
    minutes, each due time once), and the sweep of hits the edge kept in Firestore while
    Pub/Sub refused them (each publishes to a topic; its consumer does the work)."""
    lines = [
        "# The daily digest (the notifier fans it out per user, once a day per user), due"
        " follow-up reminders, and the sweep of hits kept while Pub/Sub was unavailable"
    ]
    jobs = (
        ("mailbeacon-digest", f"0 {config.digest_hour} * * *", DIGEST, "{}"),
        ("mailbeacon-sweep", SWEEP_SCHEDULE, HITS, json.dumps(SWEEP_PAYLOAD)),
        ("mailbeacon-reminders", REMINDER_SCHEDULE, DIGEST, json.dumps(SCAN_PAYLOAD)),
    )
    for job, cron, topic, body in jobs:
        flags = (
            f"--location={config.region} --schedule={shlex.quote(cron)} --time-zone=Etc/UTC "
            f"--topic={TOPIC_IDS[topic]} --message-body={shlex.quote(body)}"
        )
        lines += [
            f"gcloud scheduler jobs describe {job} --location={config.region} {p} "
            ">/dev/null 2>&1 || "
            f"gcloud scheduler jobs create pubsub {job} {flags} {p}",
            f"gcloud scheduler jobs update pubsub {job} {flags} {p} >/dev/null",
        ]
    return lines


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
