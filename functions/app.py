"""One WSGI app for every HTTP path, served by `mailbeacon serve` and by Cloud Functions alike."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol

from flask import Flask, Response, jsonify, request
from werkzeug.urls import iri_to_uri

from mailbeacon.errors import MailbeaconError
from mailbeacon.pipeline import record_hit

from .dashboard.ports import DashboardConfig, DashboardDeps
from .edge.ports import Tracking
from .edge.tracking import FORWARDED_FOR, GIF, HIT_HEADERS, NO_STORE, Tracker, route
from .gmail_routes import GmailRouteDeps, HasSentWatch
from .loopback import dev_token, local_request
from .notify_routes import NotifierRouteDeps, NotifierSettings
from .reminder_routes import ReminderRouteDeps

log = logging.getLogger(__name__)

PLAIN = [("Content-Type", "text/plain; charset=utf-8"), ("Cache-Control", NO_STORE)]
NOT_FOUND_HEADERS = [*PLAIN, ("Content-Length", "10")]
ENVIRON_KEYS = tuple(
    (name, "HTTP_" + name.upper().replace("-", "_")) for name in (*HIT_HEADERS, FORWARDED_FOR)
)
"""The request headers a hit reads, and their WSGI environ keys."""
GIF_HEADERS = [
    ("Content-Type", "image/gif"),
    ("Content-Length", str(len(GIF))),
    ("Cache-Control", NO_STORE),
    ("Expires", "0"),
]


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


class TrackingEdge:
    """``GET|HEAD /p/{token}.gif`` and ``/c/{token}`` as bare WSGI, in front of Flask.

    Cloud Functions enter here (`mailbeacon serve` answers these on its event loop,
    functions/edge). They skip Flask's request context, routing and response objects (which
    cost more than everything the pixel itself does) and read the few headers they need
    straight from the WSGI environ. Anything that is not exactly one of them falls through
    to the Flask app, which answers as before.
    """

    def __init__(self, tracking: Tracking) -> None:
        self.tracker = Tracker(tracking)
        self.bus = tracking.bus

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes] | None:
        """WSGI: answer a tracking request, or None for the next app to answer."""
        answer = self.answer(environ)
        if answer is None:
            return None
        status, headers, body = answer
        start_response(status, headers)
        return [] if environ["REQUEST_METHOD"] == "HEAD" else [body]

    def answer(self, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes] | None:
        """(status, headers, body) for a tracking path, else None."""
        found = route(environ.get("PATH_INFO", ""))
        if found is None:
            return None
        get = environ.get
        headers = {name: value for name, key in ENVIRON_KEYS if (value := get(key)) is not None}
        outcome = self.tracker.outcome(
            *found, get("REQUEST_METHOD", ""), headers, get("REMOTE_ADDR")
        )
        if outcome.hit is not None:
            try:
                record_hit(self.bus, outcome.hit)
                self.tracker.recorded()
            except MailbeaconError as exc:
                self.tracker.failed(outcome.hit, str(exc))
        if outcome.status == 200:
            return "200 OK", GIF_HEADERS, GIF
        if outcome.status == 302:
            headers_out = [
                ("Content-Type", "text/html; charset=utf-8"),
                ("Content-Length", "0"),
                ("Location", iri_to_uri(outcome.location)),  # type: ignore[arg-type]
                ("Cache-Control", NO_STORE),
                ("Referrer-Policy", "no-referrer"),
            ]
            return "302 FOUND", headers_out, b""
        if outcome.status == 405:
            return "405 METHOD NOT ALLOWED", [*PLAIN, ("Allow", "GET, HEAD")], b""
        return "404 NOT FOUND", NOT_FOUND_HEADERS, b"not found\n"


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
        if dev_token(request.headers) and not local_request(request.environ):
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
