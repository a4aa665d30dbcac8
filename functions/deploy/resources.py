"""What the plan declares in the project: the APIs it enables, the functions and how each runs,
the bus topics and who consumes them, the secrets, and the settings carried into every function.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailbeacon.bus import DEFAULT_TOPIC_PREFIX, DIGEST, HITS, NOTIFY, dead_ids, kept_ids, topic_ids

ACCOUNT = "mailbeacon"
BUILD_ACCOUNT = "mailbeacon-build"
BUILD_ROLES = (
    # What a function's build needs, per "Use a custom build service account"
    # (https://cloud.google.com/functions/docs/securing/build-custom-sa): write the build's
    # logs, push the image to Artifact Registry, read the uploaded source. Passed with
    # --build-service-account, so a new project's default build account (since 2024 the
    # Compute Engine default account, often without any role) is never used.
    "roles/logging.logWriter",
    "roles/artifactregistry.writer",
    "roles/storage.objectViewer",
)
RUNTIME = "python311"
ADDON_DEPLOYMENT = "mailbeacon"
CHAT_ISSUER = "chat@system.gserviceaccount.com"
APIS = (
    "cloudresourcemanager.googleapis.com",
    "iam.googleapis.com",
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
FRONT_APIS = ("firebase.googleapis.com", "firebasehosting.googleapis.com")
"""With a custom domain: Firebase added to the project, and Hosting."""
GMAIL_APIS = ("gmail.googleapis.com",)
"""With the delegated Gmail key: the sent-mail watch, labels, email sent as the user."""


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
    mount: str = ""
    """A file path the secret is mounted at (``--set-secrets=/path=NAME:latest``) instead of
    an environment variable; the variable ``env`` then names that path."""


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
GMAIL_KEY_SECRET = Secret(
    "MAILBEACON_GMAIL_CREDENTIALS",
    "mailbeacon-gmail-key",
    mount="/etc/secrets/gmail/key.json",
    why="The domain-wide-delegated service account's key",
)
"""Mounted as a file (one secret per mount directory: gcloud refuses a second secret in
``/etc/secrets/gmail``); the deployer's MAILBEACON_GMAIL_CREDENTIALS names the local key file
the plan uploads, the functions' names the mounted copy."""

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
    "MAILBEACON_HOSTING_SITE",
)


PUBLIC, PUSHED, ADDON = "public", "pushed", "addon"
"""Who may invoke a function: anyone (recipients, browsers, Slack, Chat: the function checks
signatures itself, and a strict organisation's policy refuses ``allUsers``, so the invoker
check is turned off rather than ``allUsers`` bound); Pub/Sub's push as the functions' own
account; Google's add-on runtime as the project's add-on service agent. Only Cloud Run's IAM
decides for the last two (https://cloud.google.com/run/docs/authenticating/public)."""


@dataclass(frozen=True)
class Function:
    """How one entry point runs. Concurrency needs a whole CPU; THREADS matches it (Python)."""

    name: str
    access: str
    memory: str = "512Mi"
    concurrency: int = 16
    min_instances: int = 0
    max_instances: int = 20
    timeout: str = "60s"

    @property
    def public(self) -> bool:
        return self.access == PUBLIC

    @property
    def timeout_seconds(self) -> int:
        return int(self.timeout.rstrip("s"))


FUNCTIONS = (
    # The pixel answers recipients: kept warm, many requests per instance, a tight timeout.
    # 30 s: room for the bounded publish retries and the durable fallback when Pub/Sub
    # does not answer (an answered hit is never lost); a normal answer takes milliseconds.
    Function(
        "pixel",
        PUBLIC,
        memory="256Mi",
        concurrency=40,
        min_instances=1,
        max_instances=100,
        timeout="30s",
    ),
    Function("click", PUBLIC, memory="256Mi", concurrency=40, max_instances=100, timeout="30s"),
    # The consumer batches a message's hits per instance (one context write a second), so
    # high concurrency lowers Firestore writes as well as instances.
    Function("process_hit", PUSHED, concurrency=40, max_instances=20),
    Function("notify", PUSHED, concurrency=8),
    Function("digest", PUSHED, concurrency=1, max_instances=2, timeout="300s"),
    Function("addon", ADDON),  # Google's add-on runtime only; it also verifies the tokens
    # Chat signs with chat@system.gserviceaccount.com for the project number (a JWT Cloud
    # Run's IAM cannot check) or through a custom domain: public, the function verifies.
    Function("chat", PUBLIC),
    Function("slack", PUBLIC),  # verifies Slack's request signatures itself
    Function("dashboard", PUBLIC),  # browsers; /gmail/push verifies Pub/Sub's OIDC token
)
SUBSCRIBERS = {HITS: "process_hit", NOTIFY: "notify", DIGEST: "digest"}
"""Each bus topic and the function its push subscription delivers to."""
TOPIC_IDS = topic_ids(DEFAULT_TOPIC_PREFIX)
DEAD_IDS = dead_ids(DEFAULT_TOPIC_PREFIX)
"""Each topic's dead-letter topic (mailbeacon.bus.DEAD)."""
RETRY = {"min": "10s", "max": "600s", "attempts": 50, "ack_deadline": 60}
"""The push subscriptions' retry policy and dead-lettering (also honoured by the rehearsal).
50 deliveries, backing off from 10 s to 600 s, last about 7 hours: longer than the notifier's
retry horizon (6 h, MAILBEACON_RETRY_HORIZON), so an alert is given up by the notifier, which
tells its owner, before Pub/Sub sets it aside (10 deliveries lasted 40 minutes)."""
KEPT_IDS = kept_ids(DEFAULT_TOPIC_PREFIX)
"""Each dead-letter topic's own pull subscription (mailbeacon.bus.KEPT): kept 7 days and never
expiring (a pull subscription expires after 31 idle days by default)."""
SWEEP_SCHEDULE = "*/5 * * * *"
"""How often Cloud Scheduler asks process_hit to sweep the hits the edge wrote to Firestore
while Pub/Sub would not take them (mailbeacon.bus.fallback)."""
REMINDER_SCHEDULE = "*/5 * * * *"
"""How often Cloud Scheduler has the due follow-up reminders sent (mailbeacon.reminders)."""


def ack_deadline(function: Function) -> int:
    """A push subscription's ack deadline: at least the function's timeout (Pub/Sub redelivers
    a message still being handled otherwise), at most Pub/Sub's 600 s."""
    return min(600, max(int(RETRY["ack_deadline"]), function.timeout_seconds))


def function(name: str) -> Function:
    return next(f for f in FUNCTIONS if f.name == name)


def service_account(project: str) -> str:
    """The functions' own least-privilege account."""
    return f"{ACCOUNT}@{project}.iam.gserviceaccount.com"


def build_account(project: str) -> str:
    """The account Cloud Build builds the functions as."""
    return f"{BUILD_ACCOUNT}@{project}.iam.gserviceaccount.com"


GMAIL_PUSH_AGENT = "serviceAccount:gmail-api-push@system.gserviceaccount.com"
"""Gmail publishes watch notifications as this account; it needs publisher rights on the topic
(https://developers.google.com/gmail/api/guides/push#grant_publish_rights_on_your_topic)."""
GMAIL_RENEW_SCHEDULE = "0 3 * * *"
