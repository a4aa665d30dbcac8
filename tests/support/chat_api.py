"""A Google Chat API on 127.0.0.1 for google-api-python-client (``api_endpoint``).

Implements spaces.findDirectMessage and spaces.messages.create with Chat's behaviour for
``client-`` message ids (a repeat is 409 ALREADY_EXISTS), and 404 for unknown users/spaces.
"""

from __future__ import annotations

import json
import threading
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from .http import LoopbackServer

Answer = tuple[int, dict[str, str], bytes]


def _error(status: int, reason: str, message: str) -> Answer:
    body = {"error": {"code": status, "message": message, "status": reason}}
    return status, {"Content-Type": "application/json"}, json.dumps(body).encode()


class FakeChat:
    def __init__(self) -> None:
        self.dms: dict[str, str] = {}  # "users/<id or email>" -> "spaces/<id>"
        self.messages: dict[str, dict[str, Any]] = {}  # full message name -> message
        self.created: list[dict[str, Any]] = []
        self.failures: list[Answer] = []
        self._lock = threading.Lock()
        self.server = LoopbackServer(self._respond)

    @property
    def url(self) -> str:
        return self.server.url

    def _respond(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        with self._lock:
            if self.failures:
                return self.failures.pop(0)
        parts = urlsplit(path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        route = unquote(parts.path)
        if method == "GET" and route == "/v1/spaces:findDirectMessage":
            space = self.dms.get(query.get("name", ""))
            if space is None:
                return _error(404, "NOT_FOUND", "Direct message space not found.")
            return (
                200,
                {"Content-Type": "application/json"},
                json.dumps(
                    {"name": space, "spaceType": "DIRECT_MESSAGE", "singleUserBotDm": True}
                ).encode(),
            )
        if method == "POST" and route.startswith("/v1/spaces/") and route.endswith("/messages"):
            parent = route.removeprefix("/v1/").removesuffix("/messages")
            if parent not in self.dms.values():
                return _error(404, "NOT_FOUND", "Space not found.")
            message = json.loads(body)
            name = f"{parent}/messages/{query.get('messageId') or len(self.created)}"
            with self._lock:
                if name in self.messages:
                    return _error(409, "ALREADY_EXISTS", "Message already exists.")
                stored = {**message, "name": name, "_query": query}
                self.messages[name] = stored
                self.created.append(stored)
            return (
                200,
                {"Content-Type": "application/json"},
                json.dumps({**message, "name": name}).encode(),
            )
        return _error(404, "NOT_FOUND", f"no route {method} {route}")

    def start(self) -> FakeChat:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()
