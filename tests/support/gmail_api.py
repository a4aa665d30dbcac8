"""Google's OAuth token endpoint and the Gmail API's users.messages.send on 127.0.0.1.

Enough for a domain-wide-delegated service account: the JWT-bearer grant is answered with an
access token (or refused, as Google does when delegation is revoked: 400 ``unauthorized_client``
per https://developers.google.com/identity/protocols/oauth2/service-account#error-codes), and
``POST /gmail/v1/users/me/messages/send`` with ``{"raw": <base64url RFC 2822>}``
(https://developers.google.com/gmail/api/reference/rest/v1/users.messages/send) is stored, or
answered with a scripted error in Google's JSON error shape.
"""

from __future__ import annotations

import base64
import json
import threading
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from .http import LoopbackServer

Answer = tuple[int, dict[str, str], bytes]
TOKEN = "ya29.delegated"


def google_error(status: int, reason: str, message: str, **headers: str) -> Answer:
    body = {"error": {"code": status, "message": message, "status": reason}}
    return status, {"Content-Type": "application/json", **headers}, json.dumps(body).encode()


class FakeGmail:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []  # {"raw": ..., "authorization": ...}
        self.grants: list[dict[str, str]] = []  # decoded JWT-bearer assertions' claims
        self.failures: list[Answer] = []  # answered, in turn, instead of a send
        self.attempts = 0  # send requests received, answered or failed
        self.refuse_grant = False
        self._lock = threading.Lock()
        self.server = LoopbackServer(self._respond)

    @property
    def url(self) -> str:
        return self.server.url

    def _respond(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        if path == "/token":
            form = dict(parse_qsl(body.decode()))
            claims = json.loads(base64.urlsafe_b64decode(form["assertion"].split(".")[1] + "=="))
            with self._lock:
                self.grants.append(claims)
            if self.refuse_grant:
                error = {
                    "error": "unauthorized_client",
                    "error_description": "Client is "
                    "unauthorized to retrieve access tokens using this method.",
                }
                return 400, {"Content-Type": "application/json"}, json.dumps(error).encode()
            token = {"access_token": TOKEN, "expires_in": 3600, "token_type": "Bearer"}
            return 200, {"Content-Type": "application/json"}, json.dumps(token).encode()
        if method == "POST" and path.split("?")[0] == "/gmail/v1/users/me/messages/send":
            with self._lock:
                self.attempts += 1
                if self.failures:
                    return self.failures.pop(0)
            auth = {k.lower(): v for k, v in headers.items()}.get("authorization")
            if auth != f"Bearer {TOKEN}":
                return google_error(401, "UNAUTHENTICATED", "Invalid Credentials")
            with self._lock:
                self.sent.append({**json.loads(body), "authorization": auth})
            return 200, {"Content-Type": "application/json"}, b'{"id": "m1", "threadId": "t1"}'
        return google_error(404, "NOT_FOUND", f"no route {method} {path}")

    def key_file(self, directory: Path) -> Path:
        """A service account key whose token_uri is this server."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        info = {
            "type": "service_account",
            "project_id": "mb-test",
            "private_key_id": "k1",
            "private_key": pem,
            "client_email": "notifier@mb-test.iam.gserviceaccount.com",
            "client_id": "123",
            "token_uri": self.url + "/token",
        }
        path = directory / "dwd.json"
        path.write_text(json.dumps(info))
        return path

    def start(self) -> FakeGmail:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()
