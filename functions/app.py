"""One WSGI app for every HTTP path, served by `mailbeacon serve` and by Cloud Functions alike."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol

from flask import Flask, Response, jsonify, request

from .dashboard.ports import DashboardConfig, DashboardDeps
from .edge.ports import Tracking
from .gmail_routes import GmailRouteDeps, HasSentWatch
from .loopback import remote_dev_token
from .notify_routes import NotifierRouteDeps, NotifierSettings
from .reminder_routes import ReminderRouteDeps
from .tracking_edge import NOT_FOUND_HEADERS, TrackingEdge

log = logging.getLogger(__name__)


class AddonHandler(Protocol):
    """The add-on's endpoint (addon.endpoint.AddonEndpoint)."""

    def handle(
        self, path: str, query_route: str | None, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, dict[str, Any]]: ...


class HealthReport(Protocol):
    def report(self) -> dict[str, Any]: ...


class WebConfig(DashboardConfig, NotifierSettings, HasSentWatch, Protocol):
    """The configuration every part of the web app reads."""


class WebDeps(DashboardDeps, NotifierRouteDeps, GmailRouteDeps, ReminderRouteDeps, Protocol):
    """What the one web app reads: each part's own Protocol, and the tracking routes' parts,
    the add-on's endpoint and the health report."""

    @property
    def config(self) -> WebConfig: ...

    @property
    def tracking(self) -> Tracking: ...

    @property
    def addon(self) -> AddonHandler: ...

    @property
    def health(self) -> HealthReport: ...


def create_app(app: WebDeps) -> Flask:
    """The Flask app over a bootstrapped Mailbeacon, with the tracking routes in front."""
    web = Flask("mailbeacon")
    web.config["MAILBEACON"] = app
    web.config["MAX_CONTENT_LENGTH"] = 1 << 20
    edge = TrackingEdge(app.tracking)
    flask_wsgi = web.wsgi_app

    def wsgi_app(environ: dict[str, Any], start_response: Any) -> Any:
        answer = edge(environ, start_response)
        return answer if answer is not None else flask_wsgi(environ, start_response)

    web.wsgi_app = wsgi_app  # type: ignore[method-assign]

    @web.route("/p/<token>.gif", methods=["GET", "HEAD"])
    @web.route("/c/<token>", methods=["GET", "HEAD"])
    def tracking(token: str) -> Response:
        """The same answers through Flask's own dispatch (Cloud Functions enters there)."""
        status, headers, body = edge.answer(request.environ) or ("404", NOT_FOUND_HEADERS, b"")
        return Response(body, int(status[:3]), [h for h in headers if h[0] != "Content-Length"])

    @web.post("/addon", defaults={"route": ""})
    @web.post("/addon/<path:route>")
    def addon(route: str) -> tuple[Response, int]:
        if remote_dev_token(request.headers, request.environ):
            return jsonify({"error": "dev tokens work only from this computer (loopback)"}), 401
        status, payload = app.addon.handle(
            route, request.args.get("route"), request.headers, request.get_data()
        )
        return jsonify(payload), status

    from . import dashboard
    from .gmail_routes import register_gmail_routes
    from .notify_routes import register_notifier_routes
    from .outage import register_outage_answers
    from .reminder_routes import register_reminder_routes

    register_notifier_routes(web, app)
    register_gmail_routes(web, app)
    register_reminder_routes(web, app)
    dashboard.register(web, app)
    register_outage_answers(web)

    @web.get("/healthz")
    def healthz() -> tuple[Response, int]:
        report = app.health.report()
        return jsonify(report), 200 if report["status"] == "ok" else 503

    return web
