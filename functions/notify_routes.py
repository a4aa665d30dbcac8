"""Thin HTTP routes for the notifier: Slack OAuth and interactivity, and the Chat app endpoint.

Each route verifies the request, calls one notifier function and maps errors to responses.
"""

from __future__ import annotations

import html
import logging

from flask import Blueprint, Flask, Response, jsonify, redirect, request

from mailbeacon.bootstrap import App
from mailbeacon.errors import InvalidInput, Unauthorized

log = logging.getLogger(__name__)


def register_notifier_routes(web: Flask, app: App) -> None:
    """Add /slack/install, /slack/oauth/callback, /slack/events, /slack/interactivity, /chat."""
    from notifier.chat_events import handle_chat_event
    from notifier.slack_actions import handle_event, handle_interaction, response_url_poster

    routes = Blueprint("notifier", __name__)
    config = app.notifier.config
    slack_base = app.urls.service("slack")  # the redirect URI Slack sends users back to
    chat_base = app.urls.service("chat")

    def installer():  # type: ignore[no-untyped-def]
        from notifier.slack_install import SlackInstaller

        return SlackInstaller(app.store, app.clock, config, slack_base)

    @routes.get("/slack/install")
    def slack_install() -> Response:
        try:
            return redirect(installer().authorize_url(), 302)  # type: ignore[return-value]
        except InvalidInput as exc:
            return Response(f"{exc}\n", 503, mimetype="text/plain")

    @routes.get("/slack/oauth/callback")
    def slack_callback() -> Response:
        if request.args.get("error"):
            return Response("Slack install cancelled.\n", 400, mimetype="text/plain")
        try:
            installation = installer().complete(
                request.args.get("code", ""), request.args.get("state", "")
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
        return slack(handle_interaction, respond)

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

    from addon.auth import ChatVerifier, bearer

    verifier = ChatVerifier(  # built once: it caches Google's certificates
        endpoint_audiences=config.chat_audience or (f"{chat_base}/chat",),
        project_numbers=config.chat_project_numbers,
        # A Chat app built as an add-on is signed by the project's add-on service agent.
        emails=tuple(dict.fromkeys((*config.chat_issuer_emails, *config.addon_service_accounts))),
        google_certs_url=config.google_certs_url,
        chat_certs_url=config.chat_certs_url,
    )

    @routes.post("/chat")
    def chat() -> tuple[Response, int]:
        try:
            verifier.verify(bearer(request.headers))
        except Unauthorized as exc:
            log.info("refused a Chat request: %s", exc)
            return jsonify({"error": "unauthorized"}), 401
        event = request.get_json(silent=True)
        if not isinstance(event, dict):
            return jsonify({"error": "expected a JSON Chat event"}), 400
        return jsonify(handle_chat_event(app.store, event)), 200

    web.register_blueprint(routes)
