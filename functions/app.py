"""One WSGI app for every HTTP path, served by `mailbeacon serve` and by Cloud Functions alike."""

from __future__ import annotations

import base64
import logging

from flask import Flask, Response, jsonify, request

from mailbeacon.errors import InvalidToken, MailbeaconError
from mailbeacon.hits import build_hit, client_address
from mailbeacon.services import record_hit

from .bootstrap import App

log = logging.getLogger(__name__)

GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==")
assert len(GIF) == 43
NO_STORE = "no-store, no-cache, must-revalidate, private, max-age=0"


def create_app(app: App) -> Flask:
    """The Flask app over a bootstrapped Mailbeacon."""
    web = Flask("mailbeacon")
    web.config["MAILBEACON"] = app
    web.config["MAX_CONTENT_LENGTH"] = 1 << 20
    ip_key = app.ip_key

    def record(token: str, kind: str) -> tuple[bool, str | None]:
        """Verify and record one hit. Returns (known token, redirect URL for clicks)."""
        try:
            claims = app.signer.verify(token)
        except InvalidToken as exc:
            log.info("refused a %s token: %s", kind, exc)
            return False, None
        if claims.kind != kind:
            log.info("refused a %s token used as %s", claims.kind, kind)
            return False, None
        address = client_address(
            request.remote_addr, request.headers.get("X-Forwarded-For"), app.config.core.trust_proxy
        )
        hit = build_hit(
            claims,
            method=request.method,
            headers=request.headers,
            address=address,
            at=app.clock.now(),
            ip_key=ip_key,
            tagger=app.tagger,
        )
        try:
            record_hit(app.bus, hit)
            app.health.recorded()
        except MailbeaconError as exc:
            log.error("could not record %s hit %s: %s", kind, hit.id, exc)
            app.health.failed(f"recording hits: {exc}")
        return True, claims.url

    @web.route("/p/<token>.gif", methods=["GET", "HEAD"])
    def pixel(token: str) -> Response:
        known, _ = record(token, "open")
        if not known:
            return Response("not found\n", 404, {"Cache-Control": NO_STORE}, mimetype="text/plain")
        return Response(GIF, 200, {"Cache-Control": NO_STORE, "Expires": "0"}, mimetype="image/gif")

    @web.route("/c/<token>", methods=["GET", "HEAD"])
    def click(token: str) -> Response:
        known, url = record(token, "click")
        if not known or not url:
            return Response("not found\n", 404, {"Cache-Control": NO_STORE}, mimetype="text/plain")
        return Response(
            "",
            302,
            {"Location": url, "Cache-Control": NO_STORE, "Referrer-Policy": "no-referrer"},
        )

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
