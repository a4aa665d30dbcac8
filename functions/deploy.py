"""`mailbeacon deploy`: put Mailbeacon into a Google Cloud project, as one ordered gcloud script.

The plan is a bash script of plain gcloud commands; ``--dry-run`` prints it and a real run
executes the very same text, so what a reviewer reads is what runs. It is a pure function of
one declared configuration (:class:`DeployConfig`): the project, the region, an optional custom
domain and the non-secret settings read from the deployer's environment. Every function gets
the full environment from that one place (``--set-env-vars`` replaces what was there, so a
redeploy reproduces the deployment instead of keeping hand edits), and every credential is a
Secret Manager secret mounted with ``--set-secrets``; the plan never contains a secret value.

Every creating step is guarded (``describe || create``) and followed by an update where the
resource has settings, so running it again converges: the data, the topics and, above all, the
token secret are kept (a new token secret would break every sent pixel).

Every URL the product emits is built from the base of the function that serves its path
(functions/endpoints.py): ``https://REGION-PROJECT.cloudfunctions.net/<function>``, or the
custom domain whose front (functions/front.py) routes each path to its function.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata, resources
from pathlib import Path
from urllib.parse import urlsplit

from mailbeacon.bus import DEFAULT_TOPIC_PREFIX, DIGEST, HITS, NOTIFY, topic_ids
from mailbeacon.errors import InvalidInput
from mailbeacon.model import DEFAULT_RETENTION

from .endpoints import MOUNTS

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("mailbeacon", "functions", "addon", "notifier")
LEFT_OUT = (
    # What only the command line, the deployer or the tests use: not in the functions' source.
    "functions/cli.py",
    "functions/cli",
    "functions/deploy.py",
    "functions/front.py",
    "functions/rehearsal",
    "functions/standins",
    "functions/server.py",
    "functions/cloud_files",
    "mailbeacon/evaluation",
    "mailbeacon/catalogs/command.py",
)
ACCOUNT = "mailbeacon"
RUNTIME = "python311"
ADDON_DEPLOYMENT = "mailbeacon"
CHAT_ISSUER = "chat@system.gserviceaccount.com"
APIS = (
    "cloudfunctions.googleapis.com",
    "run.googleapis.com",
    "cloudbuild.googleapis.com",
    "artifactregistry.googleapis.com",
    "pubsub.googleapis.com",
    "firestore.googleapis.com",
    "secretmanager.googleapis.com",
    "cloudscheduler.googleapis.com",
    "gsuiteaddons.googleapis.com",
    "chat.googleapis.com",
)


class Ref(str):
    """A value the script learns while it runs (``$PROJECT_NUMBER``), not known to the plan."""


PROJECT_NUMBER = Ref("PROJECT_NUMBER")
ADDON_SA = Ref("ADDON_SA")
ADDON_CLIENT_ID = Ref("ADDON_CLIENT_ID")
Value = tuple[str, ...]  # literal strings and Refs, concatenated


@dataclass(frozen=True)
class Secret:
    """A credential in Secret Manager, mounted as the environment variable ``env``."""

    env: str
    name: str
    generated: bool = False  # made once by the plan itself (the token key, the VAPID key)
    make: str = ""  # for a generated one: the shell command printing a fresh value
    why: str = ""


TOKEN_SECRET = Secret(
    "MAILBEACON_SECRET",
    "mailbeacon-secret",
    generated=True,
    make='python3 -c \'import secrets; print("1:" + secrets.token_hex(32), end="")\'',
    why="The token secret",
)
VAPID_SECRET = Secret(
    "MAILBEACON_VAPID_PRIVATE_KEY",
    "mailbeacon-vapid",
    generated=True,
    make="openssl ecparam -name prime256v1 -genkey -noout | openssl pkcs8 -topk8 -nocrypt",
    why="The Web Push (VAPID, RFC 8292) P-256 key: browsers' subscriptions are bound to it;",
)
SLACK_SECRETS = (
    Secret("MAILBEACON_SLACK_CLIENT_SECRET", "mailbeacon-slack-client-secret"),
    Secret("MAILBEACON_SLACK_SIGNING_SECRET", "mailbeacon-slack-signing-secret"),
)
SMTP_SECRETS = (Secret("MAILBEACON_SMTP_PASSWORD", "mailbeacon-smtp-password"),)
SIGNIN_SECRETS = (Secret("MAILBEACON_SIGNIN_CLIENT_SECRET", "mailbeacon-signin-client-secret"),)

SETTINGS = (
    # Non-secret settings taken from the deployer's environment into every function's.
    "MAILBEACON_SLACK_CLIENT_ID",
    "MAILBEACON_SMTP_HOST",
    "MAILBEACON_SMTP_PORT",
    "MAILBEACON_SMTP_USER",
    "MAILBEACON_SMTP_STARTTLS",
    "MAILBEACON_MAIL_FROM",
    "MAILBEACON_COALESCE_SECONDS",
    "MAILBEACON_DIGEST_UNOPENED_DAYS",
    "MAILBEACON_NOTIFY_TIMEOUT",
    "MAILBEACON_WEBHOOK_ALLOW_HOSTS",
    "MAILBEACON_WORKSPACE_DOMAINS",
    "MAILBEACON_ALERT_EMAIL_DOMAINS",
    "MAILBEACON_SIGNIN_CLIENT_ID",
    "MAILBEACON_GMAIL_WATCH_TOPIC",
    "MAILBEACON_GMAIL_LABELS",
    "MAILBEACON_GMAIL_PUSH_SERVICE_ACCOUNT",
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
SUBSCRIBERS = {HITS: "process_hit", NOTIFY: "notify", DIGEST: "digest"}
"""Each bus topic and the function its push subscription delivers to."""
TOPIC_IDS = topic_ids(DEFAULT_TOPIC_PREFIX)
RETRY = {"min": "10s", "max": "600s", "attempts": 10, "ack_deadline": 60}
"""The push subscriptions' retry policy and dead-lettering (also honoured by the rehearsal)."""

_PROJECT = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
"""Google's rule for new project ids (6 to 30 characters)."""
_PROJECT_SHAPE = re.compile(r"^(?:[a-z0-9.-]{1,63}:)?[a-z][a-z0-9-]{0,62}$")
"""Any id gcloud could be asked about (legacy domain-scoped ids included)."""
_REGION = re.compile(r"^[a-z]+(?:-[a-z]+)+[0-9]+$")


def check(project: str, region: str) -> None:
    """Refuse what is not an id at all; an id Google would not issue is refused only when
    the plan runs (a dry run shows the plan with a warning)."""
    if not _PROJECT_SHAPE.match(project):
        raise InvalidInput(f"not a Google Cloud project id: {project!r}")
    if not _REGION.match(region):
        raise InvalidInput(f"not a Google Cloud region such as europe-west1: {region!r}")


_HOST = re.compile(
    r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$"
)


def _check_public_url(url: str) -> str:
    """A custom domain: ``https://host`` and nothing else, since its front routes the paths
    (``/p/...``, ``/addon/...``) at the root of the domain."""
    parts = urlsplit(url.strip())
    host = (parts.netloc or "").lower()
    if parts.scheme != "https" or not _HOST.match(host) or parts.path.strip("/"):
        raise InvalidInput(f"--public-url must be https://DOMAIN with no path or port: {url!r}")
    if parts.query or parts.fragment:
        raise InvalidInput(f"--public-url must be https://DOMAIN with no query: {url!r}")
    return f"https://{host}"


@dataclass(frozen=True)
class DeployConfig:
    """The one declaration every command of the plan and every function's environment come
    from; the command line builds it from flags and the deployer's
    environment."""

    project: str
    region: str
    public_url: str | None = None
    retention_days: int = DEFAULT_RETENTION.days
    digest_hour: int = 8
    settings: tuple[tuple[str, str], ...] = ()
    secret_values: frozenset[str] = field(default_factory=frozenset)
    """Which optional secrets the deployer's environment holds (names only, never values)."""

    def __post_init__(self) -> None:
        check(self.project, self.region)
        if self.retention_days < 1:
            raise InvalidInput(f"retention must be at least one day, got {self.retention_days}")
        if not 0 <= self.digest_hour <= 23:
            raise InvalidInput(f"MAILBEACON_DIGEST_HOUR must be 0-23, got {self.digest_hour}")
        for name, value in self.settings:
            if "|" in value or "\n" in value:
                raise InvalidInput(f"{name} may not contain '|' or a line break")

    @classmethod
    def from_settings(
        cls,
        project: str,
        region: str,
        env: Mapping[str, str],
        *,
        public_url: str | None = None,
        retention_days: int | None = None,
    ) -> DeployConfig:
        """The declaration from flags and the MAILBEACON_* settings the deployer holds."""
        try:
            retention = int(
                retention_days or env.get("MAILBEACON_RETENTION_DAYS") or DEFAULT_RETENTION.days
            )
            digest_hour = int(env.get("MAILBEACON_DIGEST_HOUR") or 8)
        except ValueError as exc:
            raise InvalidInput(f"not a whole number: {exc}") from exc
        return cls(
            project=project,
            region=region,
            public_url=_check_public_url(public_url) if public_url else None,
            retention_days=retention,
            digest_hour=digest_hour,
            settings=tuple((k, env[k]) for k in SETTINGS if env.get(k)),
            secret_values=frozenset(
                s.env for s in (*SLACK_SECRETS, *SMTP_SECRETS, *SIGNIN_SECRETS) if env.get(s.env)
            ),
        )

    # URLs ------------------------------------------------------------------------------------

    @property
    def functions_host(self) -> str:
        return f"https://{self.region}-{self.project}.cloudfunctions.net"

    def function_url(self, name: str) -> str:
        return f"{self.functions_host}/{name}"

    def base(self, function: str) -> str:
        """The base URL in front of the paths ``function`` serves."""
        return self.public_url or self.function_url(function)

    def urls(self) -> dict[str, str]:
        """Every kind of URL the product emits or registers with Google and Slack."""
        from addon.config import ROUTES

        urls = {
            "pixel": f"{self.base('pixel')}/p/TOKEN.gif",
            "click": f"{self.base('click')}/c/TOKEN",
            "health": f"{self.base('pixel')}/healthz",
            "chat endpoint": f"{self.base('chat')}/chat",
            "slack install": f"{self.base('slack')}/slack/install",
            "slack redirect": f"{self.base('slack')}/slack/oauth/callback",
            "slack events": f"{self.base('slack')}/slack/events",
            "slack interactivity": f"{self.base('slack')}/slack/interactivity",
            "dashboard link": f"{self.base('dashboard')}/dashboard/messages/ID?key=KEY",
            "dashboard sign-in redirect": f"{self.base('dashboard')}/dashboard/signin/callback",
            "api": f"{self.base('dashboard')}/api/v1/messages",
            "gmail push": f"{self.base('dashboard')}/gmail/push",
        }
        for route in ROUTES:
            urls[f"add-on {route}"] = f"{self.base('addon')}/addon/{route}"
        return urls

    # Secrets and environment -----------------------------------------------------------------

    @property
    def slack(self) -> bool:
        return dict(self.settings).get("MAILBEACON_SLACK_CLIENT_ID") is not None

    @property
    def smtp_auth(self) -> bool:
        return dict(self.settings).get("MAILBEACON_SMTP_USER") is not None

    def secrets(self) -> tuple[Secret, ...]:
        """The secrets every function mounts: the token and VAPID keys, Slack's and SMTP's when
        in use."""
        chosen = [TOKEN_SECRET, VAPID_SECRET]
        if self.slack or any(s.env in self.secret_values for s in SLACK_SECRETS):
            chosen += SLACK_SECRETS
        if self.smtp_auth or any(s.env in self.secret_values for s in SMTP_SECRETS):
            chosen += SMTP_SECRETS
        signin = dict(self.settings).get("MAILBEACON_SIGNIN_CLIENT_ID") is not None
        if signin or any(s.env in self.secret_values for s in SIGNIN_SECRETS):
            chosen += SIGNIN_SECRETS
        return tuple(chosen)

    def environment(self) -> dict[str, Value]:
        """Every function's environment (THREADS aside), from this declaration alone."""
        env: dict[str, Value] = {
            "MAILBEACON_STORE": ("firestore",),
            "MAILBEACON_BUS": ("pubsub",),
            "GOOGLE_CLOUD_PROJECT": (self.project,),
            "MAILBEACON_PUBLIC_URL": (self.base("pixel"),),
            "MAILBEACON_CLICK_URL": (self.base("click"),),
            "MAILBEACON_ADDON_URL": (self.base("addon"),),
            "MAILBEACON_CHAT_URL": (self.base("chat"),),
            "MAILBEACON_SLACK_URL": (self.base("slack"),),
            "MAILBEACON_DASHBOARD_URL": (self.base("dashboard"),),
            "MAILBEACON_GMAIL_URL": (self.base("dashboard"),),  # /gmail/push is served there
            "MAILBEACON_RETENTION_DAYS": (str(self.retention_days),),
            "MAILBEACON_DIGEST_HOUR": (str(self.digest_hour),),
            "MAILBEACON_TRUST_PROXY": ("1",),
            # Google's add-on runtime signs with the project's add-on service agent; the user's
            # ID token is for the add-on's OAuth client (both from get-authorization).
            "MAILBEACON_ADDON_SERVICE_ACCOUNT": (ADDON_SA,),
            "MAILBEACON_ADDON_CLIENT_ID": (ADDON_CLIENT_ID,),
            # Chat: an ID token for the endpoint URL (from Chat, or from the add-on agent for a
            # Chat app built as an add-on), or a JWT for the project number from Chat itself.
            "MAILBEACON_CHAT_AUDIENCE": (f"{self.base('chat')}/chat",),
            "MAILBEACON_CHAT_PROJECT_NUMBER": (PROJECT_NUMBER,),
            "MAILBEACON_CHAT_ISSUER_EMAILS": (f"{CHAT_ISSUER},", ADDON_SA),
        }
        settings = dict(self.settings)
        if settings.get("MAILBEACON_GMAIL_WATCH_TOPIC"):
            # Pub/Sub's push and Scheduler's renewal sign as the functions' own account.
            env["MAILBEACON_GMAIL_PUSH_SERVICE_ACCOUNT"] = (service_account(self.project),)
        for name, value in self.settings:
            env[name] = (value,)
        return env

    def resolved_environment(self, refs: Mapping[str, str]) -> dict[str, str]:
        """The environment with the script's run-time values filled in (for the rehearsal)."""
        return {
            k: "".join(refs[p] if isinstance(p, Ref) else p for p in v)
            for k, v in self.environment().items()
        }


# Rendering -------------------------------------------------------------------------------------


def shell_word(parts: Sequence[str]) -> str:
    """One shell word: literal runs single-quoted, Refs as ``"${NAME}"``."""
    out, run = [], ""
    for part in parts:
        if isinstance(part, Ref):
            if run:
                out.append(shlex.quote(run))
                run = ""
            out.append(f'"${{{part}}}"')
        else:
            run += part
    if run:
        out.append(shlex.quote(run))
    return "".join(out)


def env_flag(env: Mapping[str, Value], extra: Mapping[str, str]) -> str:
    """``--set-env-vars`` with gcloud's alternate delimiter (values may hold commas)."""
    parts: list[str] = ["--set-env-vars=^|^"]
    items = [*env.items(), *((k, (v,)) for k, v in extra.items())]
    for i, (key, value) in enumerate(items):
        parts.append(("|" if i else "") + f"{key}=")
        parts.extend(value)
    return shell_word(parts)


def secrets_flag(secrets: Sequence[Secret]) -> str:
    return shlex.quote("--set-secrets=" + ",".join(f"{s.env}={s.name}:latest" for s in secrets))


def indexes() -> dict:
    """The Firestore indexes, shipped inside the package (so an installed wheel deploys)."""
    text = resources.files("functions").joinpath("cloud_files/firestore.indexes.json").read_text()
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


def _heredoc(path: str, text: str, tag: str) -> list[str]:
    """Write ``text`` to the (double-quoted shell) ``path``, verbatim: a quoted heredoc."""
    assert tag not in text
    return [f"cat > \"{path}\" <<'{tag}'", *text.rstrip("\n").splitlines(), tag]


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


def service_account(project: str) -> str:
    """The functions' own least-privilege account."""
    return f"{ACCOUNT}@{project}.iam.gserviceaccount.com"


GMAIL_PUSH_AGENT = "serviceAccount:gmail-api-push@system.gserviceaccount.com"
"""Gmail publishes watch notifications as this account; it needs publisher rights on the topic
(https://developers.google.com/gmail/api/guides/push#grant_publish_rights_on_your_topic)."""
GMAIL_RENEW_SCHEDULE = "0 3 * * *"


def _gmail_watch_commands(config: DeployConfig, sa: str, p: str) -> list[str]:
    """The sent-mail watch's cloud side, when MAILBEACON_GMAIL_WATCH_TOPIC is declared: the
    topic Gmail publishes to, a push subscription into /gmail/push signed as the functions'
    account, and a daily Scheduler call to /gmail/renew (Gmail stops a watch after 7 days)."""
    topic = dict(config.settings).get("MAILBEACON_GMAIL_WATCH_TOPIC")
    if not topic:
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


def plan(config: DeployConfig, *, source: Path) -> str:
    """The deployment as a bash script, in order."""
    from addon.deployment import build_deployment

    project, region = config.project, config.region
    p = f"--project={project}"
    sa = service_account(project)
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
        *_index_commands(p, indexes()),
        "# Pub/Sub topics, with a dead-letter topic for each consumer",
    ]
    for topic in SUBSCRIBERS:
        for name in (TOPIC_IDS[topic], f"{TOPIC_IDS[topic]}-dead"):
            lines.append(
                f"gcloud pubsub topics describe {name} {p} >/dev/null 2>&1 || "
                f"gcloud pubsub topics create {name} {p}"
            )
    lines += [
        "# The functions' own service account, with only what they use",
        f"gcloud iam service-accounts describe {sa} {p} >/dev/null 2>&1 || "
        f"gcloud iam service-accounts create {ACCOUNT} --display-name=Mailbeacon {p}",
    ]
    for role in ("roles/datastore.user", "roles/pubsub.publisher"):
        lines.append(
            f"gcloud projects add-iam-policy-binding {project} --member=serviceAccount:{sa} "
            f"--role={role} --condition=None --quiet >/dev/null"
        )
    for secret in config.secrets():
        lines += _secret_commands(secret, p, sa)
    lines += [
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
            f"gcloud functions deploy {fn.name} --gen2 --runtime={RUNTIME} --region={region} "
            f"--source={shlex.quote(str(source))} --entry-point={fn.name} --trigger-http "
            f"{'--allow-unauthenticated' if fn.public else '--no-allow-unauthenticated'} "
            f"--service-account={sa} --memory={fn.memory} --cpu=1 "
            f"--concurrency={fn.concurrency} --min-instances={fn.min_instances} "
            f"--max-instances={fn.max_instances} --timeout={fn.timeout} "
            f"{env_flag(env, {'THREADS': str(fn.concurrency)})} {secrets} {p} --quiet"
        )
    lines.append(
        f"# Push subscriptions: retried with backoff, dead-lettered after {RETRY['attempts']}"
        " attempts"
    )
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
    schedule = (
        f"--location={region} --schedule={shlex.quote(f'0 {config.digest_hour} * * *')} "
        f"--time-zone=Etc/UTC --topic={TOPIC_IDS[DIGEST]} --message-body='{{}}'"
    )
    lines += [
        "# The daily digest (the notifier fans it out per user, once a day per user)",
        f"gcloud scheduler jobs describe mailbeacon-digest --location={region} {p} "
        ">/dev/null 2>&1 || "
        f"gcloud scheduler jobs create pubsub mailbeacon-digest {schedule} {p}",
        f"gcloud scheduler jobs update pubsub mailbeacon-digest {schedule} {p} >/dev/null",
    ]
    lines += _gmail_watch_commands(config, sa, p)
    descriptor = build_deployment(
        config.base("addon"),
        link_prefixes=(f"{config.base('dashboard')}/", f"{config.base('slack')}/"),
    )
    d = f"{p} >/dev/null 2>&1 || "
    lines += [
        "# The Workspace add-on: its HTTP deployment from the generated descriptor, installed"
        " for you (developer mode; publish it to your domain with the Marketplace SDK)",
        "ADDON_DESCRIPTOR=$(mktemp)",
        *_heredoc("$ADDON_DESCRIPTOR", json.dumps(descriptor, indent=2), "MAILBEACON_ADDON"),
        f"gcloud workspace-add-ons deployments describe {ADDON_DEPLOYMENT} {d}"
        f"gcloud workspace-add-ons deployments create {ADDON_DEPLOYMENT} "
        f'--deployment-file="$ADDON_DESCRIPTOR" {p}',
        f"gcloud workspace-add-ons deployments replace {ADDON_DEPLOYMENT} "
        f'--deployment-file="$ADDON_DESCRIPTOR" {p}',
        f"gcloud workspace-add-ons deployments install {ADDON_DEPLOYMENT} {p}",
    ]
    if config.public_url:
        from .front import firebase_json

        lines += [
            f"# The custom domain's front: Firebase Hosting routes each path of"
            f" {config.public_url} to the function that serves it",
            'FRONT_DIR=$(mktemp -d) && mkdir "$FRONT_DIR/public"',
            *_heredoc(
                "$FRONT_DIR/firebase.json",
                json.dumps(firebase_json(config), indent=2),
                "MAILBEACON_FRONT",
            ),
            'if command -v firebase >/dev/null; then (cd "$FRONT_DIR" && firebase deploy '
            f"--only hosting {shlex.quote('--project=' + project)} --non-interactive); else "
            'echo "Install firebase-tools and run: firebase deploy --only hosting '
            f'--project={project} in $FRONT_DIR"; fi',
            f"echo 'Then connect {urlsplit(config.public_url).hostname} in the Firebase console"
            " (Hosting, Add custom domain).'",
        ]
    urls = config.urls()
    told = (
        ("Mailbeacon is deployed.", ""),
        ("Chat app, HTTP endpoint URL:", urls["chat endpoint"]),
        ("Slack app, redirect URL:", urls["slack redirect"]),
        ("Slack app, event request URL:", urls["slack events"]),
        ("Slack app, interactivity request URL:", urls["slack interactivity"]),
        ("Dashboard sign-in, authorised redirect URI:", urls["dashboard sign-in redirect"]),
    )
    lines += [f"echo {shlex.quote(f'{label} {url}'.strip())}" for label, url in told]
    return "\n".join(lines) + "\n"


# The source folder -----------------------------------------------------------------------------


def requirements(pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    """What the functions need at run time: the core dependencies plus the cloud and notify
    extras (never the dev extra); from pyproject in a clone, from the metadata in a wheel."""
    if pyproject.exists():
        project = tomllib.loads(pyproject.read_text())["project"]
        extras = project.get("optional-dependencies", {})
        return [*project["dependencies"], *extras.get("cloud", []), *extras.get("notify", [])]
    wanted = []
    for requirement in metadata.requires("mailbeacon") or []:
        spec, _, marker = requirement.partition(";")
        extra = re.search(r"extra\s*==\s*['\"]([\w-]+)['\"]", marker)
        if extra is None or extra.group(1) in ("cloud", "notify"):
            wanted.append(spec.strip())
    return wanted


def assemble_source(target: Path) -> Path:
    """The folder Cloud Functions builds from: main.py, requirements.txt and the modules the
    functions import, without the command line, the deployer, the tests or caches."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    left_out = {ROOT / path for path in LEFT_OUT}

    def ignore(folder: str, names: list[str]) -> set[str]:
        skipped = {n for n in names if n in ("__pycache__", "tests") or n.endswith(".pyc")}
        return skipped | {n for n in names if Path(folder, n) in left_out}

    for package in PACKAGES:
        if (ROOT / package).is_dir():
            shutil.copytree(ROOT / package, target / package, ignore=ignore)
    shutil.copy2(ROOT / "functions" / "main.py", target / "main.py")
    (target / "requirements.txt").write_text("\n".join(requirements()) + "\n")
    return target


def deploy(config: DeployConfig, *, source_dir: Path, dry_run: bool) -> int:
    """Assemble the source folder, then print the plan (dry run) or run it. What would make
    the deployment fail or useless is a warning in a dry run and refused, before anything is
    written, in a real one."""
    script = plan(config, source=source_dir)
    problems = []
    if not _PROJECT.match(config.project.rpartition(":")[2]):
        problems.append(
            f"{config.project!r} is not a project id Google issues"
            " (6-30 lowercase letters, digits, hyphens); gcloud will refuse it"
        )
    if "MAILBEACON_WORKSPACE_DOMAINS" not in dict(config.settings):
        problems.append(
            "MAILBEACON_WORKSPACE_DOMAINS is not set: the add-on would admit nobody"
            " (export it, e.g. MAILBEACON_WORKSPACE_DOMAINS=example.com)"
        )
    if problems and not dry_run:
        if problems[0].startswith(repr(config.project)):
            raise InvalidInput(f"not a Google Cloud project id: {config.project!r}")
        raise InvalidInput(problems[0])
    if not dry_run and shutil.which("gcloud") is None:
        raise InvalidInput("gcloud is not installed (https://cloud.google.com/sdk)")
    assemble_source(source_dir)
    if dry_run:
        for problem in problems:
            print(f"mailbeacon: warning: {problem}", file=sys.stderr)
        sys.stdout.write(script)
        return 0
    return subprocess.run(["bash", "-c", script], check=False).returncode


__all__ = ["FUNCTIONS", "MOUNTS", "DeployConfig", "assemble_source", "deploy", "plan"]
