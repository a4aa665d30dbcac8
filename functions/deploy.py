"""`mailbeacon deploy`: put Mailbeacon into a Google Cloud project, as one ordered gcloud script.

The plan is a bash script of plain gcloud commands; ``--dry-run`` prints it and a real run
executes the very same text, so what a reviewer reads is what runs. Every creating step is
guarded (``describe || create``), so running it again updates the functions and keeps the data,
the topics and, above all, the token secret (a new secret would break every sent pixel).

Shape: Firestore (native) with our indexes and a TTL on ``events.expires_at``; Pub/Sub topics
for hits, notifications and digests, each consumed by a push subscription to its function with
a retry policy and a dead-letter topic; the token secret in Secret Manager; every entry point of
functions/main.py as a 2nd gen function built from a source folder assembled here.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from mailbeacon.errors import InvalidInput
from mailbeacon.model import DEFAULT_RETENTION

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("mailbeacon", "functions", "addon", "notifier")
SECRET = "mailbeacon-secret"
VAPID_SECRET = "mailbeacon-vapid"
"""Web Push's VAPID private key (RFC 8292): browsers' subscriptions are bound to its public key,
so like the token secret it is made once and never replaced."""
ACCOUNT = "mailbeacon"
RUNTIME = "python311"
APIS = (
    "cloudfunctions.googleapis.com",
    "run.googleapis.com",
    "cloudbuild.googleapis.com",
    "artifactregistry.googleapis.com",
    "pubsub.googleapis.com",
    "firestore.googleapis.com",
    "secretmanager.googleapis.com",
    "cloudscheduler.googleapis.com",
)


@dataclass(frozen=True)
class Function:
    """How one entry point runs. Concurrency needs a whole CPU; THREADS matches it (Python)."""

    name: str
    public: bool
    memory: str = "512Mi"
    concurrency: int = 16
    min_instances: int = 0
    max_instances: int = 20
    timeout: str = "60s"


FUNCTIONS = (
    # The pixel answers recipients: kept warm, many requests per instance, a tight timeout.
    Function(
        "pixel",
        public=True,
        memory="256Mi",
        concurrency=40,
        min_instances=1,
        max_instances=100,
        timeout="10s",
    ),
    Function(
        "click", public=True, memory="256Mi", concurrency=40, max_instances=100, timeout="10s"
    ),
    # The consumer batches a message's hits per instance (one context write a second), so
    # high concurrency lowers Firestore writes as well as instances.
    Function("process_hit", public=False, concurrency=40, max_instances=20),
    Function("notify", public=False, concurrency=8),
    Function("digest", public=False, concurrency=1, max_instances=2, timeout="300s"),
    Function("addon", public=True),  # verifies Google-signed ID tokens itself
    Function("chat", public=True),  # verifies Google-signed ID tokens itself
    Function("slack", public=True),  # verifies Slack's request signatures itself
    Function("dashboard", public=True),
)
SUBSCRIBERS = {"hits": "process_hit", "notify": "notify", "digest": "digest"}

_PROJECT = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_REGION = re.compile(r"^[a-z]+(?:-[a-z]+)+[0-9]+$")


def check(project: str, region: str) -> None:
    if not _PROJECT.match(project):
        raise InvalidInput(f"not a Google Cloud project id: {project!r}")
    if not _REGION.match(region):
        raise InvalidInput(f"not a Google Cloud region such as europe-west1: {region!r}")


def requirements(pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    """What the functions need at run time: the core dependencies plus the cloud and notify
    extras (never the dev extra)."""
    project = tomllib.loads(pyproject.read_text())["project"]
    extras = project.get("optional-dependencies", {})
    return [*project["dependencies"], *extras.get("cloud", []), *extras.get("notify", [])]


def assemble_source(target: Path) -> Path:
    """The folder Cloud Functions builds from: main.py, requirements.txt and our packages."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "tests")
    for package in PACKAGES:
        if (ROOT / package).is_dir():
            shutil.copytree(ROOT / package, target / package, ignore=ignore)
    shutil.copy2(ROOT / "functions" / "main.py", target / "main.py")
    (target / "requirements.txt").write_text("\n".join(requirements()) + "\n")
    return target


def _index_commands(p: str, indexes: dict) -> list[str]:
    lines = []
    for index in indexes.get("indexes", []):
        fields = " ".join(
            f"--field-config=field-path={f['fieldPath']},order={f['order'].lower()}"
            for f in index["fields"]
        )
        lines.append(
            f"gcloud firestore indexes composite create {p} --async "
            f"--collection-group={index['collectionGroup']} "
            f"--query-scope={index['queryScope'].lower()} {fields} "
            "|| true  # an existing index is fine"
        )
    for override in indexes.get("fieldOverrides", []):
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


def _env_list(pairs: list[str]) -> str:
    """gcloud's --set-env-vars value: comma-separated, or with gcloud's alternate delimiter
    syntax (``^DELIM^A=1DELIMB=2``, see `gcloud topic escaping`) when a value holds a comma.
    The result still needs shell quoting: every value in the plan is quoted, since a URL may
    carry ``$(...)``, quotes or backticks."""
    joined = ",".join(pairs)
    if not any("," in pair for pair in pairs):
        return joined
    delimiter = next((d for d in "@|;~#!%" if not any(d in pair for pair in pairs)), None)
    if delimiter is None:
        raise InvalidInput("the public URL holds too many punctuation characters for gcloud")
    return f"^{delimiter}^" + delimiter.join(pairs)


def plan(
    project: str,
    region: str,
    *,
    source: Path,
    public_url: str | None = None,
    retention_days: int = DEFAULT_RETENTION.days,
    digest_hour: int = 8,
) -> str:
    """The deployment as a bash script, in order."""
    check(project, region)
    if retention_days < 1:
        raise InvalidInput(f"retention must be at least one day, got {retention_days}")
    if not 0 <= digest_hour <= 23:
        raise InvalidInput(f"MAILBEACON_DIGEST_HOUR must be 0-23, got {digest_hour}")
    p = f"--project={project}"
    q = shlex.quote
    sa = f"{ACCOUNT}@{project}.iam.gserviceaccount.com"
    base = f"https://{region}-{project}.cloudfunctions.net"
    public = (public_url or f"{base}/pixel").rstrip("/")
    click = f"{base}/click" if public_url is None else public
    indexes = json.loads((ROOT / "deploy" / "firestore.indexes.json").read_text())
    env_vars = [
        "MAILBEACON_STORE=firestore",
        "MAILBEACON_BUS=pubsub",
        f"GOOGLE_CLOUD_PROJECT={project}",
        f"MAILBEACON_PUBLIC_URL={public}",
        f"MAILBEACON_CLICK_URL={click}",
        f"MAILBEACON_RETENTION_DAYS={retention_days}",
        "MAILBEACON_TRUST_PROXY=1",
    ]
    lines = [
        "#!/usr/bin/env bash",
        f"# Mailbeacon into project {project}, region {region}. Source: {source}",
        "set -euo pipefail",
        f"gcloud services enable {' '.join(APIS)} {p}",
        f"PROJECT_NUMBER=$(gcloud projects describe {project} --format='value(projectNumber)')",
        'PUBSUB_AGENT="serviceAccount:service-${PROJECT_NUMBER}@gcp-sa-pubsub.iam.gserviceaccount.com"',
        "# Firestore (native mode), its indexes, and the TTL that enforces retention",
        f"gcloud firestore databases describe --database='(default)' {p} >/dev/null 2>&1 || "
        f"gcloud firestore databases create --database='(default)' --location={region} "
        f"--type=firestore-native {p}",
        *_index_commands(p, indexes),
        "# Pub/Sub topics, with a dead-letter topic for each consumer",
    ]
    for topic in ("hits", "notify", "digest"):
        for name in (f"mailbeacon-{topic}", f"mailbeacon-{topic}-dead"):
            lines.append(
                f"gcloud pubsub topics describe {name} {p} >/dev/null 2>&1 || "
                f"gcloud pubsub topics create {name} {p}"
            )
    lines += [
        "# The token secret: made once, never replaced by a later deploy",
        f"gcloud secrets describe {SECRET} {p} >/dev/null 2>&1 || "
        'python3 -c \'import secrets; print("1:" + secrets.token_hex(32), end="")\' | '
        f"gcloud secrets create {SECRET} --replication-policy=automatic --data-file=- {p}",
        "# The Web Push (VAPID) key: a P-256 private key, made once, never replaced",
        f"gcloud secrets describe {VAPID_SECRET} {p} >/dev/null 2>&1 || "
        "openssl ecparam -name prime256v1 -genkey -noout | openssl pkcs8 -topk8 -nocrypt | "
        f"gcloud secrets create {VAPID_SECRET} --replication-policy=automatic --data-file=- {p}",
        "# The functions' own service account, with only what they use",
        f"gcloud iam service-accounts describe {sa} {p} >/dev/null 2>&1 || "
        f"gcloud iam service-accounts create {ACCOUNT} --display-name=Mailbeacon {p}",
    ]
    for role in ("roles/datastore.user", "roles/pubsub.publisher"):
        lines.append(
            f"gcloud projects add-iam-policy-binding {project} --member=serviceAccount:{sa} "
            f"--role={role} --condition=None --quiet >/dev/null"
        )
    for secret in (SECRET, VAPID_SECRET):
        lines.append(
            f"gcloud secrets add-iam-policy-binding {secret} --member=serviceAccount:{sa} "
            f"--role=roles/secretmanager.secretAccessor {p} >/dev/null"
        )
    lines.append("# Every entry point as a 2nd gen function")
    for fn in FUNCTIONS:
        lines.append(
            f"gcloud functions deploy {fn.name} --gen2 --runtime={RUNTIME} --region={region} "
            f"--source={q(str(source))} --entry-point={fn.name} --trigger-http "
            f"{'--allow-unauthenticated' if fn.public else '--no-allow-unauthenticated'} "
            f"--service-account={sa} --memory={fn.memory} --cpu=1 "
            f"--concurrency={fn.concurrency} --min-instances={fn.min_instances} "
            f"--max-instances={fn.max_instances} --timeout={fn.timeout} "
            f"--set-env-vars={q(_env_list([*env_vars, f'THREADS={fn.concurrency}']))} "
            f"--set-secrets=MAILBEACON_SECRET={SECRET}:latest,"
            f"MAILBEACON_VAPID_PRIVATE_KEY={VAPID_SECRET}:latest {p} --quiet"
        )
    lines.append("# Push subscriptions: retried with backoff, dead-lettered after 10 attempts")
    for topic, fn_name in SUBSCRIBERS.items():
        sub, dead = f"mailbeacon-{topic}-{fn_name.replace('_', '-')}", f"mailbeacon-{topic}-dead"
        url = (
            f"$(gcloud functions describe {fn_name} --gen2 --region={region} {p} "
            "--format='value(serviceConfig.uri)')"
        )
        lines += [
            f"gcloud functions add-invoker-policy-binding {fn_name} --region={region} "
            f"--member=serviceAccount:{sa} {p} >/dev/null",
            f"gcloud pubsub subscriptions describe {sub} {p} >/dev/null 2>&1 || "
            f"gcloud pubsub subscriptions create {sub} --topic=mailbeacon-{topic} {p}",
            f'gcloud pubsub subscriptions update {sub} --push-endpoint="{url}" '
            f"--push-auth-service-account={sa} --ack-deadline=60 "
            "--min-retry-delay=10s --max-retry-delay=600s "
            f"--dead-letter-topic={dead} --max-delivery-attempts=10 {p}",
            f'gcloud pubsub topics add-iam-policy-binding {dead} --member="$PUBSUB_AGENT" '
            f"--role=roles/pubsub.publisher {p} >/dev/null",
            f'gcloud pubsub subscriptions add-iam-policy-binding {sub} --member="$PUBSUB_AGENT" '
            f"--role=roles/pubsub.subscriber {p} >/dev/null",
        ]
    lines += [
        "# The daily digest (the notifier fans it out per user, once a day per user)",
        f"gcloud scheduler jobs describe mailbeacon-digest --location={region} {p} "
        ">/dev/null 2>&1 || "
        f"gcloud scheduler jobs create pubsub mailbeacon-digest --location={region} "
        f"--schedule='0 {digest_hour} * * *' --time-zone=Etc/UTC --topic=mailbeacon-digest "
        "--message-body='{}' "
        f"{p}",
        f"echo {q(f'Mailbeacon is deployed. Pixel and links: {public}')}",
    ]
    return "\n".join(lines) + "\n"


def deploy(
    project: str,
    region: str,
    *,
    source_dir: Path,
    dry_run: bool,
    public_url: str | None = None,
    retention_days: int = DEFAULT_RETENTION.days,
    digest_hour: int = 8,
) -> int:
    """Assemble the source folder, then print the plan (dry run) or run it."""
    script = plan(
        project,
        region,
        source=source_dir,
        public_url=public_url,
        retention_days=retention_days,
        digest_hour=digest_hour,
    )
    assemble_source(source_dir)
    if dry_run:
        sys.stdout.write(script)
        return 0
    if shutil.which("gcloud") is None:
        raise InvalidInput("gcloud is not installed (https://cloud.google.com/sdk)")
    return subprocess.run(["bash", "-c", script], check=False).returncode
