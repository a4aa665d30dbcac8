"""A Slack Web API on 127.0.0.1 that `WebClient(base_url=...)` talks to.

It answers the real JSON shapes (``{"ok": true, ...}`` / ``{"ok": false, "error": ...}``),
checks bearer tokens, and can be scripted to fail a method (an error code, or HTTP 429 with
Retry-After) a number of times.
"""

from __future__ import annotations

import json
import threading
from typing import Any
from urllib.parse import parse_qsl

from .http import LoopbackServer

Answer = tuple[int, dict[str, str], bytes]


def _json(status: int, body: dict[str, Any], **headers: str) -> Answer:
    return (
        status,
        {"Content-Type": "application/json; charset=utf-8", **headers},
        json.dumps(body).encode(),
    )


class FakeSlack:
    def __init__(self, *, client_id: str = "1234.5678", client_secret: str = "shh") -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.users: dict[str, str] = {}  # email -> user id
        self.codes: dict[str, str] = {}  # OAuth code -> team id
        self.tokens: dict[str, str] = {}  # bot token -> team id
        self.posts: list[dict[str, Any]] = []
        self.responses: list[dict[str, Any]] = []  # what was posted to response_urls
        self.failures: dict[str, list[Answer]] = {}
        self._lock = threading.Lock()
        self.server = LoopbackServer(self._respond)

    @property
    def api_url(self) -> str:
        return self.server.url + "/api/"

    def fail(
        self,
        method: str,
        error: str | None = None,
        *,
        status: int = 200,
        times: int = 1,
        **headers: str,
    ) -> None:
        body = {"ok": False, "error": error or "ratelimited"}
        headers = {k.replace("_", "-"): v for k, v in headers.items()}
        with self._lock:
            self.failures.setdefault(method, []).extend([_json(status, body, **headers)] * times)

    def calls(self, method: str) -> list[dict[str, Any]]:
        return [r for r in self.server.requests if r["path"].split("?")[0] == f"/api/{method}"]

    def _params(self, headers: dict[str, str], body: bytes) -> dict[str, Any]:
        kind = headers.get("Content-Type", "")
        if kind.startswith("application/json"):
            return json.loads(body or b"{}")
        return dict(parse_qsl(body.decode()))

    def _respond(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        name = path.split("?")[0].removeprefix("/api/")
        with self._lock:
            queued = self.failures.get(name)
            if queued:
                return queued.pop(0)
        params = self._params(headers, body)
        if path.startswith("/actions/"):  # an interaction's response_url (hooks.slack.com)
            with self._lock:
                self.responses.append({"path": path, **params})
            return 200, {"Content-Type": "text/plain"}, b"ok"
        if name == "oauth.v2.access":
            return self._oauth(headers, params)
        token = (headers.get("Authorization") or "").removeprefix("Bearer ")
        team = self.tokens.get(token)
        if team is None:
            return _json(200, {"ok": False, "error": "invalid_auth"})
        if name == "users.lookupByEmail":
            user = self.users.get(params.get("email", ""))
            if user is None:
                return _json(200, {"ok": False, "error": "users_not_found"})
            return _json(
                200,
                {
                    "ok": True,
                    "user": {"id": user, "team_id": team, "profile": {"email": params["email"]}},
                },
            )
        if name == "conversations.open":
            return _json(200, {"ok": True, "channel": {"id": "D" + params["users"][1:]}})
        if name == "chat.postMessage":
            with self._lock:
                self.posts.append(params)
            return _json(
                200,
                {
                    "ok": True,
                    "channel": params["channel"],
                    "ts": f"{len(self.posts)}.000100",
                    "message": {"text": params.get("text")},
                },
            )
        return _json(200, {"ok": False, "error": "unknown_method"})

    def _oauth(self, headers: dict[str, str], params: dict[str, Any]) -> Answer:
        import base64

        basic = headers.get("Authorization", "")
        if basic.startswith("Basic "):
            cid, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
        else:
            cid, secret = params.get("client_id", ""), params.get("client_secret", "")
        if (cid, secret) != (self.client_id, self.client_secret):
            return _json(200, {"ok": False, "error": "invalid_client"})
        team = self.codes.pop(params.get("code", ""), None)
        if team is None:
            return _json(200, {"ok": False, "error": "invalid_code"})
        token = f"xoxb-{team}-bot"
        self.tokens[token] = team
        return _json(
            200,
            {
                "ok": True,
                "app_id": "A0MAILBEACON",
                "authed_user": {"id": "U0ADMIN"},
                "scope": "chat:write,im:write,users:read,users:read.email",
                "token_type": "bot",
                "access_token": token,
                "bot_user_id": "U0BOT",
                "team": {"id": team, "name": "Example Team"},
                "enterprise": None,
                "is_enterprise_install": False,
            },
        )

    def start(self) -> FakeSlack:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()
