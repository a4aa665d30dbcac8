"""``/reminders/act``: a reminder's buttons as signed links, for the channels that cannot call
us back (email, Slack and Chat webhooks, Web Push notification actions).

``GET /reminders/act?t=TOKEN`` answers a page that names the action and asks once more with a
POST button: mail security scanners follow every link in a message (docs/classification.md),
and a link that snoozed on GET would be pressed by them. ``POST /reminders/act`` (the token in
the form or the query) acts, and says what it did. The token is signed, names the email and the
button, and expires (mailbeacon/tokens.py); anything else is 404.
"""

from __future__ import annotations

import html
import logging
from typing import Protocol

from flask import Blueprint, Flask, Response, request

from mailbeacon import reminders
from mailbeacon.clock import Clock
from mailbeacon.errors import InvalidInput, InvalidToken
from mailbeacon.records import Records
from mailbeacon.tokens import TokenClaims, TokenSigner

log = logging.getLogger(__name__)

HEADERS = {
    "Content-Security-Policy": "default-src 'none'; form-action 'self'; style-src 'unsafe-inline'",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


class ReminderRouteDeps(Protocol):
    """What the action links read of the running Mailbeacon."""

    @property
    def records(self) -> Records: ...

    @property
    def signer(self) -> TokenSigner: ...

    @property
    def clock(self) -> Clock: ...


def _page(status: int, title: str, body: str) -> Response:
    text = (
        '<!doctype html><html><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title></head>"
        f'<body style="font-family:sans-serif;max-width:36em;margin:3em auto">'
        f"<h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return Response(text, status, headers=HEADERS, mimetype="text/html")


class ReminderRoutes:
    def __init__(self, deps: ReminderRouteDeps) -> None:
        self.deps = deps

    def claims(self, token: str) -> TokenClaims | None:
        try:
            claims = self.deps.signer.verify(token)
        except InvalidToken as exc:
            log.info("refused a reminder link: %s", exc)
            return None
        now = self.deps.clock.now().timestamp()
        if claims.kind != "reminder" or not claims.action or (claims.expires or 0) < now:
            return None
        return claims

    def confirm(self) -> Response:
        token = request.args.get("t", "")
        claims = self.claims(token)
        if claims is None:
            return _page(404, "Link expired", "<p>This reminder link is not valid any more.</p>")
        label = reminders.LABELS[claims.action or "done"]
        form = (
            f'<form method="post" action="/reminders/act"><input type="hidden" name="t" '
            f'value="{html.escape(token)}"><button type="submit" id="act">{label}</button></form>'
        )
        return _page(200, f"{label}?", f"<p>Press the button to {label.lower()}.</p>{form}")

    def act(self) -> Response:
        claims = self.claims(request.form.get("t") or request.args.get("t", ""))
        if claims is None or claims.action is None:
            return _page(404, "Link expired", "<p>This reminder link is not valid any more.</p>")
        now = self.deps.clock.now()
        try:
            done = reminders.apply_action(self.deps.records, claims.message_id, claims.action, now)
        except InvalidInput as exc:
            return _page(409, "Nothing to do", f"<p>{html.escape(str(exc))}</p>")
        if done.state == "scheduled":
            text = f"I will remind you again at {done.due_at:%Y-%m-%d %H:%M} UTC."
            return _page(200, "Snoozed", f'<p id="outcome">{html.escape(text)}</p>')
        return _page(200, "Done", '<p id="outcome">No more reminders for this email.</p>')


def register_reminder_routes(web: Flask, deps: ReminderRouteDeps) -> None:
    views = ReminderRoutes(deps)
    routes = Blueprint("reminders", __name__)
    routes.add_url_rule("/reminders/act", view_func=views.confirm, methods=["GET"])
    routes.add_url_rule("/reminders/act", view_func=views.act, methods=["POST"], endpoint="act")
    web.register_blueprint(routes)
