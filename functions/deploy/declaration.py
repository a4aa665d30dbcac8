"""The one declaration the plan is a pure function of: :class:`DeployConfig` (the project, the
region, an optional custom domain and the non-secret settings read from the deployer's
environment), with the URLs, secrets and environment every function gets from it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from mailbeacon.errors import InvalidInput
from mailbeacon.model import DEFAULT_RETENTION

from .resources import (
    ADDON,
    ADDON_CLIENT_ID,
    ADDON_SA,
    APIS,
    CHAT_ISSUER,
    FRONT_APIS,
    GMAIL_APIS,
    GMAIL_KEY_SECRET,
    PROJECT_NUMBER,
    SETTINGS,
    SIGNIN_SECRETS,
    SLACK_SECRETS,
    SMTP_SECRETS,
    TOKEN_SECRET,
    VAPID_SECRET,
    Ref,
    Secret,
    Value,
    function,
    service_account,
)

ISSUED_PROJECT = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
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
                s.env
                for s in (*SLACK_SECRETS, *SMTP_SECRETS, *SIGNIN_SECRETS, GMAIL_KEY_SECRET)
                if env.get(s.env)
            ),
        )

    # URLs ------------------------------------------------------------------------------------

    @property
    def functions_host(self) -> str:
        return f"https://{self.region}-{self.project}.cloudfunctions.net"

    def function_url(self, name: str) -> str:
        return f"{self.functions_host}/{name}"

    def base(self, name: str) -> str:
        """The base URL in front of the paths function ``name`` serves. The add-on is only
        ever called by Google's add-on runtime, with an ID token Cloud Run's IAM checks: its
        URLs stay the function's own, since a Hosting front reaches only public services."""
        if self.public_url and function(name).access != ADDON:
            return self.public_url
        return self.function_url(name)

    @property
    def hosting_site(self) -> str:
        """The Firebase Hosting site of the custom domain's front (site ids are global:
        MAILBEACON_HOSTING_SITE when the project id is taken)."""
        return dict(self.settings).get("MAILBEACON_HOSTING_SITE") or self.project

    @property
    def trust_proxy(self) -> int:
        """How many proxies append to X-Forwarded-For before the function sees it: Google's
        front end (the client's address), and with a custom domain Firebase Hosting before it
        (the front end then appends Hosting's own address, which is everyone's)."""
        return 2 if self.public_url else 1

    def apis(self) -> tuple[str, ...]:
        """The APIs the plan enables: the base set, Firebase's for a custom domain, Gmail's
        when the delegated key is configured."""
        extra = (*(FRONT_APIS if self.public_url else ()), *(GMAIL_APIS if self.gmail else ()))
        return (*APIS, *extra)

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

    @property
    def gmail_watch(self) -> str | None:
        """The sent-mail watch's topic, when declared (it needs the delegated key)."""
        return dict(self.settings).get("MAILBEACON_GMAIL_WATCH_TOPIC")

    @property
    def gmail(self) -> bool:
        """Whether the functions get the delegated Gmail key: the deployer holds it, or a
        feature that needs it (the watch, labels) is declared."""
        settings = dict(self.settings)
        wanted = self.gmail_watch or settings.get("MAILBEACON_GMAIL_LABELS")
        return bool(wanted) or GMAIL_KEY_SECRET.env in self.secret_values

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
        if self.gmail:
            chosen.append(GMAIL_KEY_SECRET)
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
            "MAILBEACON_TRUST_PROXY": (str(self.trust_proxy),),
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
        if self.gmail:
            env[GMAIL_KEY_SECRET.env] = (GMAIL_KEY_SECRET.mount,)  # the mounted key file
        if self.gmail_watch:
            # Pub/Sub's push and Scheduler's renewal sign as the functions' own account.
            env["MAILBEACON_GMAIL_PUSH_SERVICE_ACCOUNT"] = (service_account(self.project),)
        for name, value in self.settings:
            if name != "MAILBEACON_HOSTING_SITE":  # the plan's, not the functions'
                env[name] = (value,)
        return env

    def resolved_environment(self, refs: Mapping[str, str]) -> dict[str, str]:
        """The environment with the script's run-time values filled in (for the rehearsal)."""
        return {
            k: "".join(refs[p] if isinstance(p, Ref) else p for p in v)
            for k, v in self.environment().items()
        }
