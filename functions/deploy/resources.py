"""What the plan declares in the project: the APIs it enables, the functions and how each runs,
the bus topics and who consumes them, the secrets, and the settings carried into every function.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailbeacon.bus import DEFAULT_TOPIC_PREFIX, DIGEST, HITS, NOTIFY, topic_ids

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
RETRY = {"min": "10s", "max": "600s", "attempts": 50, "ack_deadline": 60}
"""The push subscriptions' retry policy and dead-lettering (also honoured by the rehearsal).
50 deliveries, backing off from 10 s to 600 s, last about 7 hours: longer than the notifier's
retry horizon (6 h, MAILBEACON_RETRY_HORIZON), so an alert is given up by the notifier, which
tells its owner, before Pub/Sub sets it aside (10 deliveries lasted 40 minutes)."""


def service_account(project: str) -> str:
    """The functions' own least-privilege account."""
    return f"{ACCOUNT}@{project}.iam.gserviceaccount.com"


GMAIL_PUSH_AGENT = "serviceAccount:gmail-api-push@system.gserviceaccount.com"
"""Gmail publishes watch notifications as this account; it needs publisher rights on the topic
(https://developers.google.com/gmail/api/guides/push#grant_publish_rights_on_your_topic)."""
GMAIL_RENEW_SCHEDULE = "0 3 * * *"
