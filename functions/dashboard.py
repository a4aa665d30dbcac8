"""The message page that alerts link to: one message's engagement, opened with a signed key.

Alerts reach only the owner (their Slack or Chat DM, their mailbox), so the link carries a
read-only, expiring key instead of asking for a sign-in. A wrong, expired or other message's
key is a 404, like a forged pixel token.
"""

from __future__ import annotations

import logging
from importlib import resources

from flask import Flask, Response, render_template_string, request

from mailbeacon.errors import InvalidToken, UnknownMessage
from mailbeacon.services import get_stats

from .bootstrap import App

log = logging.getLogger(__name__)

PAGE = (resources.files("functions") / "templates" / "message.html").read_text("utf-8")

HEADERS = {
    "Cache-Control": "private, no-store",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "X-Frame-Options": "DENY",
}


def register(web: Flask, app: App) -> None:
    @web.get("/dashboard/messages/<message_id>")
    def message_page(message_id: str) -> Response:
        try:
            claims = app.signer.verify(request.args.get("key", ""))
            if claims.kind != "view" or claims.message_id != message_id:
                raise InvalidToken("key is for something else")
            if (claims.expires or 0) < app.clock.now().timestamp():
                raise InvalidToken("key expired")
            stats = get_stats(app.store, message_id)
        except (InvalidToken, UnknownMessage) as exc:
            log.info("dashboard refused: %s", exc)
            return Response("not found\n", 404, HEADERS, mimetype="text/plain")
        return Response(render_template_string(PAGE, stats=stats), 200, HEADERS)
