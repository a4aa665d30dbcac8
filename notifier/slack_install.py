"""The Slack app's OAuth v2 install flow, with installations and states kept in our store.

slack_sdk supplies the interfaces (InstallationStore, OAuthStateStore) and the URL generator;
this module backs them with the records API so SQLite and Firestore deployments need nothing
else.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.oauth import AuthorizeUrlGenerator
from slack_sdk.oauth.installation_store import Bot, Installation, InstallationStore
from slack_sdk.oauth.state_store import OAuthStateStore
from slack_sdk.web import WebClient

from mailbeacon.clock import Clock, iso, parse_time
from mailbeacon.errors import InvalidInput, Unauthorized
from mailbeacon.records import Namespace, Records
from mailbeacon.tokens import same_secret

from .config import NotifierConfig

INSTALLATIONS = Namespace.SLACK_INSTALLATIONS
STATES = Namespace.SLACK_STATES
CALLBACK_PATH = "/slack/oauth/callback"
STATE_ENTRY = "slack"
"""The install's state, an entry of the ``__session`` cookie jar (mailbeacon.session_cookie)."""
STATE_SECONDS = 600
MAX_LIVE_STATES = 5000
PER_CLIENT_STATES = 5


def _key(enterprise_id: str | None, team_id: str | None) -> str:
    return f"{enterprise_id or 'none'}-{team_id or 'none'}"


class StoreInstallationStore(InstallationStore):
    """One record per workspace (or org) install; the newest install wins."""

    def __init__(self, store: Records) -> None:
        self.store = store

    def save(self, installation: Installation) -> None:
        data = {
            k: str(int(v.timestamp())) if isinstance(v, datetime) else v
            for k, v in installation.to_dict_for_copying().items()
        }
        self.store.put_record(
            INSTALLATIONS, _key(installation.enterprise_id, installation.team_id), data
        )

    def find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        key = _key(enterprise_id, None if is_enterprise_install else team_id)
        data = self.store.get_record(INSTALLATIONS, key)
        return Installation(**data) if data else None

    def find_bot(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        is_enterprise_install: bool | None = False,
    ) -> Bot | None:
        found = self.find_installation(
            enterprise_id=enterprise_id,
            team_id=team_id,
            is_enterprise_install=is_enterprise_install,
        )
        return found.to_bot() if found else None

    def delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        self.store.delete_record(INSTALLATIONS, _key(enterprise_id, team_id))

    def delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        self.delete_installation(enterprise_id=enterprise_id, team_id=team_id)

    def all(self) -> list[Installation]:
        """Every workspace the app is installed in (a self-hosted deployment has a few)."""
        return [Installation(**data) for _key_, data in self.store.list_records(INSTALLATIONS)]


class StoreStateStore(OAuthStateStore):
    """OAuth ``state`` values: random, single use, expiring after ``ttl``.

    ``/slack/install`` answers anonymous GETs, so states are bounded per client (``issue``):
    a crawler's flood replaces its own states and locks nobody else out. All expired rows are
    purged once per ``ttl``, and ``max_live`` caps the table against a flood from many
    networks at once.
    """

    def __init__(
        self,
        store: Records,
        clock: Clock,
        ttl: timedelta = timedelta(minutes=10),
        max_live: int = MAX_LIVE_STATES,
        per_client: int = PER_CLIENT_STATES,
    ):
        self.store = store
        self.clock = clock
        self.ttl = ttl
        self.max_live = max_live
        self.per_client = per_client
        self._purged: tuple[datetime, int] | None = None  # when, and how many were live then

    def purge(self) -> int:
        """Delete expired states; returns how many are still live."""
        now, live = self.clock.now(), 0
        for key, record in self.store.list_records(STATES):
            try:
                expired = parse_time(str(record.get("expires"))) <= now
            except ValueError:
                expired = True
            if expired:
                self.store.delete_record(STATES, key)
            else:
                live += 1
        return live

    def issue(self, *args: Any, client: str = "", **kwargs: Any) -> str:
        """A new state for ``client`` (its network, as the route sees it). The client keeps
        at most ``per_client`` live states: beyond that its oldest is given up, so a flood
        from one place replaces its own states and never anyone else's. Its key prefixes the
        state, so this reads only the client's own rows."""
        now = self.clock.now()
        if self._purged is None or now - self._purged[0] >= self.ttl:
            self._purged = (now, self.purge())
        if self._purged[1] >= self.max_live:
            raise InvalidInput("too many Slack installs in progress; try again in a few minutes")
        prefix = hashlib.sha256(client.encode("utf-8", "replace")).hexdigest()[:12] + "."
        mine = sorted(
            (str(r.get("expires")), k) for k, r in self.store.list_records(STATES, prefix=prefix)
        )
        for _, key in mine[: max(0, len(mine) - self.per_client + 1)]:
            self.store.delete_record(STATES, key)
        state = prefix + secrets.token_urlsafe(24)
        self.store.add_record(STATES, state, {"expires": iso(now + self.ttl)})
        self._purged = (self._purged[0], self._purged[1] + 1)
        return state

    def consume(self, state: str, cookie: str | None = None) -> bool:
        """True once for a live state that the same browser started (``cookie`` holds it)."""
        if not state or len(state) > 200:
            return False
        if cookie is None or not same_secret(state, cookie):
            return False  # a state from someone else's browser: login CSRF
        record = self.store.get_record(STATES, state)
        if record is None:
            return False
        self.store.delete_record(STATES, state)
        return parse_time(record["expires"]) > self.clock.now()


class SlackInstaller:
    """`/slack/install` and `/slack/oauth/callback` without the web framework."""

    def __init__(self, store: Records, clock: Clock, config: NotifierConfig, base_url: str):
        if not config.slack_app_enabled:
            raise InvalidInput("Slack app not configured: set MAILBEACON_SLACK_CLIENT_ID/SECRET")
        self.config = config
        self.installations = StoreInstallationStore(store)
        self.states = StoreStateStore(store, clock)
        self.redirect_uri = base_url.rstrip("/") + CALLBACK_PATH

    def authorize_url(self, client: str = "") -> tuple[str, str]:
        """Slack's authorize URL and its state, which the caller keeps in the browser's cookie
        jar (STATE_ENTRY) so only the browser that started can finish. ``client``: who asks
        (their network), to bound the states each client holds."""
        assert self.config.slack_client_id
        generator = AuthorizeUrlGenerator(
            client_id=self.config.slack_client_id,
            scopes=list(self.config.slack_scopes),
            redirect_uri=self.redirect_uri,
        )
        state = self.states.issue(client=client)
        return generator.generate(state), state

    def complete(self, code: str, state: str, cookie: str | None = None) -> Installation:
        """Check the state against the browser's cookie, exchange the code at oauth.v2.access
        and save the installation."""
        if not self.states.consume(state, cookie):
            raise Unauthorized("unknown or expired OAuth state")
        if not code:
            raise InvalidInput("missing OAuth code")
        client = WebClient(base_url=self.config.slack_api_url)
        try:
            response = client.oauth_v2_access(
                client_id=self.config.slack_client_id or "",
                client_secret=self.config.slack_client_secret or "",
                code=code,
                redirect_uri=self.redirect_uri,
            )
        except SlackApiError as exc:
            raise InvalidInput(f"Slack refused the install: {exc.response.get('error')}") from exc
        data: dict[str, Any] = response.data  # type: ignore[assignment]
        team = data.get("team") or {}
        enterprise = data.get("enterprise") or {}
        installer = data.get("authed_user") or {}
        installation = Installation(
            app_id=data.get("app_id"),
            enterprise_id=enterprise.get("id"),
            enterprise_name=enterprise.get("name"),
            team_id=team.get("id"),
            team_name=team.get("name"),
            bot_token=data.get("access_token"),
            bot_id=data.get("bot_id"),
            bot_user_id=data.get("bot_user_id"),
            bot_scopes=data.get("scope") or "",
            user_id=installer.get("id") or "",
            user_token=installer.get("access_token"),
            user_scopes=installer.get("scope") or "",
            is_enterprise_install=bool(data.get("is_enterprise_install")),
            token_type=data.get("token_type"),
        )
        if not installation.bot_token:
            raise InvalidInput("Slack answered without a bot token")
        self.installations.save(installation)
        return installation
