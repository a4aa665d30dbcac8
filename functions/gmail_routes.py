"""``POST /gmail/push``: Gmail's sent-mail notifications, pushed by a Pub/Sub subscription.

The push carries an OIDC token of the subscription's service account
(MAILBEACON_GMAIL_PUSH_SERVICE_ACCOUNT), for the audience ``{public URL}/gmail/push``; anything
else is 401 and changes nothing. The envelope is Pub/Sub's push format
(https://cloud.google.com/pubsub/docs/push#receive_push): ``{"message": {"data": base64 of
Gmail's {"emailAddress", "historyId"}, "messageId", ...}, "subscription"}``
(https://developers.google.com/gmail/api/guides/push#receiving_notifications).
A 2xx acknowledges; a 5xx (Gmail or the store unreachable) has Pub/Sub retry.

``POST /gmail/renew``: Cloud Scheduler's daily call (an OIDC token of the same account, for
``{public URL}/gmail/renew``) renews every sender's watch, as `serve` does by itself locally:
Gmail stops a watch after seven days.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request

from mailbeacon.errors import MailbeaconError, Unauthorized

from .bootstrap import App

log = logging.getLogger(__name__)


def _notification(body: bytes) -> dict[str, Any] | None:
    try:
        envelope = json.loads(body)
        data = json.loads(base64.b64decode(envelope["message"]["data"], validate=True))
    except (ValueError, KeyError, TypeError, binascii.Error, RecursionError):
        return None
    ok = isinstance(data, dict) and isinstance(data.get("emailAddress"), str)
    return data if ok else None


def register_gmail_routes(web: Flask, app: App) -> None:
    routes = Blueprint("gmail", __name__)

    def refused(path: str) -> tuple[Response, int] | None:
        """None when the request is Google-signed for exactly ``path``; else the answer."""
        if app.mailbox is None or not app.config.sentwatch.push_service_accounts:
            return jsonify({"error": "the sent-mail watch is not set up here"}), 404
        from mailbeacon.google.identity import bearer

        try:
            claims = app.gmail_push_verifier.verify(bearer(request.headers))
        except Unauthorized as exc:
            log.info("refused a call to %s: %s", path, exc)
            return jsonify({"error": "unauthorized"}), 401
        if not str(claims.get("aud", "")).endswith(path):  # a push token is not a renewal
            return jsonify({"error": "unauthorized"}), 401
        return None

    @routes.post("/gmail/push")
    def gmail_push() -> tuple[Response, int]:
        if answer := refused("/gmail/push"):
            return answer
        data = _notification(request.get_data())
        if data is None:
            return jsonify({"error": "expected a Pub/Sub push of a Gmail notification"}), 400
        try:
            matched = app.consumers.gmail_push(data)
        except MailbeaconError as exc:
            log.warning("gmail push not handled, Pub/Sub will retry: %s", exc)
            return jsonify({"error": "try again"}), 503
        return jsonify({"matched": len(matched)}), 200

    @routes.post("/gmail/renew")
    def gmail_renew() -> tuple[Response, int]:
        if answer := refused("/gmail/renew"):
            return answer
        try:
            renewed = app.consumers.renew_gmail_watches()
        except MailbeaconError as exc:
            log.warning("gmail watch renewal failed, Scheduler will retry: %s", exc)
            return jsonify({"error": "try again"}), 503
        return jsonify({"renewed": renewed}), 200

    web.register_blueprint(routes)
