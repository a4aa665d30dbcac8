"""One WSGI app for every HTTP path, served by `mailbeacon serve` and by Cloud Functions alike."""

from __future__ import annotations

import base64
import functools
import logging
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.urls import iri_to_uri

from mailbeacon.errors import InvalidToken, MailbeaconError
from mailbeacon.hits import build_hit, client_address
from mailbeacon.services import record_hit

from .bootstrap import App

log = logging.getLogger(__name__)

GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==")
assert len(GIF) == 43
NO_STORE = "no-store, no-cache, must-revalidate, private, max-age=0"
PLAIN = [("Content-Type", "text/plain; charset=utf-8"), ("Cache-Control", NO_STORE)]
NOT_FOUND_HEADERS = [*PLAIN, ("Content-Length", "10")]
HIT_HEADERS = tuple(
    (name, "HTTP_" + name.upper().replace("-", "_"))
    for name in (
        *("User-Agent", "Accept", "Referer", "Via"),
        *("Sec-Purpose", "Purpose", "X-Purpose", "X-Moz"),
    )
)
"""The request headers a Hit reads (hits.build_hit), and their WSGI environ keys."""
GIF_HEADERS = [
    ("Content-Type", "image/gif"),
    ("Content-Length", str(len(GIF))),
    ("Cache-Control", NO_STORE),
    ("Expires", "0"),
]


class TrackingEdge:
    """``GET|HEAD /p/{token}.gif`` and ``/c/{token}`` as bare WSGI, in front of Flask.

    These two routes are the traffic: every recipient's open and click. They skip Flask's
    request context, routing and response objects (which cost more than everything the pixel
    itself does) and read the few headers they need straight from the WSGI environ. Anything
    that is not exactly one of them falls through to the Flask app, which answers as before.
    """

    def __init__(self, app: App) -> None:
        self.app = app
        self.ip_key = app.ip_key
        self.trust_proxy = app.config.core.trust_proxy
        # Catalogue look-ups walk nine range sets; the same proxies and scanners come back
        # again and again. The addresses stay in memory only, never written anywhere.
        self.tagger = functools.lru_cache(maxsize=4096)(app.tagger)

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
        path: str = environ.get("PATH_INFO", "")
        if path.startswith("/p/") and path.endswith(".gif"):
            token, kind = path[3:-4], "open"
        elif path.startswith("/c/"):
            token, kind = path[3:], "click"
        else:
            return None
        if not token or "/" in token:
            return None
        method: str = environ.get("REQUEST_METHOD", "")
        if method != "GET" and method != "HEAD":
            return "405 METHOD NOT ALLOWED", [*PLAIN, ("Allow", "GET, HEAD")], b""
        known, url = self.record(token, kind, method, environ)
        if not known or (kind == "click" and not url):
            return "404 NOT FOUND", NOT_FOUND_HEADERS, b"not found\n"
        if kind == "open":
            return "200 OK", GIF_HEADERS, GIF
        headers = [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Length", "0"),
            ("Location", iri_to_uri(url)),  # type: ignore[arg-type]
            ("Cache-Control", NO_STORE),
            ("Referrer-Policy", "no-referrer"),
        ]
        return "302 FOUND", headers, b""

    def record(
        self, token: str, kind: str, method: str, environ: dict[str, Any]
    ) -> tuple[bool, str | None]:
        """Verify and record one hit. Returns (known token, redirect URL for clicks)."""
        app = self.app
        try:
            claims = app.signer.verify(token)
        except InvalidToken as exc:
            log.info("refused a %s token: %s", kind, exc)
            return False, None
        if claims.kind != kind:
            log.info("refused a %s token used as %s", claims.kind, kind)
            return False, None
        address = client_address(
            environ.get("REMOTE_ADDR"), environ.get("HTTP_X_FORWARDED_FOR"), self.trust_proxy
        )
        get = environ.get
        hit = build_hit(
            claims,
            method=method,
            headers={name: get(key) for name, key in HIT_HEADERS},
            address=address,
            at=app.clock.now(),
            ip_key=self.ip_key,
            tagger=self.tagger,
        )
        try:
            record_hit(app.bus, hit)
            app.health.recorded()
        except MailbeaconError as exc:
            log.error("could not record %s hit %s: %s", kind, hit.id, exc)
            app.health.failed(f"recording hits: {exc}")
        return True, claims.url


def create_app(app: App) -> Flask:
    """The Flask app over a bootstrapped Mailbeacon, with the tracking routes in front."""
    web = Flask("mailbeacon")
    web.config["MAILBEACON"] = app
    web.config["MAX_CONTENT_LENGTH"] = 1 << 20
    edge = TrackingEdge(app)
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
        status, payload = app.addon.handle(
            route, request.args.get("route"), request.headers, request.get_data()
        )
        return jsonify(payload), status

    from . import dashboard
    from .gmail_routes import register_gmail_routes
    from .notify_routes import register_notifier_routes

    register_notifier_routes(web, app)
    register_gmail_routes(web, app)
    dashboard.register(web, app)

    @web.get("/healthz")
    def healthz() -> tuple[Response, int]:
        report = app.health.report()
        return jsonify(report), 200 if report["status"] == "ok" else 503

    return web
