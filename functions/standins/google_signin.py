"""Google's sign-in endpoints on loopback: authorization, token and certificates.

Wire format: the OpenID Connect authorization-code flow as Google documents it
(https://developers.google.com/identity/openid-connect/openid-connect): the authorization
endpoint redirects back with ``code`` and ``state``; the token endpoint takes a form POST
(code, client_id, client_secret, redirect_uri, grant_type=authorization_code) and answers JSON
with ``id_token``; the ID token is an RS256 JWT verified against ``/oauth2/v1/certs``. Who signs
in is chosen by the caller (``next_user``), as a person would pick an account.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from .google_tokens import TokenIssuer
from .loopback import Answer, LoopbackServer, json_answer


class GoogleSignIn:
    def __init__(
        self,
        client_id: str = "dash-client.apps.googleusercontent.com",
        issuer: TokenIssuer | None = None,
    ) -> None:
        """``issuer``: Google's signing key shared with other stand-ins (one certificate URL
        serves every Google ID token, as Google's does); a key of its own by default."""
        self.client_id = client_id
        self.client_secret = "test-secret"
        self._own_issuer = issuer is None
        self.issuer = issuer or TokenIssuer()
        self.next_user: tuple[str, str | None] = ("ann@acme.test", "acme.test")
        self.next_claims: dict[str, Any] = {}
        """Claims to put in (or, as None, leave out of) the next ID tokens."""
        self._codes: dict[str, tuple[str, str | None, str, str]] = {}
        self._instance = secrets.token_hex(4)
        self.server = LoopbackServer(self._serve)

    def env(self, domains: str = "acme.test") -> dict[str, str]:
        """The variables that point a Mailbeacon process at this Google."""
        base = self.server.url
        return {
            "MAILBEACON_SIGNIN_CLIENT_ID": self.client_id,
            "MAILBEACON_SIGNIN_CLIENT_SECRET": self.client_secret,
            "MAILBEACON_WORKSPACE_DOMAINS": domains,
            # a query naming this stand-in: the certificate cache is keyed on the URL (as in
            # google_tokens.TokenIssuer.certs_url)
            "MAILBEACON_GOOGLE_CERTS_URL": f"{base}/oauth2/v1/certs?google={self._instance}",
            "MAILBEACON_GOOGLE_AUTH_URL": base + "/o/oauth2/v2/auth",
            "MAILBEACON_GOOGLE_TOKEN_URL": base + "/token",
        }

    def id_token(self, email: str, hd: str | None, **claims: Any) -> str:
        extra = {"hd": hd} if hd else {}
        return self.issuer.token(audience=self.client_id, email=email, **extra, **claims)

    def _serve(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        url = urlsplit(path)
        if url.path == "/oauth2/v1/certs":
            return json_answer(200, self.issuer.certs)
        if url.path == "/o/oauth2/v2/auth" and method == "GET":
            q = {k: v[0] for k, v in parse_qs(url.query).items()}
            code = secrets.token_urlsafe(12)
            email, hd = self.next_user
            self._codes[code] = (email, hd, q.get("nonce", ""), q["redirect_uri"])
            back = q["redirect_uri"] + "?" + urlencode({"code": code, "state": q.get("state", "")})
            return 302, {"Location": back}, b""
        if url.path == "/token" and method == "POST":
            form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
            grant = self._codes.pop(form.get("code", ""), None)
            if (
                grant is None
                or form.get("client_secret") != self.client_secret
                or form.get("redirect_uri") != grant[3]
                or form.get("grant_type") != "authorization_code"
            ):
                return json_answer(400, {"error": "invalid_grant"})
            token = self.id_token(grant[0], grant[1], nonce=grant[2], **self.next_claims)
            return json_answer(
                200, {"id_token": token, "access_token": "ya29.x", "token_type": "Bearer"}
            )
        return 404, {}, b""

    def stop(self) -> None:
        self.server.stop()
        if self._own_issuer:
            self.issuer.stop()
