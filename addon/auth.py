"""Verify that a request really comes from Google: a Google-signed OIDC ID token.

Used for the add-on endpoints and the Chat app. The certificate URL is configurable so tests
verify real signatures made with a local key; nothing is bypassed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mailbeacon.errors import Unauthorized
from mailbeacon.platform import GOOGLE_CERTS_URL

GOOGLE_ISSUERS = ("accounts.google.com", "https://accounts.google.com")
CHAT_ISSUER = "chat@system.gserviceaccount.com"
CHAT_CERTS_URL = f"https://www.googleapis.com/service_accounts/v1/metadata/x509/{CHAT_ISSUER}"
DEV_PREFIX = "dev:"


class _CachingRequest:
    """A google-auth transport that keeps fetched certificates for ``ttl`` seconds.

    Google rotates its keys over days; fetching them on every request would put a network
    round trip on every add-on click.
    """

    def __init__(self, ttl: float = 300.0) -> None:
        import google.auth.transport.requests as transport

        self._inner = transport.Request()
        self._ttl = ttl
        self._cache: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def __call__(self, url: str, method: str = "GET", **kwargs: Any) -> Any:
        if method != "GET":
            return self._inner(url, method=method, **kwargs)
        with self._lock:
            hit = self._cache.get(url)
            if hit and hit[0] > time.monotonic():
                return hit[1]
        response = self._inner(url, method=method, **kwargs)
        if response.status == 200:
            with self._lock:
                self._cache[url] = (time.monotonic() + self._ttl, response)
        return response


@dataclass
class GoogleTokenVerifier:
    """Checks signature, expiry, issuer, audience and (optionally) the signer's email."""

    audiences: tuple[str, ...]
    emails: tuple[str, ...] = ()
    certs_url: str = GOOGLE_CERTS_URL
    issuers: tuple[str, ...] = GOOGLE_ISSUERS
    clock_skew: int = 10
    _request: Any = field(default=None, repr=False)

    def verify(self, token: str) -> Mapping[str, Any]:
        """The token's claims, or Unauthorized saying what did not match."""
        from google.auth import exceptions
        from google.oauth2 import id_token

        if not token or not self.audiences:
            raise Unauthorized("no token, or no audience configured")
        if self._request is None:
            self._request = _CachingRequest()
        try:
            claims = id_token.verify_token(
                token,
                self._request,
                audience=list(self.audiences),
                certs_url=self.certs_url,
                clock_skew_in_seconds=self.clock_skew,
            )
        except (ValueError, exceptions.GoogleAuthError) as exc:
            raise Unauthorized(f"ID token rejected: {exc}") from exc
        if claims.get("iss") not in self.issuers:
            raise Unauthorized(f"unexpected issuer {claims.get('iss')!r}")
        email = claims.get("email")
        if self.emails and (email not in self.emails or not claims.get("email_verified")):
            raise Unauthorized(f"token is not from an expected account: {email!r}")
        return claims


@dataclass
class ChatVerifier:
    """A request from Google Chat, under either "Authentication audience" setting of the app
    (Google's "Verify requests from Google Chat" guide):

    - *HTTP endpoint URL*: a Google-signed OIDC ID token whose ``aud`` is the endpoint URL and
      whose ``email`` is ``chat@system.gserviceaccount.com``, or, for a Chat app built as a
      Workspace add-on, the project's add-on service agent
      (``service-N@gcp-sa-gsuiteaddons.iam.gserviceaccount.com``; add-ons-samples
      python/chat/secured-app/main.py checks exactly that ``email``);
    - *Project number*: a JWT Chat signs itself, ``iss`` = ``chat@system.gserviceaccount.com``,
      ``aud`` = the project number, checked against that account's x509 certificates
      (``.../service_accounts/v1/metadata/x509/chat@system.gserviceaccount.com``).
    """

    endpoint_audiences: tuple[str, ...]
    project_numbers: tuple[str, ...] = ()
    emails: tuple[str, ...] = (CHAT_ISSUER,)
    google_certs_url: str = GOOGLE_CERTS_URL
    chat_certs_url: str = CHAT_CERTS_URL
    _id_token: GoogleTokenVerifier | None = field(default=None, repr=False)
    _self_signed: GoogleTokenVerifier | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self._id_token = GoogleTokenVerifier(
            audiences=self.endpoint_audiences, emails=self.emails, certs_url=self.google_certs_url
        )
        self._self_signed = GoogleTokenVerifier(
            audiences=self.project_numbers, issuers=(CHAT_ISSUER,), certs_url=self.chat_certs_url
        )

    def verify(self, token: str) -> Mapping[str, Any]:
        """The token's claims, or Unauthorized naming why each way failed."""
        problems = []
        for kind, verifier in (("ID token", self._id_token), ("Chat JWT", self._self_signed)):
            assert verifier is not None
            if not verifier.audiences:
                continue
            try:
                return verifier.verify(token)
            except Unauthorized as exc:
                problems.append(f"as a {kind}: {exc}")
        raise Unauthorized("; ".join(problems) or "no Chat audience configured")


def bearer(headers: Mapping[str, str]) -> str:
    """The token of an ``Authorization: Bearer`` header, or empty."""
    value = headers.get("Authorization") or ""
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def dev_identity(token: str, allowed: bool) -> str | None:
    """With --insecure-dev-auth, ``dev:<email>`` stands in for a verified user."""
    if allowed and token.startswith(DEV_PREFIX) and "@" in token:
        return token[len(DEV_PREFIX) :].strip().lower()
    return None


def split_list(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


def first(values: Iterable[str]) -> str | None:
    return next(iter(values), None)
