"""Thin HTTP routes for the notifier: Slack OAuth and interactivity, and the Chat app endpoint.

Each route verifies the request, calls one notifier function and maps errors to responses.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from flask import Blueprint, Flask, Response, jsonify, redirect, request

from mailbeacon.bus import NOTIFY, Bus
from mailbeacon.clock import Clock
from mailbeacon.config import Config
from mailbeacon.errors import InvalidInput, Unauthorized
from mailbeacon.google.identity import bearer
from mailbeacon.hits import client_address, network_prefix
from mailbeacon.json_input import read_json
from mailbeacon.session_cookie import NAME as JAR
from mailbeacon.session_cookie import CookieJar
from mailbeacon.settings import SettingsBook
from mailbeacon.store import Store
from mailbeacon.urls import Urls
from notifier.chat_events import handle_chat_event
from notifier.config import NotifierConfig
from notifier.slack_actions import INTERACTION, acknowledge, handle_event

if TYPE_CHECKING:
    from notifier.slack_install import SlackInstaller

log = logging.getLogger(__name__)

T = TypeVar("T")
SlackVerified = Callable[[str | None, Clock, bytes, dict[str, str]], T]
"""A Slack-signed request's handler: (signing secret, clock, raw body, headers), verified first."""
NotifierStore = Store
"""Slack's actions and events and the Chat app take the whole store (settings through the
SettingsBook, installations and Chat spaces as records): narrowed when they are."""


class TokenVerifier(Protocol):
    """Google-signed bearer tokens: the claims, or Unauthorized."""

    def verify(self, token: str) -> Mapping[str, Any]: ...


class NotifierSettings(Protocol):
    @property
    def notifier(self) -> NotifierConfig: ...

    @property
    def core(self) -> Config:
        """``trust_proxy``: which address is a request's client."""
        ...


class NotifierRouteDeps(Protocol):
    """What the Slack and Chat routes read of the running Mailbeacon."""

    @property
    def config(self) -> NotifierSettings: ...

    @property
    def store(self) -> NotifierStore: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def settings(self) -> SettingsBook:
        """The one writer of users' settings (Slack's mute button, the Chat app's DM)."""
        ...

    @property
    def urls(self) -> Urls: ...

    @property
    def bus(self) -> Bus:
        """Where an acknowledged Slack interaction's work goes (the notifier's topic)."""
        ...

    @property
    def cookies(self) -> CookieJar:
        """The ``__session`` jar (the Slack install's state is one of its entries)."""
        ...

    @property
    def slack_installer(self) -> SlackInstaller:
        """Built on first use: only the Slack function needs it."""
        ...

    @property
    def chat_verifier(self) -> TokenVerifier:
        """Built on first use: only the Chat function needs it."""
        ...


class NotifierRoutes:
    """The views, over the dependencies; parts only one function uses are read per request."""

    def __init__(self, deps: NotifierRouteDeps) -> None:
        self.deps = deps

    def _keep(self, response: Response, entries: Any) -> Response:
        """The jar back to the browser: path ``/`` reaches the callback on the Slack
        function's own URL (``/slack/slack/oauth/callback``) and behind a custom domain."""
        secure = self.deps.urls.service("slack").startswith("https://")
        response.headers.add("Set-Cookie", self.deps.cookies.set_cookie(entries, secure=secure))
        return response

    def slack_install(self) -> Response:
        from notifier.slack_install import STATE_ENTRY, STATE_SECONDS  # slack_sdk: on first use

        address = client_address(
            request.remote_addr,
            request.headers.get("X-Forwarded-For"),
            self.deps.config.core.trust_proxy,
        )
        try:
            url, state = self.deps.slack_installer.authorize_url(client=network_prefix(address))
        except InvalidInput as exc:
            return Response(f"{exc}\n", 503, mimetype="text/plain")
        # Sent on Slack's top-level redirect back to us (SameSite=Lax): only the browser that
        # started the install can finish it.
        entries = self.deps.cookies.put(request.cookies.get(JAR), STATE_ENTRY, state, STATE_SECONDS)
        return self._keep(redirect(url, 302), entries)  # type: ignore[arg-type]

    def slack_callback(self) -> Response:
        if request.args.get("error"):
            return Response("Slack install cancelled.\n", 400, mimetype="text/plain")
        from notifier.slack_install import STATE_ENTRY

        jar = request.cookies.get(JAR)
        started = self.deps.cookies.get(jar, STATE_ENTRY)
        try:
            installation = self.deps.slack_installer.complete(
                request.args.get("code", ""),
                request.args.get("state", ""),
                started if isinstance(started, str) else None,
            )
        except Unauthorized as exc:
            log.info("refused Slack OAuth callback: %s", exc)
            return Response("Invalid or expired install link; start again.\n", 401)
        except InvalidInput as exc:
            return Response(f"{exc}\n", 400, mimetype="text/plain")
        team = html.escape(installation.team_name or installation.team_id or "your workspace")
        done = Response(f"<p>Mailbeacon is installed in {team}.</p>", 200, mimetype="text/html")
        return self._keep(done, self.deps.cookies.drop(jar, STATE_ENTRY))

    def slack_events(self) -> tuple[Response, int]:
        """Verified, then answered with the handler's reply as JSON."""
        return self._slack(
            lambda *signed: handle_event(self.deps.store, *signed),
            lambda reply: (jsonify(reply), 200),
        )

    def slack_interactivity(self) -> tuple[Response, int]:
        """Verified, acknowledged at once with an empty 200; a mute is done after, by the
        notifier's consumer (one publish here, no store read, no call to Slack)."""
        return self._slack(acknowledge, self._hand_on)

    def _hand_on(self, work: dict[str, Any] | None) -> tuple[Response, int]:
        if work is not None:
            self.deps.bus.publish(NOTIFY, {INTERACTION: work})
        return Response("", 200), 200

    def _slack(
        self, handler: SlackVerified[T], answer: Callable[[T], tuple[Response, int]]
    ) -> tuple[Response, int]:
        """A Slack-signed request handed to ``handler`` (which verifies it first) and its result
        to ``answer``; a refusal is JSON: 401 unverified, 400 malformed."""
        try:
            result = handler(
                self.deps.config.notifier.slack_signing_secret,
                self.deps.clock,
                request.get_data(cache=True),
                dict(request.headers),
            )
        except Unauthorized as exc:
            log.info("refused a Slack request: %s", exc)
            return jsonify({"error": "unauthorized"}), 401
        except InvalidInput as exc:
            return jsonify({"error": str(exc)}), 400
        return answer(result)

    def chat(self) -> tuple[Response, int]:
        try:
            self.deps.chat_verifier.verify(bearer(request.headers))
        except Unauthorized as exc:
            log.info("refused a Chat request: %s", exc)
            return jsonify({"error": "unauthorized"}), 401
        try:
            event = read_json(request.get_data(), what="the Chat event")
        except InvalidInput:
            event = None
        if not isinstance(event, dict):
            return jsonify({"error": "expected a JSON Chat event"}), 400
        reply = handle_chat_event(self.deps.store, self.deps.settings, event, self.deps.clock)
        return jsonify(reply), 200


def register_notifier_routes(web: Flask, deps: NotifierRouteDeps) -> None:
    """Add /slack/install, /slack/oauth/callback, /slack/events, /slack/interactivity, /chat."""
    views = NotifierRoutes(deps)
    routes = Blueprint("notifier", __name__)
    routes.add_url_rule("/slack/install", view_func=views.slack_install, methods=["GET"])
    routes.add_url_rule("/slack/oauth/callback", view_func=views.slack_callback, methods=["GET"])
    routes.add_url_rule("/slack/events", view_func=views.slack_events, methods=["POST"])
    routes.add_url_rule(
        "/slack/interactivity", view_func=views.slack_interactivity, methods=["POST"]
    )
    routes.add_url_rule("/chat", view_func=views.chat, methods=["POST"])
    web.register_blueprint(routes)
