"""The Google Chat API on loopback, for google-api-python-client (``api_endpoint``) and for
Chat's incoming webhooks.

Implements spaces.findDirectMessage
(https://developers.google.com/workspace/chat/api/reference/rest/v1/spaces/findDirectMessage)
spaces.messages.create
(https://developers.google.com/workspace/chat/api/reference/rest/v1/spaces.messages/create),
which is also what an incoming webhook URL posts to (``/v1/spaces/{space}/messages?key&token``),
and spaces.messages.patch (``PATCH /v1/{name}?updateMask=...``, the name by a client-assigned
id too; an unknown message is 404).
A ``client-`` message id used twice is 409 ALREADY_EXISTS, an unknown user or space 404, in
Google's JSON error shape.
"""

from __future__ import annotations

import json
import threading
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from .loopback import Answer, LoopbackServer, google_error, json_answer


class Chat:
    def __init__(self) -> None:
        self.dms: dict[str, str] = {}  # "users/<id or email>" -> "spaces/<id>"
        self.messages: dict[str, dict[str, Any]] = {}  # full message name -> message
        self.created: list[dict[str, Any]] = []
        self.patched: list[dict[str, Any]] = []  # each with its name and updateMask
        self.failures: list[Answer] = []  # answered, in turn, instead of the next request
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
                return google_error(404, "NOT_FOUND", "Direct message space not found.")
            return json_answer(
                200, {"name": space, "spaceType": "DIRECT_MESSAGE", "singleUserBotDm": True}
            )
        if method == "POST" and route.startswith("/v1/spaces/") and route.endswith("/messages"):
            parent = route.removeprefix("/v1/").removesuffix("/messages")
            if parent not in self.dms.values():
                return google_error(404, "NOT_FOUND", "Space not found.")
            message = json.loads(body)
            name = f"{parent}/messages/{query.get('messageId') or len(self.created)}"
            with self._lock:
                if name in self.messages:
                    return google_error(409, "ALREADY_EXISTS", "Message already exists.")
                stored = {**message, "name": name, "_query": query}
                self.messages[name] = stored
                self.created.append(stored)
            return json_answer(200, {**message, "name": name})
        if method == "PATCH" and "/messages/" in route:
            name = route.removeprefix("/v1/")
            with self._lock:
                if name not in self.messages:
                    return google_error(404, "NOT_FOUND", "Message not found.")
                change = json.loads(body)
                for path in query.get("updateMask", "").split(","):
                    if path in change:
                        self.messages[name][path] = change[path]
                self.patched.append({**change, "name": name, "updateMask": query.get("updateMask")})
                updated = {k: v for k, v in self.messages[name].items() if k != "_query"}
            return json_answer(200, updated)
        return google_error(404, "NOT_FOUND", f"no route {method} {route}")

    def stop(self) -> None:
        self.server.stop()
