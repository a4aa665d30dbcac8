"""The add-on's routes and settings: one table shared by the endpoint, the cards and the
deployment descriptor, so a button can never point at a URL the server does not answer."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from .auth import GOOGLE_CERTS_URL, split_list

HOMEPAGE = "homepage"
COMPOSE = "compose"
MESSAGE = "message"
SETTINGS = "settings"
SAVE_SETTINGS = "settings/save"
TRACK = "compose/track"
INSERT_LINK = "compose/link"
OLDER = "homepage/older"
DETAIL = "detail"
REFRESH = "homepage/refresh"

TRIGGERS = (HOMEPAGE, COMPOSE, MESSAGE)
ACTIONS = (SETTINGS, SAVE_SETTINGS, TRACK, INSERT_LINK, OLDER, DETAIL, REFRESH)
ROUTES = TRIGGERS + ACTIONS
ALIASES = {
    "home": HOMEPAGE,
    "contextual": MESSAGE,
    "gmail/message": MESSAGE,
    "track": TRACK,
    "link": INSERT_LINK,
    "insert-link": INSERT_LINK,
    "save-settings": SAVE_SETTINGS,
    "older": OLDER,
    "refresh": REFRESH,
}
GMAIL_API_URL = "https://gmail.googleapis.com/"


def resolve_route(name: str) -> str | None:
    """A route name from a path or a ``?route=`` value, tolerating slashes and aliases."""
    key = name.strip().strip("/").lower()
    if key.startswith("addon/"):
        key = key[len("addon/") :]
    if key in ROUTES:
        return key
    return ALIASES.get(key)


@dataclass(frozen=True)
class AddonConfig:
    """Who may call the add-on endpoints, and where the Google services live."""

    base_url: str
    audiences: tuple[str, ...] = ()
    service_accounts: tuple[str, ...] = ()
    client_ids: tuple[str, ...] = ()
    certs_url: str = GOOGLE_CERTS_URL
    gmail_api_url: str = GMAIL_API_URL
    insecure_dev_auth: bool = False
    # Google Workspace domains whose users may use the add-on (the ID token's ``hd`` claim).
    # Empty refuses every Google account: a token for our client id alone proves no membership.
    workspace_domains: tuple[str, ...] = ()
    # Further domains alert emails may go to, beyond the user's own domain (admin's choice).
    email_domains: tuple[str, ...] = ()

    def may_email(self, user: str, address: str) -> bool:
        """Whether ``user`` may have alerts mailed to ``address``: their own address, their own
        domain, or a domain the admin allowed. Anything else would let a user make the relay
        mail strangers."""
        domain = address.rsplit("@", 1)[-1].lower()
        own = user.rsplit("@", 1)[-1].lower()
        return address.lower() == user.lower() or domain == own or domain in self.email_domains

    def url(self, route: str) -> str:
        """The full HTTPS URL Google calls for ``route`` (the action's ``function``)."""
        return f"{self.base_url}/addon/{route}"

    @property
    def endpoint_audiences(self) -> tuple[str, ...]:
        """Audiences a system ID token may carry: configured, else every endpoint URL."""
        if self.audiences:
            return self.audiences
        base = f"{self.base_url}/addon"
        by_path = (self.url(route) for route in ROUTES)
        by_query = (f"{base}?route={route}" for route in ROUTES)  # whether Google keeps the
        return (
            base,
            base + "/",
            *by_path,
            *by_query,
        )  # query in the audience is not documented: allow both

    @classmethod
    def from_env(
        cls,
        base_url: str,
        *,
        insecure_dev_auth: bool = False,
        env: Mapping[str, str] | None = None,
    ) -> AddonConfig:
        """MAILBEACON_ADDON_AUDIENCE, MAILBEACON_ADDON_SERVICE_ACCOUNT,
        MAILBEACON_ADDON_CLIENT_ID, MAILBEACON_WORKSPACE_DOMAINS and
        MAILBEACON_ALERT_EMAIL_DOMAINS take comma-separated lists."""
        env = os.environ if env is None else env
        return cls(
            base_url=base_url.rstrip("/"),
            audiences=split_list(env.get("MAILBEACON_ADDON_AUDIENCE")),
            service_accounts=split_list(env.get("MAILBEACON_ADDON_SERVICE_ACCOUNT")),
            client_ids=split_list(
                env.get("MAILBEACON_ADDON_CLIENT_ID") or env.get("MAILBEACON_ADDON_OAUTH_CLIENT_ID")
            ),
            certs_url=env.get("MAILBEACON_GOOGLE_CERTS_URL") or GOOGLE_CERTS_URL,
            gmail_api_url=env.get("MAILBEACON_GMAIL_API_URL") or GMAIL_API_URL,
            insecure_dev_auth=insecure_dev_auth,
            workspace_domains=tuple(
                d.lower() for d in split_list(env.get("MAILBEACON_WORKSPACE_DOMAINS"))
            ),
            email_domains=tuple(
                d.lower() for d in split_list(env.get("MAILBEACON_ALERT_EMAIL_DOMAINS"))
            ),
        )
