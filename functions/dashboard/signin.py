"""Who is asking: sessions for the pages, bearer credentials for the API.

Pages: "Sign in with Google" is the OpenID Connect authorization-code flow (state and nonce in
the one ``__session`` cookie, mailbeacon.session_cookie: the only cookie Firebase Hosting
forwards; the code exchanged at Google's token endpoint), and the ID token
it returns is verified by the same google-auth code as every other Google token here
(mailbeacon.google.identity: signature against the configurable certificate URL, expiry,
issuer, audience), plus ``hd`` within the configured Workspace domains. The session is a
random id kept server-side (records ``dashboard-sessions/<sha256>``) and sent in the same
signed, HttpOnly, SameSite=Lax cookie (Secure when the public URL is https); signing out
deletes the record, so a copied cookie stops working. ``--insecure-dev-auth`` adds a
"sign in as" form.

API: ``Authorization: Bearer`` with a Google ID token (same checks), a personal access token,
or ``dev:<email>`` with --insecure-dev-auth.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from mailbeacon.access_tokens import looks_like_token, user_for_token
from mailbeacon.errors import Unauthorized
from mailbeacon.google.identity import (
    GoogleTokenVerifier,
    bearer,
    dev_identity,
    workspace_email,
)
from mailbeacon.platform import GOOGLE_CERTS_URL
from mailbeacon.records import Namespace, Records
from mailbeacon.session_cookie import KEY_PURPOSE, NAME, CookieJar
from mailbeacon.tokens import same_secret

if TYPE_CHECKING:  # functions.config reads SignInConfig from here: kept light
    from mailbeacon.tokens import Keyring
    from mailbeacon.urls import Urls

log = logging.getLogger(__name__)

GOOGLE_AUTH_URL = "https://accounts.google.com/o/oauth2/v2/auth"
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
SESSION_COOKIE = NAME
"""The one cookie (a jar): its entries are SESSION, SIGNIN and FLOW."""
SESSION, SIGNIN, FLOW = "session", "signin", "flow"
SESSIONS = Namespace.DASHBOARD_SESSIONS


@dataclass(frozen=True)
class SignInConfig:
    """Sign-in settings (read by functions.config): MAILBEACON_SIGNIN_CLIENT_ID and
    _CLIENT_SECRET (the OAuth web client), MAILBEACON_WORKSPACE_DOMAINS (comma-separated; Google
    sign-in needs at least one), MAILBEACON_SESSION_HOURS, and the Google endpoints
    MAILBEACON_GOOGLE_CERTS_URL, _AUTH_URL and _TOKEN_URL (loopback ones in tests)."""

    client_ids: tuple[str, ...] = ()
    client_secret: str = ""
    domains: tuple[str, ...] = ()
    certs_url: str = GOOGLE_CERTS_URL
    auth_url: str = GOOGLE_AUTH_URL
    token_url: str = GOOGLE_TOKEN_URL
    session_lifetime: timedelta = timedelta(hours=12)

    @property
    def google_enabled(self) -> bool:
        return bool(self.client_ids and self.client_secret and self.domains)


@dataclass
class Gate:
    """Everything about identity the web edge needs, built once per app."""

    config: SignInConfig
    records: Records
    """Sessions, and the personal access tokens' hashes."""
    keyring: Keyring
    urls: Urls
    """Read per request: `serve` learns its own URL only once it has bound a port."""
    dev: bool = False
    """``--insecure-dev-auth``: a "sign in as" form and ``dev:<email>`` bearer tokens."""
    verifier: GoogleTokenVerifier = field(init=False)

    def __post_init__(self) -> None:
        self.verifier = GoogleTokenVerifier(
            audiences=self.config.client_ids, certs_url=self.config.certs_url
        )
        self.jar = CookieJar(self.keyring.derive(KEY_PURPOSE))
        self._csrf_key = self.keyring.derive("dashboard-csrf")

    @property
    def secure(self) -> bool:
        return self.urls.service("dashboard").startswith("https://")

    # Google ID tokens
    def user_from_id_token(self, token: str, *, nonce: str | None = None) -> str:
        """The verified, lower-cased email of a Google ID token for our client, in our domains."""
        if not self.config.client_ids:
            raise Unauthorized("Google sign-in is not configured (MAILBEACON_SIGNIN_CLIENT_ID)")
        claims = self.verifier.verify(token)
        email = workspace_email(claims, self.config.domains)
        if nonce is not None and not same_secret(str(claims.get("nonce") or ""), nonce):
            raise Unauthorized("the ID token was not issued for this sign-in")
        return email

    # the API
    def api_user(self, headers: Mapping[str, str]) -> str:
        token = bearer(headers)
        if not token:
            raise Unauthorized("send Authorization: Bearer <Google ID token or access token>")
        dev = dev_identity(token, self.dev)
        if dev is not None:
            return dev
        if token.startswith("dev:"):
            raise Unauthorized("dev tokens need `mailbeacon serve --insecure-dev-auth`")
        if looks_like_token(token):
            return user_for_token(self.records, token)
        return self.user_from_id_token(token)

    # sessions
    def start_session(self, user: str, now: datetime) -> str:
        """A new session for ``user``; returns its id (the jar's SESSION entry)."""
        sid = secrets.token_urlsafe(32)
        expires = now + self.config.session_lifetime
        self.records.put_record(
            SESSIONS, _digest(sid), {"user": user, "expires": expires.timestamp()}
        )
        return sid

    def session(self, cookie: str | None, now: datetime) -> tuple[str, str] | None:
        """(user, session id) of the jar's live session, else None."""
        sid = self.jar.get(cookie, SESSION)
        if not isinstance(sid, str) or not sid:
            return None
        record = self.records.get_record(SESSIONS, _digest(str(sid)))
        if record is None:
            return None
        if float(record.get("expires", 0)) <= now.timestamp():
            self.records.delete_record(SESSIONS, _digest(str(sid)))  # tidy as we go
            return None
        return str(record["user"]), str(sid)

    def end_session(self, sid: str) -> None:
        self.records.delete_record(SESSIONS, _digest(sid))

    def csrf(self, binding: str) -> str:
        """The form token for a session (or a signed-out browser's flow cookie)."""
        return hmac.new(self._csrf_key, binding.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, binding: str | None, presented: str | None) -> bool:
        return bool(binding and presented) and same_secret(self.csrf(binding), presented or "")

    # the authorization-code flow
    def authorization_url(self, redirect_uri: str, state: str, nonce: str) -> str:
        params = {
            "client_id": self.config.client_ids[0],
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": "openid email",
            "state": state,
            "nonce": nonce,
            "prompt": "select_account",
        }
        if len(self.config.domains) == 1:
            params["hd"] = self.config.domains[0]  # a hint only: the token's hd is checked
        return f"{self.config.auth_url}?{urlencode(params)}"

    def exchange(self, code: str, redirect_uri: str) -> str:
        """The ID token for an authorization code, from Google's token endpoint."""
        import requests

        try:
            response = requests.post(
                self.config.token_url,
                data={
                    "code": code,
                    "client_id": self.config.client_ids[0],
                    "client_secret": self.config.client_secret,
                    "redirect_uri": redirect_uri,
                    "grant_type": "authorization_code",
                },
                timeout=10,
            )
            body: dict[str, Any] = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise Unauthorized(f"the token endpoint did not answer: {exc}") from exc
        if response.status_code != 200 or not isinstance(body.get("id_token"), str):
            raise Unauthorized(f"the token endpoint refused the code: {body.get('error')!r}")
        return str(body["id_token"])


def _digest(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()
