"""Google's and Slack's clouds as loopback HTTP servers, for the rehearsal only.

Only what the journey crosses: Google's signing certificates (OIDC ID tokens, and Chat's own
x509 list), Slack's OAuth and Web API methods the notifier calls, the Chat API's DM lookup and
message creation, and webhook receivers. Each speaks the platform's wire format, so the
functions run their real clients against them; tokens are signed with local RSA keys.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, parse_qsl, unquote, urlsplit

Answer = tuple[int, dict[str, str], bytes]
JSON = {"Content-Type": "application/json"}


def _json(status: int, body: Any) -> Answer:
    return status, JSON, json.dumps(body).encode()


class Loopback:
    """``respond(method, path, headers, body)`` served on 127.0.0.1; every request recorded."""

    def __init__(self, respond: Callable[[str, str, dict[str, str], bytes], Answer]) -> None:
        self.requests: list[dict[str, Any]] = []
        self.changed = threading.Condition()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = dict(self.headers.items())
                with outer.changed:
                    outer.requests.append({"method": self.command, "path": self.path, "body": body})
                    outer.changed.notify_all()
                status, out_headers, out = respond(self.command, self.path, headers, body)
                self.send_response(status)
                for key, value in out_headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = do_PUT = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def wait(self, predicate: Callable[[list[dict[str, Any]]], Any], timeout: float) -> Any:
        """The predicate's first truthy answer over the requests so far, or None on timeout."""
        with self.changed:
            found = None

            def ready() -> bool:
                nonlocal found
                found = predicate(self.requests)
                return bool(found)

            self.changed.wait_for(ready, timeout)
            return found

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


class Signer:
    """An RSA key with a self-signed certificate, served as ``{kid: PEM}`` the way Google serves
    https://www.googleapis.com/oauth2/v1/certs and .../service_accounts/v1/metadata/x509/..."""

    def __init__(self, key_id: str) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID
        from google.auth import crypt

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, key_id)])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .sign(key, hashes.SHA256())
        )
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        ).decode()
        self.certs = {key_id: cert.public_bytes(serialization.Encoding.PEM).decode()}
        self._signer = crypt.RSASigner.from_string(pem, key_id)
        self.server = Loopback(lambda *_: _json(200, self.certs))

    @property
    def certs_url(self) -> str:
        return self.server.url + "/certs"

    def token(self, *, audience: str, issuer: str, **claims: Any) -> str:
        from google.auth import jwt

        now = int(time.time())
        payload = {"iss": issuer, "aud": audience, "iat": now, "exp": now + 600, **claims}
        return jwt.encode(self._signer, payload).decode()

    def id_token(self, audience: str, email: str, sub: str, **claims: Any) -> str:
        """An OIDC ID token as Google issues it (accounts.google.com); a Workspace user's
        carries ``hd``, their domain."""
        return self.token(
            audience=audience,
            issuer="https://accounts.google.com",
            email=email,
            email_verified=True,
            sub=sub,
            **claims,
        )


class Slack:
    """slack.com/api (oauth.v2.access, users.lookupByEmail, conversations.open,
    chat.postMessage) and hooks.slack.com (webhooks and interaction response URLs)."""

    def __init__(self, client_id: str, client_secret: str) -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.users: dict[str, str] = {}
        self.tokens: dict[str, str] = {}
        self.server = Loopback(self._respond)

    @property
    def api_url(self) -> str:
        return self.server.url + "/api/"

    def _respond(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        kind = headers.get("Content-Type", "")
        params = json.loads(body or b"{}") if "json" in kind else dict(parse_qsl(body.decode()))
        name = urlsplit(path).path.removeprefix("/api/")
        if path.startswith("/services/") or path.startswith("/actions/"):
            return 200, {"Content-Type": "text/plain"}, b"ok"
        if name == "oauth.v2.access":
            import base64

            basic = headers.get("Authorization", "").removeprefix("Basic ")
            given = base64.b64decode(basic).decode() if basic else ""
            if given != f"{self.client_id}:{self.client_secret}" or not params.get("code"):
                return _json(200, {"ok": False, "error": "invalid_client"})
            token = f"xoxb-rehearsal-{len(self.tokens) + 1}"
            self.tokens[token] = "T0REHEARSAL"
            return _json(
                200,
                {
                    "ok": True,
                    "access_token": token,
                    "token_type": "bot",
                    "scope": "chat:write,im:write,users:read,users:read.email",
                    "bot_user_id": "U0BOT",
                    "app_id": "A0REHEARSAL",
                    "team": {"id": "T0REHEARSAL", "name": "Rehearsal"},
                    "enterprise": None,
                    "authed_user": {"id": "U0ADMIN"},
                },
            )
        token = headers.get("Authorization", "").removeprefix("Bearer ")
        if token not in self.tokens:
            return _json(200, {"ok": False, "error": "invalid_auth"})
        if name == "users.lookupByEmail":
            user = self.users.get(params.get("email", ""))
            if user is None:
                return _json(200, {"ok": False, "error": "users_not_found"})
            return _json(200, {"ok": True, "user": {"id": user, "team_id": "T0REHEARSAL"}})
        if name == "conversations.open":
            return _json(200, {"ok": True, "channel": {"id": "D" + str(params.get("users"))[1:]}})
        if name == "chat.postMessage":
            return _json(200, {"ok": True, "channel": params.get("channel"), "ts": "1.000100"})
        return _json(200, {"ok": False, "error": "unknown_method"})


class Chat:
    """chat.googleapis.com: spaces.findDirectMessage and spaces.messages.create."""

    def __init__(self) -> None:
        self.dms: dict[str, str] = {}
        self.server = Loopback(self._respond)

    def _respond(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        parts = urlsplit(path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        route = unquote(parts.path)
        if method == "GET" and route == "/v1/spaces:findDirectMessage":
            space = self.dms.get(query.get("name", ""))
            if space is None:
                return _json(404, {"error": {"code": 404, "status": "NOT_FOUND"}})
            return _json(200, {"name": space, "spaceType": "DIRECT_MESSAGE"})
        if method == "POST" and route.startswith("/v1/spaces/") and route.endswith("/messages"):
            parent = route.removeprefix("/v1/").removesuffix("/messages")
            message = json.loads(body)
            return _json(200, {**message, "name": f"{parent}/messages/{query.get('messageId')}"})
        return _json(404, {"error": {"code": 404, "status": "NOT_FOUND"}})
