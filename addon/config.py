"""The add-on's routes and settings: one table shared by the endpoint, the cards and the
deployment descriptor, so a button can never point at a URL the server does not answer."""

from __future__ import annotations

from dataclasses import dataclass

from mailbeacon.platform import GMAIL_API_URL, GOOGLE_CERTS_URL

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

    base_url: str = ""
    """The public base URL; the composition root fills it in from the app's URLs."""
    audiences: tuple[str, ...] = ()
    service_accounts: tuple[str, ...] = ()
    client_ids: tuple[str, ...] = ()
    certs_url: str = GOOGLE_CERTS_URL
    gmail_api_url: str = GMAIL_API_URL
    insecure_dev_auth: bool = False
    # Google Workspace domains whose users may use the add-on (the ID token's ``hd`` claim).
    # Empty refuses every Google account: a token for our client id alone proves no membership.
    workspace_domains: tuple[str, ...] = ()

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
