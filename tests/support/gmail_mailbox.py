"""A Gmail mailbox on 127.0.0.1 speaking the Gmail API's JSON, for the sent-mail watch.

Every shape follows Google's published reference and the gmail v1 discovery document that
google-api-python-client ships (googleapiclient/discovery_cache/documents/gmail.v1.json,
revision 20261005 in the installed client):
- POST users/{userId}/watch -> WatchResponse ``{"historyId", "expiration"}`` (epoch ms, as
  strings): https://developers.google.com/gmail/api/reference/rest/v1/users/watch
- GET users/{userId}/history?startHistoryId&labelId&historyTypes -> ListHistoryResponse
  ``{"history": [{"id", "messages", "messagesAdded": [{"message"}]}], "historyId"}``; a
  start id older than Gmail keeps answers 404 ("startHistoryId ... too old ... returns an
  HTTP 404 error code. Your application should perform a full sync"):
  https://developers.google.com/gmail/api/reference/rest/v1/users.history/list
- GET users/{userId}/messages?labelIds&maxResults -> ``{"messages": [{"id", "threadId"}]}``
- GET users/{userId}/messages/{id}?format=full -> Message with ``internalDate`` (epoch ms as a
  string) and ``payload`` (MessagePart: headers, parts, body.data base64url):
  https://developers.google.com/gmail/api/reference/rest/v1/users.messages/get
- GET/POST users/{userId}/labels -> ``{"labels": [Label]}`` / Label; a duplicate name is 409
  https://developers.google.com/gmail/api/reference/rest/v1/users.labels/create
- POST users/{userId}/messages/{id}/modify ``{"addLabelIds"}`` -> Message
  https://developers.google.com/gmail/api/reference/rest/v1/users.messages/modify
Errors use Google's JSON error shape ``{"error": {"code", "message", "status"}}``. Tokens come
from the JWT-bearer grant at ``/token``, one per delegated user (the assertion's ``sub``).
"""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

from .gmail_api import FakeGmail, google_error
from .http import LoopbackServer

Answer = tuple[int, dict[str, str], bytes]
PREFIX = "/gmail/v1/users/me/"


def ok(data: Any) -> Answer:
    return 200, {"Content-Type": "application/json"}, json.dumps(data).encode()


@dataclass
class Box:
    """One user's mailbox: messages, labels and the history of additions to SENT."""

    history_id: int = 1000
    oldest_kept: int = 0
    """History ids below this are gone (answer 404)."""
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    history: list[tuple[int, str]] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)  # id -> name
    watches: list[dict[str, Any]] = field(default_factory=list)


class FakeMailboxes:
    """Gmail for several delegated users. ``send`` puts a message in a user's SENT."""

    def __init__(self) -> None:
        self.boxes: dict[str, Box] = {}
        self.calls: list[tuple[str, str, str]] = []  # (user, method, path without query)
        self._lock = threading.Lock()
        self.server = LoopbackServer(self._respond)

    @property
    def url(self) -> str:
        return self.server.url

    def box(self, user: str) -> Box:
        return self.boxes.setdefault(user, Box())

    def send(
        self,
        user: str,
        *,
        html: str,
        to: str,
        cc: str = "",
        at: datetime,
        rfc_id: str,
    ) -> str:
        """The user sends a message: it lands in SENT and in the history."""
        with self._lock:
            box = self.box(user)
            box.history_id += 7  # history ids grow, not by one
            gmail_id = f"18c{box.history_id:013x}"
            data = base64.urlsafe_b64encode(html.encode()).decode().rstrip("=")
            plain = base64.urlsafe_b64encode(b"Hello").decode().rstrip("=")
            headers = [
                {"name": "From", "value": f"<{user}>"},
                {"name": "To", "value": to},
                {"name": "Subject", "value": "Proposal"},
                {"name": "Message-ID", "value": rfc_id},
            ]
            if cc:
                headers.append({"name": "Cc", "value": cc})
            box.messages[gmail_id] = {
                "id": gmail_id,
                "threadId": gmail_id,
                "labelIds": ["SENT"],
                "snippet": "Hello",
                "historyId": str(box.history_id),
                "internalDate": str(int(at.timestamp() * 1000)),
                "payload": {
                    "partId": "",
                    "mimeType": "multipart/alternative",
                    "filename": "",
                    "headers": headers,
                    "body": {"size": 0},
                    "parts": [
                        {
                            "partId": "0",
                            "mimeType": "text/plain",
                            "filename": "",
                            "headers": [],
                            "body": {"size": 5, "data": plain},
                        },
                        {
                            "partId": "1",
                            "mimeType": "text/html",
                            "filename": "",
                            "headers": [],
                            "body": {"size": len(html), "data": data},
                        },
                    ],
                },
                "sizeEstimate": 900,
            }
            box.history.append((box.history_id, gmail_id))
            return gmail_id

    def forget_history_before(self, user: str, history_id: int) -> None:
        """Gmail keeps history for a limited time: older start ids answer 404."""
        self.box(user).oldest_kept = history_id

    def key_file(self, directory: Path) -> Path:
        return FakeGmail.key_file(self, directory)  # type: ignore[arg-type]

    def _respond(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Answer:
        parts = urlsplit(target)
        path, query = parts.path, parse_qs(parts.query)
        if path == "/token":
            form = dict(parse_qsl(body.decode()))
            claims = json.loads(base64.urlsafe_b64decode(form["assertion"].split(".")[1] + "=="))
            token = "ya29." + base64.urlsafe_b64encode(claims["sub"].encode()).decode()
            return ok({"access_token": token, "expires_in": 3600, "token_type": "Bearer"})
        auth = {k.lower(): v for k, v in headers.items()}.get("authorization", "")
        if not auth.startswith("Bearer ya29.") or not path.startswith(PREFIX):
            return google_error(401, "UNAUTHENTICATED", "Invalid Credentials")
        user = base64.urlsafe_b64decode(auth.removeprefix("Bearer ya29.")).decode()
        with self._lock:
            self.calls.append((user, method, path))
            return self._route(self.box(user), method, path[len(PREFIX) :], query, body)

    def _route(
        self, box: Box, method: str, path: str, query: dict[str, list[str]], body: bytes
    ) -> Answer:
        if method == "POST" and path == "watch":
            request = json.loads(body)
            box.watches.append(request)
            return ok({"historyId": str(box.history_id), "expiration": "1893456000000"})
        if method == "GET" and path == "history":
            start = int(query["startHistoryId"][0])
            if start < box.oldest_kept:
                return google_error(404, "NOT_FOUND", "Requested entity was not found.")
            records = []
            for hid, gmail_id in box.history:
                if hid > start and "SENT" in query.get("labelId", ["SENT"]):
                    ref = {"id": gmail_id, "threadId": gmail_id}
                    added = {**ref, "labelIds": ["SENT"]}
                    records.append(
                        {"id": str(hid), "messages": [ref], "messagesAdded": [{"message": added}]}
                    )
            answer: dict[str, Any] = {"historyId": str(box.history_id)}
            if records:
                answer["history"] = records
            return ok(answer)
        if method == "GET" and path == "messages":
            limit = int(query.get("maxResults", ["100"])[0])
            newest = sorted(box.messages, reverse=True)[:limit]
            listed = [{"id": i, "threadId": i} for i in newest]
            return ok({"messages": listed, "resultSizeEstimate": len(listed)})
        if path.startswith("messages/"):
            gmail_id, _, action = path[len("messages/") :].partition("/")
            message = box.messages.get(gmail_id)
            if message is None:
                return google_error(404, "NOT_FOUND", "Requested entity was not found.")
            if method == "GET" and not action:
                return ok(message)
            if method == "POST" and action == "modify":
                change = json.loads(body)
                for label in change.get("addLabelIds", []):
                    if label not in box.labels and label != "SENT":
                        return google_error(400, "INVALID_ARGUMENT", "Invalid label: " + label)
                    if label not in message["labelIds"]:
                        message["labelIds"].append(label)
                return ok({"id": gmail_id, "threadId": gmail_id, "labelIds": message["labelIds"]})
        if path == "labels":
            if method == "GET":
                system = [{"id": "SENT", "name": "SENT", "type": "system"}]
                mine = [{"id": i, "name": n, "type": "user"} for i, n in box.labels.items()]
                return ok({"labels": system + mine})
            if method == "POST":
                label = json.loads(body)
                if label["name"] in box.labels.values():
                    return google_error(409, "ALREADY_EXISTS", "Label name exists or conflicts")
                label_id = f"Label_{len(box.labels) + 1}"
                box.labels[label_id] = label["name"]
                return ok({**label, "id": label_id, "type": "user"})
        return google_error(404, "NOT_FOUND", f"no route {method} {path}")

    def start(self) -> FakeMailboxes:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()
