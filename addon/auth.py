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
