"""``POST /gmail/push``: Gmail's sent-mail notifications, pushed by a Pub/Sub subscription.

The push carries an OIDC token of the subscription's service account
(MAILBEACON_GMAIL_PUSH_SERVICE_ACCOUNT), for the audience ``{public URL}/gmail/push``; anything
else is 401 and changes nothing. The envelope is Pub/Sub's push format
(https://cloud.google.com/pubsub/docs/push#receive_push): ``{"message": {"data": base64 of
Gmail's {"emailAddress", "historyId"}, "messageId", ...}, "subscription"}``
(https://developers.google.com/gmail/api/guides/push#receiving_notifications).
A 2xx acknowledges; a 5xx (Gmail or the store unreachable) has Pub/Sub retry. A push that is
not a Gmail notification is acknowledged with a warning in the log: retrying cannot mend it,
and any other answer has Pub/Sub redeliver it for the subscription's 7-day retention.

``POST /gmail/renew``: Cloud Scheduler's daily call (an OIDC token of the same account, for
``{public URL}/gmail/renew``) renews every sender's watch, as `serve` does by itself locally:
Gmail stops a watch after seven days.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Mapping
from typing import Any, Protocol

from flask import Blueprint, Flask, Response, jsonify, request

from mailbeacon.errors import InvalidInput, MailbeaconError, Unauthorized
from mailbeacon.json_input import read_json
from mailbeacon.sentwatch import Mailbox, SentWatchConfig

log = logging.getLogger(__name__)


class TokenVerifier(Protocol):
    """Google-signed bearer tokens: the claims, or Unauthorized."""

    def verify(self, token: str) -> Mapping[str, Any]: ...


class HasSentWatch(Protocol):
    @property
    def sentwatch(self) -> SentWatchConfig: ...


class GmailConsumers(Protocol):
    """The sent-mail watch's use cases (functions.consumers.Consumers has them)."""

    def gmail_push(self, data: dict[str, Any]) -> list[str]:
        """Record the tracked mail sent since the last notification; our matched ids."""
        ...

    def renew_gmail_watches(self) -> int:
        """Renew every sender's watch and mark drafts never sent; how many were renewed."""
        ...


class GmailRouteDeps(Protocol):
    """What /gmail/push and /gmail/renew read of the running Mailbeacon."""

    @property
    def config(self) -> HasSentWatch: ...

    @property
    def mailbox(self) -> Mailbox | None:
        """Gmail as each user; None when the sent-mail watch is not set up."""
        ...

    @property
    def gmail_push_verifier(self) -> TokenVerifier: ...

    @property
    def consumers(self) -> GmailConsumers: ...


def _notification(body: bytes) -> dict[str, Any] | None:
    try:
        envelope = read_json(body, what="the push")
        data = read_json(base64.b64decode(envelope["message"]["data"], validate=True))
    except (InvalidInput, KeyError, TypeError, binascii.Error):
        return None
    ok = isinstance(data, dict) and isinstance(data.get("emailAddress"), str)
    return data if ok else None


class GmailRoutes:
    """The two views, over the dependencies."""

    def __init__(self, deps: GmailRouteDeps) -> None:
        self.deps = deps

    def refused(self, path: str) -> tuple[Response, int] | None:
        """None when the request is Google-signed for exactly ``path``; else the answer."""
        deps = self.deps
        if deps.mailbox is None or not deps.config.sentwatch.push_service_accounts:
            return jsonify({"error": "the sent-mail watch is not set up here"}), 404
        from mailbeacon.google.identity import bearer

        try:
            claims = deps.gmail_push_verifier.verify(bearer(request.headers))
        except Unauthorized as exc:
            log.info("refused a call to %s: %s", path, exc)
            return jsonify({"error": "unauthorized"}), 401
        if not str(claims.get("aud", "")).endswith(path):  # a push token is not a renewal
            return jsonify({"error": "unauthorized"}), 401
        return None

    def gmail_push(self) -> tuple[Response, int]:
        if answer := self.refused("/gmail/push"):
            return answer
        data = _notification(request.get_data())
        if data is None:
            log.warning("acknowledging a push to /gmail/push that is not a Gmail notification")
            return jsonify({"ignored": "not a Pub/Sub push of a Gmail notification"}), 200
        try:
            matched = self.deps.consumers.gmail_push(data)
        except MailbeaconError as exc:
            log.warning("gmail push not handled, Pub/Sub will retry: %s", exc)
            return jsonify({"error": "try again"}), 503
        return jsonify({"matched": len(matched)}), 200

    def gmail_renew(self) -> tuple[Response, int]:
        if answer := self.refused("/gmail/renew"):
            return answer
        try:
            renewed = self.deps.consumers.renew_gmail_watches()
        except MailbeaconError as exc:
            log.warning("gmail watch renewal failed, Scheduler will retry: %s", exc)
            return jsonify({"error": "try again"}), 503
        return jsonify({"renewed": renewed}), 200


def register_gmail_routes(web: Flask, deps: GmailRouteDeps) -> None:
    views = GmailRoutes(deps)
    routes = Blueprint("gmail", __name__)
    routes.add_url_rule("/gmail/push", view_func=views.gmail_push, methods=["POST"])
    routes.add_url_rule("/gmail/renew", view_func=views.gmail_renew, methods=["POST"])
    web.register_blueprint(routes)
