"""Thin HTTP routes for the notifier: Slack OAuth and interactivity, and the Chat app endpoint.

Each route verifies the request, calls one notifier function and maps errors to responses.
"""

from __future__ import annotations

import functools
import html
import json
import logging
from urllib.parse import urlsplit

from flask import Blueprint, Flask, Response, jsonify, redirect, request

from mailbeacon.errors import InvalidInput, Unauthorized

from .bootstrap import App

log = logging.getLogger(__name__)


def register_notifier_routes(web: Flask, app: App) -> None:
    """Add /slack/install, /slack/oauth/callback, /slack/events, /slack/interactivity, /chat."""
    from notifier.chat_events import handle_chat_event
    from notifier.slack_actions import handle_event, handle_interaction, response_url_poster

    routes = Blueprint("notifier", __name__)
    config = app.config.notifier

    @routes.get("/slack/install")
    def slack_install() -> Response:
        from notifier.slack_install import CALLBACK_PATH, STATE_COOKIE

        try:
            url, state = app.slack_installer.authorize_url()
        except InvalidInput as exc:
            return Response(f"{exc}\n", 503, mimetype="text/plain")
        response = redirect(url, 302)
        # The path the browser comes back to: on the Slack function's own URL that is
        # /slack/slack/oauth/callback, and a cookie scoped to /slack/oauth/callback would not
        # be sent there.
        slack_base = app.urls.service("slack")
        response.set_cookie(
            STATE_COOKIE,
            state,
            max_age=600,
            path=urlsplit(slack_base + CALLBACK_PATH).path,
            secure=slack_base.startswith("https://"),
            httponly=True,
            samesite="Lax",  # sent on Slack's top-level redirect back to us
        )
        return response  # type: ignore[return-value]

    @routes.get("/slack/oauth/callback")
    def slack_callback() -> Response:
        if request.args.get("error"):
            return Response("Slack install cancelled.\n", 400, mimetype="text/plain")
        try:
            from notifier.slack_install import STATE_COOKIE

            installation = app.slack_installer.complete(
                request.args.get("code", ""),
                request.args.get("state", ""),
                request.cookies.get(STATE_COOKIE),
            )
        except Unauthorized as exc:
            log.info("refused Slack OAuth callback: %s", exc)
            return Response("Invalid or expired install link; start again.\n", 401)
        except InvalidInput as exc:
            return Response(f"{exc}\n", 400, mimetype="text/plain")
        team = html.escape(installation.team_name or installation.team_id or "your workspace")
        return Response(f"<p>Mailbeacon is installed in {team}.</p>", 200, mimetype="text/html")

    @routes.post("/slack/events")
    def slack_events() -> tuple[Response, int]:
        return slack(handle_event)

    respond = response_url_poster(config.slack_api_url, config.timeout_seconds)

    @routes.post("/slack/interactivity")
    def slack_interactivity() -> tuple[Response, int]:
        return slack(functools.partial(handle_interaction, book=app.settings), respond)

    def slack(handler, *extra) -> tuple[Response, int]:  # type: ignore[no-untyped-def]
        try:
            reply = handler(
                app.store,
                config.slack_signing_secret,
                app.clock,
                request.get_data(cache=True),
                dict(request.headers),
                *extra,
            )
        except Unauthorized as exc:
            log.info("refused a Slack request: %s", exc)
            return jsonify({"error": "unauthorized"}), 401
        except InvalidInput as exc:
            return jsonify({"error": str(exc)}), 400
        return jsonify(reply), 200

    from mailbeacon.google.identity import bearer

    @routes.post("/chat")
    def chat() -> tuple[Response, int]:
        try:
            app.chat_verifier.verify(bearer(request.headers))
        except Unauthorized as exc:
            log.info("refused a Chat request: %s", exc)
            return jsonify({"error": "unauthorized"}), 401
        try:
            event = json.loads(request.get_data())
        except (ValueError, RecursionError):  # Flask's silent get_json lets RecursionError out
            event = None
        if not isinstance(event, dict):
            return jsonify({"error": "expected a JSON Chat event"}), 400
        return jsonify(handle_chat_event(app.store, app.settings, event)), 200

    web.register_blueprint(routes)
