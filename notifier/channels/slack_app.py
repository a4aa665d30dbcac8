"""Alerts in the sender's Slack DM from the workspace app: no per-user setup in a domain.

The DM is found by email (users.lookupByEmail, then conversations.open) in each workspace the
app is installed in, and remembered, so later alerts cost one chat.postMessage.
"""

from __future__ import annotations

from typing import Any

from mailbeacon.errors import DeliveryFailed
from mailbeacon.model import Settings
from mailbeacon.records import Namespace, Records
from mailbeacon.retry_after import header_seconds

from ..config import NotifierConfig
from ..post import Post
from ..retry import TRANSIENT_ERRORS, RetryPolicy

DMS = Namespace.SLACK_DMS
NOT_FOUND = {"users_not_found", "user_not_found"}
PERMANENT_ERRORS = {
    "invalid_auth",
    "not_authed",
    "account_inactive",
    "token_revoked",
    "token_expired",
    "no_permission",
    "missing_scope",
    "channel_not_found",
    "is_archived",
    "not_in_channel",
    "user_disabled",
    "cannot_dm_bot",
    "invalid_blocks",
    "msg_too_long",
    "team_access_not_granted",
    *NOT_FOUND,
}


class SlackAppChannel:
    """chat.postMessage into the user's DM with the app, with a "mute this email" button."""

    name = "slack-app"
    self_retrying = True

    def __init__(self, store: Records, config: NotifierConfig, policy: RetryPolicy) -> None:
        self.store = store
        self.config = config
        self.policy = policy

    def enabled(self, settings: Settings) -> bool:
        return settings.slack_app_dm

    def _client(self, token: str) -> Any:
        from slack_sdk.web import WebClient

        from ..slack_retry import slack_handlers

        return WebClient(
            token=token,
            base_url=self.config.slack_api_url,
            timeout=int(max(1, self.config.timeout_seconds)),
            retry_handlers=slack_handlers(self.policy),
        )

    def send(self, post: Post, settings: Settings) -> dict[str, str]:
        dm = self.store.get_record(DMS, settings.user) or self._find_dm(settings.user)
        client = self._client(self._token(dm))
        try:
            posted = self._call(client.chat_postMessage, channel=dm["channel"], **post.slack_app)
        except DeliveryFailed as exc:
            if exc.permanent:
                self.store.delete_record(DMS, settings.user)  # look it up afresh next time
            raise
        where = {k: str(dm[k]) for k in ("enterprise_id", "enterprise_install") if dm.get(k)}
        return {"team_id": dm["team_id"], **where, "channel": posted["channel"], "ts": posted["ts"]}

    def correct(self, post: Post, settings: Settings, sent: dict[str, str]) -> None:
        """chat.update of the alert in place (https://api.slack.com/methods/chat.update)."""
        client = self._client(self._token(sent))  # the install that posted it
        self._call(client.chat_update, channel=sent["channel"], ts=sent["ts"], **post.slack_app)

    def _token(self, dm: dict[str, Any]) -> str:
        """The bot token of the install that found the DM: a workspace's, or an Enterprise
        Grid org's (saved with no team; slack_sdk's stores look those up with
        ``is_enterprise_install=True``, ignoring the team)."""
        from ..slack_install import StoreInstallationStore

        found = StoreInstallationStore(self.store).find_bot(
            enterprise_id=dm.get("enterprise_id") or None,
            team_id=dm.get("team_id"),
            is_enterprise_install=bool(dm.get("enterprise_install")),
        )
        if found is None or not found.bot_token:
            raise DeliveryFailed(self.name, "the Slack app is not installed", permanent=True)
        return found.bot_token

    def _find_dm(self, email: str) -> dict[str, str]:
        from ..slack_install import StoreInstallationStore

        installations = StoreInstallationStore(self.store).all()
        if not installations:
            raise DeliveryFailed(self.name, "the Slack app is not installed", permanent=True)
        for installation in installations:
            client = self._client(installation.bot_token or "")
            try:
                found = self._call(client.users_lookupByEmail, email=email)
            except DeliveryFailed as exc:
                if exc.detail in NOT_FOUND and len(installations) > 1:
                    continue
                raise
            user = found["user"]
            opened = self._call(client.conversations_open, users=user["id"])
            dm = {
                # An org-wide install has no team: the user's own workspace is theirs.
                "team_id": installation.team_id or str(user.get("team_id") or ""),
                "user_id": user["id"],
                "channel": opened["channel"]["id"],
                "enterprise_id": installation.enterprise_id or "",
                "enterprise_install": bool(installation.is_enterprise_install),
            }
            self.store.put_record(DMS, email, dm)
            return dm
        raise DeliveryFailed(self.name, "users_not_found", permanent=True)

    def _call(self, method: Any, **kwargs: Any) -> Any:
        """Call a Web API method; translate SlackApiError and network errors at this boundary."""
        from slack_sdk.errors import SlackApiError

        try:
            return method(**kwargs)
        except SlackApiError as exc:
            response = exc.response
            status = response.status_code
            error = response.get("error") if isinstance(response.data, dict) else None
            error = error or f"HTTP {status}"
            if status == 429 or error == "ratelimited":
                raise DeliveryFailed(
                    self.name,
                    "ratelimited",
                    permanent=False,
                    retry_after=header_seconds(response.headers) or 1.0,
                    status=429,
                ) from exc
            permanent = error in PERMANENT_ERRORS or (400 <= status < 500 and status != 408)
            raise DeliveryFailed(self.name, error, permanent=permanent, status=status) from exc
        except TRANSIENT_ERRORS as exc:
            raise DeliveryFailed(self.name, f"Slack unreachable: {exc}", permanent=False) from exc
