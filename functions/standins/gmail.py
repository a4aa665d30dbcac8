"""Gmail on loopback, for delegated users: Google's OAuth token endpoint and the Gmail API.

Every shape follows Google's published reference and the gmail v1 discovery document that
google-api-python-client ships (googleapiclient/discovery_cache/documents/gmail.v1.json):
- ``POST /token``, the JWT-bearer grant of a domain-wide-delegated service account, answers an
  access token for the assertion's ``sub``, or 400 ``unauthorized_client`` as Google does when
  delegation is revoked
  (https://developers.google.com/identity/protocols/oauth2/service-account#error-codes).
- POST users/{userId}/messages/send ``{"raw": <base64url RFC 2822>}`` -> ``{"id", "threadId"}``
  https://developers.google.com/gmail/api/reference/rest/v1/users.messages/send
- POST users/{userId}/watch -> WatchResponse ``{"historyId", "expiration"}`` (epoch ms, as
  strings): https://developers.google.com/gmail/api/reference/rest/v1/users/watch
- GET users/{userId}/history?startHistoryId&labelId&historyTypes&maxResults -> ListHistoryResponse
  ``{"history": [{"id", "messages", "messagesAdded": [{"message"}]}], "historyId"}`` (the
  added message carries ``id``, ``threadId`` and ``labelIds``, no headers); every label unless
  ``labelId`` names one; a start id older than Gmail keeps answers 404 ("startHistoryId ...
  too old ... returns an HTTP 404 error code. Your application should perform a full sync"):
  https://developers.google.com/gmail/api/reference/rest/v1/users.history/list
- GET users/{userId}/messages?labelIds&maxResults -> ``{"messages": [{"id", "threadId"}]}``
- GET users/{userId}/messages/{id}?format=full -> Message with ``internalDate`` (epoch ms as a
  string) and ``payload`` (MessagePart: headers, parts, body.data base64url);
  ``format=metadata&metadataHeaders=...`` (repeated) -> the same without parts or bodies and
  only the headers named ("Returns only email message ID, labels, and email headers"):
  https://developers.google.com/gmail/api/reference/rest/v1/users.messages/get
- Replies share their original's ``threadId`` and carry ``In-Reply-To``/``References`` (what
  Gmail needs to thread them: "the Subject headers must match", users.messages/send)
- GET/POST users/{userId}/labels -> ``{"labels": [Label]}`` / Label; a duplicate name is 409
  https://developers.google.com/gmail/api/reference/rest/v1/users.labels/create
- POST users/{userId}/messages/{id}/modify ``{"addLabelIds"}`` -> Message
  https://developers.google.com/gmail/api/reference/rest/v1/users.messages/modify
Errors use Google's JSON error shape ``{"error": {"code", "message", "status"}}``.
"""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

from .loopback import Answer, LoopbackServer, google_error, json_answer

PREFIX = "/gmail/v1/users/me/"
TOKEN_PREFIX = "ya29."


@cache
def _service_account_key() -> str:
    """One RSA key (PEM) for every key file: this Gmail does not check the assertions'
    signatures, and a 2048-bit key costs ~50 ms of CPU to make."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@dataclass
class Box:
    """One user's mailbox: messages, labels and the history of additions to SENT."""

    history_id: int = 1000
    oldest_kept: int = 0
    """History ids below this are gone (answer 404)."""
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    history: list[tuple[int, str]] = field(default_factory=list)
    """(history id, message id) for every message added, any label."""
    labels: dict[str, str] = field(default_factory=dict)  # id -> name
    watches: list[dict[str, Any]] = field(default_factory=list)


def _full_message(
    gmail_id: str,
    box: Box,
    *,
    html: str,
    sender: str | None,
    to: str,
    cc: str,
    labels: tuple[str, ...],
    at: datetime | None,
    rfc_id: str,
    thread_id: str = "",
    subject: str = "Proposal",
    extra: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A message as users.messages.get returns it (format=full)."""
    data = base64.urlsafe_b64encode(html.encode()).decode().rstrip("=")
    plain = base64.urlsafe_b64encode(b"Hello").decode().rstrip("=")
    address = sender if sender is None or "<" in sender else f"<{sender}>"
    named = {"From": address, "To": to, "Cc": cc, "Message-ID": rfc_id}
    headers = [{"name": "Subject", "value": subject}]
    headers += [{"name": name, "value": value} for name, value in named.items() if value]
    headers += [{"name": name, "value": value} for name, value in (extra or {}).items()]

    def part(part_id: str, mime: str, size: int, content: str) -> dict[str, Any]:
        body = {"size": size, "data": content}
        return {"partId": part_id, "mimeType": mime, "filename": "", "headers": [], "body": body}

    when = at or datetime.now(UTC)
    return {
        "id": gmail_id,
        "threadId": thread_id or gmail_id,
        "labelIds": list(labels),
        "snippet": "Hello",
        "historyId": str(box.history_id),
        "internalDate": str(int(when.timestamp() * 1000)),
        "payload": {
            "partId": "",
            "mimeType": (extra or {}).get("Content-Type", "multipart/alternative").split(";")[0],
            "filename": "",
            "headers": headers,
            "body": {"size": 0},
            "parts": [
                part("0", "text/plain", 5, plain),
                part("1", "text/html", len(html), data),
            ],
        },
        "sizeEstimate": 900,
    }


def _metadata(message: dict[str, Any], wanted: list[str] | None) -> dict[str, Any]:
    """format=metadata: no parts, no bodies, only the headers asked for (all without a list)."""
    names = {name.lower() for name in wanted or ()}
    payload = message["payload"]
    headers = [h for h in payload["headers"] if not names or h["name"].lower() in names]
    kept = {k: payload[k] for k in ("partId", "mimeType", "filename")}
    return {**message, "payload": {**kept, "headers": headers}}


class Gmail:
    """Gmail for any number of users. Access tokens come from the JWT-bearer grant (one per
    delegated user) or are added to ``tokens`` (the add-on's, which Google puts in its events).
    ``send`` is a user sending from Gmail; what Mailbeacon sends through the API is in ``sent``."""

    def __init__(self) -> None:
        self.boxes: dict[str, Box] = {}
        self.tokens: dict[str, str] = {}  # access token -> user
        self.calls: list[tuple[str, str, str]] = []  # (user, method, path without query)
        self.sent: list[dict[str, Any]] = []  # {"raw": ..., "authorization": ..., "user": ...}
        self.grants: list[dict[str, Any]] = []  # the JWT-bearer assertions' claims
        self.failures: list[Answer] = []  # answered, in turn, instead of API requests
        self.attempts = 0  # API requests received, answered or failed
        self.refuse_grant = False
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
        to: str = "",
        cc: str = "",
        at: datetime | None = None,
        rfc_id: str = "",
        sender: str | None = "",
        labels: tuple[str, ...] = ("SENT",),
        gmail_id: str | None = None,
        thread_id: str = "",
        subject: str = "Proposal",
        headers: dict[str, str] | None = None,
    ) -> str:
        """A message lands in ``user``'s mailbox: by default one they sent (From them, in SENT);
        ``sender`` None leaves out the From header. Every message added is in the history."""
        with self._lock:
            box = self.box(user)
            box.history_id += 7  # history ids grow, not by one
            gmail_id = gmail_id or f"18c{box.history_id:013x}"
            box.messages[gmail_id] = _full_message(
                gmail_id,
                box,
                html=html,
                sender=user if sender == "" else sender,
                to=to,
                cc=cc,
                labels=labels,
                at=at,
                rfc_id=rfc_id,
                thread_id=thread_id,
                subject=subject,
                extra=headers,
            )
            box.history.append((box.history_id, gmail_id))
            return gmail_id

    def reply(
        self,
        user: str,
        original: str,
        *,
        sender: str,
        headers: dict[str, str] | None = None,
        at: datetime | None = None,
        labels: tuple[str, ...] = ("INBOX", "UNREAD"),
        subject: str | None = None,
        new_thread: bool = False,
        html: str = "<p>Thanks, sounds good.</p>",
    ) -> str:
        """``sender`` answers ``user``'s message ``original``: in its thread (or, with
        ``new_thread``, in a thread of its own, as Gmail does when the subject changed), with
        In-Reply-To and References naming it. ``headers`` adds or overrides any header: an
        auto-reply's Auto-Submitted, a bounce's Content-Type."""
        first = self.box(user).messages[original]
        named = {h["name"].lower(): h["value"] for h in first["payload"]["headers"]}
        rfc_id = named.get("message-id", "")
        extra = {"In-Reply-To": rfc_id, "References": rfc_id} if rfc_id else {}
        with self._lock:
            count = len(self.box(user).messages)
        own_id = f"<reply{count}.{sender.replace('@', '.')}@mail.example>"
        return self.send(
            user,
            html=html,
            to=user,
            at=at,
            rfc_id=own_id,
            sender=sender,
            labels=labels,
            thread_id="" if new_thread else first["threadId"],
            subject=subject if subject is not None else "Re: " + named.get("subject", ""),
            headers={**extra, **(headers or {})},
        )

    def forget_history_before(self, user: str, history_id: int) -> None:
        """Gmail keeps history for a limited time: older start ids answer 404."""
        self.box(user).oldest_kept = history_id

    def key_file(self, directory: Path) -> Path:
        """A service account key whose token_uri is this server."""
        info = {
            "type": "service_account",
            "project_id": "mb-test",
            "private_key_id": "k1",
            "private_key": _service_account_key(),
            "client_email": "notifier@mb-test.iam.gserviceaccount.com",
            "client_id": "123",
            "token_uri": self.url + "/token",
        }
        path = directory / "dwd.json"
        path.write_text(json.dumps(info))
        return path

    def _grant(self, body: bytes) -> Answer:
        form = dict(parse_qsl(body.decode()))
        claims = json.loads(base64.urlsafe_b64decode(form["assertion"].split(".")[1] + "=="))
        with self._lock:
            self.grants.append(claims)
        if self.refuse_grant:
            error = "Client is unauthorized to retrieve access tokens using this method."
            return json_answer(400, {"error": "unauthorized_client", "error_description": error})
        token = TOKEN_PREFIX + base64.urlsafe_b64encode(claims["sub"].encode()).decode()
        with self._lock:
            self.tokens[token] = claims["sub"]
        return json_answer(200, {"access_token": token, "expires_in": 3600, "token_type": "Bearer"})

    def _respond(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Answer:
        parts = urlsplit(target)
        path, query = parts.path, parse_qs(parts.query)
        if path == "/token":
            return self._grant(body)
        auth = {k.lower(): v for k, v in headers.items()}.get("authorization", "")
        with self._lock:
            self.attempts += 1
            if self.failures:
                return self.failures.pop(0)
            user = self.tokens.get(auth.removeprefix("Bearer "))
            if user is None or not path.startswith(PREFIX):
                return google_error(401, "UNAUTHENTICATED", "Invalid Credentials")
            if method == "POST" and path == PREFIX + "messages/send":
                self.sent.append({**json.loads(body), "authorization": auth, "user": user})
                return json_answer(200, {"id": "m1", "threadId": "t1"})
            self.calls.append((user, method, path))
            return self._route(self.box(user), method, path[len(PREFIX) :], query, body)

    def _route(
        self, box: Box, method: str, path: str, query: dict[str, list[str]], body: bytes
    ) -> Answer:
        if method == "POST" and path == "watch":
            box.watches.append(json.loads(body))
            return json_answer(
                200, {"historyId": str(box.history_id), "expiration": "1893456000000"}
            )
        if method == "GET" and path == "history":
            return self._history(box, query)
        if method == "GET" and path == "messages":
            limit = int(query.get("maxResults", ["100"])[0])
            listed = [{"id": i, "threadId": i} for i in sorted(box.messages, reverse=True)[:limit]]
            return json_answer(200, {"messages": listed, "resultSizeEstimate": len(listed)})
        if path.startswith("messages/"):
            return self._message(box, method, path[len("messages/") :], body, query)
        if path == "labels":
            return self._labels(box, method, body)
        return google_error(404, "NOT_FOUND", f"no route {method} {path}")

    def _history(self, box: Box, query: dict[str, list[str]]) -> Answer:
        start = int(query["startHistoryId"][0])
        if start < box.oldest_kept:
            return google_error(404, "NOT_FOUND", "Requested entity was not found.")
        label = query.get("labelId", [None])[0]
        records = []
        for hid, gmail_id in box.history:
            message = box.messages[gmail_id]
            if hid <= start or (label is not None and label not in message["labelIds"]):
                continue
            ref = {"id": gmail_id, "threadId": message["threadId"]}
            added = {**ref, "labelIds": list(message["labelIds"])}
            records.append(
                {"id": str(hid), "messages": [ref], "messagesAdded": [{"message": added}]}
            )
        answer: dict[str, Any] = {"historyId": str(box.history_id)}
        if records:
            answer["history"] = records
        return json_answer(200, answer)

    def _message(
        self, box: Box, method: str, rest: str, body: bytes, query: dict[str, list[str]]
    ) -> Answer:
        gmail_id, _, action = rest.partition("/")
        message = box.messages.get(gmail_id)
        if message is None:
            return google_error(404, "NOT_FOUND", "Requested entity was not found.")
        if method == "GET" and not action:
            if query.get("format", ["full"])[0] == "metadata":
                return json_answer(200, _metadata(message, query.get("metadataHeaders")))
            return json_answer(200, message)
        if method == "POST" and action == "modify":
            for label in json.loads(body).get("addLabelIds", []):
                if label not in box.labels and label != "SENT":
                    return google_error(400, "INVALID_ARGUMENT", "Invalid label: " + label)
                if label not in message["labelIds"]:
                    message["labelIds"].append(label)
            return json_answer(
                200, {"id": gmail_id, "threadId": gmail_id, "labelIds": message["labelIds"]}
            )
        return google_error(404, "NOT_FOUND", f"no route {method} messages/{rest}")

    def _labels(self, box: Box, method: str, body: bytes) -> Answer:
        if method == "GET":
            system = [{"id": "SENT", "name": "SENT", "type": "system"}]
            mine = [{"id": i, "name": n, "type": "user"} for i, n in box.labels.items()]
            return json_answer(200, {"labels": system + mine})
        if method != "POST":
            return google_error(404, "NOT_FOUND", f"no route {method} labels")
        label = json.loads(body)
        if label["name"] in box.labels.values():
            return google_error(409, "ALREADY_EXISTS", "Label name exists or conflicts")
        label_id = f"Label_{len(box.labels) + 1}"
        box.labels[label_id] = label["name"]
        return json_answer(200, {**label, "id": label_id, "type": "user"})

    def stop(self) -> None:
        self.server.stop()
