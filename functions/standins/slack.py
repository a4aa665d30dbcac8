"""Slack on loopback: slack.com/api for `WebClient(base_url=...)`, and hooks.slack.com.

Web API methods answer Slack's JSON shapes (``{"ok": true, ...}`` / ``{"ok": false, "error":
...}``, https://api.slack.com/web#responses) and check bearer tokens: oauth.v2.access
(https://api.slack.com/methods/oauth.v2.access, client credentials as HTTP Basic or in the
form), users.lookupByEmail, conversations.open, chat.postMessage and chat.update
(https://api.slack.com/methods/chat.update: a message is named by its channel and ``ts``;
an unknown one is ``message_not_found``). hooks.slack.com answers
``ok`` to incoming webhooks (``/services/...``) and interaction response URLs
(``/actions/...``, https://api.slack.com/interactivity/handling#message_responses). A method
can be scripted to fail (an error code, or HTTP 429 with Retry-After) a number of times.
"""

from __future__ import annotations

import base64
import json
import threading
from typing import Any
from urllib.parse import parse_qsl

from .loopback import Answer, LoopbackServer

TEAM = "T0EXAMPLE"


def _json(status: int, body: dict[str, Any], **headers: str) -> Answer:
    out = {"Content-Type": "application/json; charset=utf-8", **headers}
    return status, out, json.dumps(body).encode()


ORG_WORKSPACE = "T0GRIDWS"
"""The workspace of an Enterprise Grid org's users (``users.lookupByEmail`` with an org token)."""


class Slack:
    """``codes`` maps an OAuth code to its team; a code not listed stands for one Slack's
    authorize page issued for ``TEAM``. Either is good once, as Slack's codes are. A team id
    starting with ``E`` is an Enterprise Grid org: its install is org-wide, answered as
    https://api.slack.com/enterprise/apps/reference shows (``team`` null, ``enterprise``,
    ``is_enterprise_install``), and its users carry ``enterprise_user``
    (https://api.slack.com/types/user)."""

    def __init__(self, client_id: str = "1234.5678", client_secret: str = "shh") -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.users: dict[str, str] = {}  # email -> user id
        self.codes: dict[str, str] = {}  # OAuth code -> team id
        self.used_codes: set[str] = set()
        self.tokens: dict[str, str] = {}  # bot token -> team id
        self.posts: list[dict[str, Any]] = []
        self.updates: list[dict[str, Any]] = []  # chat.update calls, each with channel and ts
        self.responses: list[dict[str, Any]] = []  # what was posted to response_urls
        self.failures: dict[str, list[Answer]] = {}
        self._lock = threading.Lock()
        self.server = LoopbackServer(self._respond)

    @property
    def url(self) -> str:
        return self.server.url

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
        if headers.get("Content-Type", "").startswith("application/json"):
            return dict(json.loads(body or b"{}"))
        return dict(parse_qsl(body.decode()))

    def _respond(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        name = path.split("?")[0].removeprefix("/api/")
        with self._lock:
            queued = self.failures.get(name)
            if queued:
                return queued.pop(0)
        if path.startswith("/services/"):  # an incoming webhook (hooks.slack.com)
            return 200, {"Content-Type": "text/plain"}, b"ok"
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
            found: dict[str, Any] = {"id": user, "team_id": team, "profile": {}}
            found["profile"]["email"] = params["email"]
            if team.startswith("E"):  # an org-wide token: the user's own workspace, and the org
                found["team_id"] = ORG_WORKSPACE
                found["enterprise_user"] = {
                    "id": user,
                    "enterprise_id": team,
                    "enterprise_name": "Acme Grid",
                    "teams": [ORG_WORKSPACE],
                }
            return _json(200, {"ok": True, "user": found})
        if name == "conversations.open":
            return _json(200, {"ok": True, "channel": {"id": "D" + str(params["users"])[1:]}})
        if name == "chat.postMessage":
            with self._lock:
                self.posts.append(params)
                ts = f"{len(self.posts)}.000100"
            message = {"text": params.get("text")}
            return _json(
                200, {"ok": True, "channel": params["channel"], "ts": ts, "message": message}
            )
        if name == "chat.update":
            return self._update(params)
        return _json(200, {"ok": False, "error": "unknown_method"})

    def _update(self, params: dict[str, Any]) -> Answer:
        with self._lock:
            posted = {(p["channel"], f"{i + 1}.000100") for i, p in enumerate(self.posts)}
            if (params.get("channel"), params.get("ts")) not in posted:
                return _json(200, {"ok": False, "error": "message_not_found"})
            self.updates.append(params)
        body = {"ok": True, "channel": params["channel"], "ts": params["ts"]}
        return _json(
            200, {**body, "text": params.get("text"), "message": {"text": params.get("text")}}
        )

    def _oauth(self, headers: dict[str, str], params: dict[str, Any]) -> Answer:
        basic = headers.get("Authorization", "")
        if basic.startswith("Basic "):
            cid, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
        else:
            cid, secret = params.get("client_id", ""), params.get("client_secret", "")
        if (cid, secret) != (self.client_id, self.client_secret):
            return _json(200, {"ok": False, "error": "invalid_client"})
        code = params.get("code", "")
        with self._lock:
            team = self.codes.pop(code, None) or (TEAM if code not in self.used_codes else None)
            self.used_codes.add(code)
        if not code or team is None:
            return _json(200, {"ok": False, "error": "invalid_code"})
        token = f"xoxb-{team}-bot"
        self.tokens[token] = team
        org = team.startswith("E")  # an Enterprise Grid org-wide install
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
                "team": None if org else {"id": team, "name": "Example Team"},
                "enterprise": {"id": team, "name": "Acme Grid"} if org else None,
                "is_enterprise_install": org,
            },
        )

    def stop(self) -> None:
        self.server.stop()
