"""Google-signed OIDC ID tokens: who a request from Google (or a Google user) really is.

One verifier for every caller that presents one: the add-on's runtime and its users, the Chat
app, Pub/Sub's pushes and Cloud Scheduler's calls, and the dashboard's "Sign in with Google".
The certificate URL is configurable so tests verify real signatures made with a local key;
nothing is bypassed.
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidInput, Unauthorized
from ..json_input import read_json
from ..platform import CHAT_CERTS_URL, CHAT_ISSUER_EMAILS, GOOGLE_CERTS_URL
from ..redact import redact

GOOGLE_ISSUERS = ("accounts.google.com", "https://accounts.google.com")
CHAT_ISSUER = CHAT_ISSUER_EMAILS[0]
DEV_PREFIX = "dev:"


MAX_TOKEN_CHARS = 8192
_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")


def jwt_shaped(token: str) -> bool:
    """Whether ``token`` could be a Google ID token: three base64url parts, the first a JSON
    header naming RS256 and a key id. Checked before anything is fetched, so garbage in an
    Authorization header costs no network round trip."""
    if len(token) > MAX_TOKEN_CHARS:
        return False
    parts = token.split(".")
    if len(parts) != 3 or not all(_SEGMENT.fullmatch(p) for p in parts):
        return False
    try:
        raw = base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4))
        header = read_json(raw, what="the token header", max_depth=2)
    except (InvalidInput, ValueError, binascii.Error):
        return False
    return (
        isinstance(header, dict)
        and header.get("alg") == "RS256"
        and isinstance(header.get("kid"), str)
    )


@dataclass
class _Entry:
    expires: float
    response: Any = None  # the last good response, kept through a failed refresh
    error: str = ""


class CertificateCache:
    """A google-auth transport for certificate URLs: cached, bounded, one fetch at a time.

    Google rotates its keys over days; fetching them on every request would put a network
    round trip on every add-on click. More importantly, a slow or unreachable certificate URL
    must never hold the server's threads: a fetch takes at most ``timeout`` seconds in all
    (not per read: a URL trickling a byte every 4 s held the old fetch for 80 s), only one
    thread fetches a URL at a time (the others answer at once from the cache, or are refused),
    and a failure is remembered for ``failure_ttl`` seconds instead of being retried by every
    request. The download runs on a daemon thread that is cut off at the deadline, so neither
    a request nor the process's exit ever waits for it.
    """

    def __init__(self, ttl: float = 300.0, timeout: float = 5.0, failure_ttl: float = 30.0):
        self.ttl = ttl
        self.timeout = timeout
        self.failure_ttl = failure_ttl
        self._entries: dict[str, _Entry] = {}
        self._fetching: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, url: str, method: str = "GET", **kwargs: Any) -> Any:
        if method != "GET":
            raise Unauthorized("only certificate fetches go through this transport")
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(url)
            if entry is not None and (entry.expires > now or url in self._fetching):
                if entry.response is not None:
                    return entry.response
                raise Unauthorized(f"Google certificates unavailable: {entry.error}")
            if url in self._fetching:
                raise Unauthorized("Google certificates are being fetched; try again")
            self._fetching.add(url)
        try:
            response, error = self._fetch(url), ""
            if response.status != 200:
                error = f"certificate URL answered {response.status}"
        except Exception as exc:  # any transport failure: remembered, never retried at once
            response, error = None, redact(f"{type(exc).__name__}: {exc}")[:200]
        with self._lock:
            self._fetching.discard(url)
            if error:
                stale = entry.response if entry is not None else None
                self._entries[url] = _Entry(time.monotonic() + self.failure_ttl, stale, error)
            else:
                self._entries[url] = _Entry(time.monotonic() + self.ttl, response)
            kept = self._entries[url].response
        if kept is None:
            raise Unauthorized(f"Google certificates unavailable: {error}")
        return kept

    def _fetch(self, url: str) -> Any:
        from .certificates import fetch_within

        return fetch_within(url, self.timeout)


_SHARED = CertificateCache()


def certificate_deadline(seconds: float) -> None:
    """How long a certificate fetch may take in all (MAILBEACON_CERT_TIMEOUT); the
    composition root sets it on the one cache every verifier shares."""
    _SHARED.timeout = seconds


@dataclass
class GoogleTokenVerifier:
    """Checks signature, expiry, issuer, audience and (optionally) the signer's email."""

    audiences: tuple[str, ...]
    emails: tuple[str, ...] = ()
    certs_url: str = GOOGLE_CERTS_URL
    issuers: tuple[str, ...] = GOOGLE_ISSUERS
    clock_skew: int = 10
    _request: Any = field(default=_SHARED, repr=False)

    def verify(self, token: str) -> Mapping[str, Any]:
        """The token's claims, or Unauthorized saying what did not match."""
        from google.auth import exceptions
        from google.oauth2 import id_token

        if not token or not self.audiences:
            raise Unauthorized("no token, or no audience configured")
        if not jwt_shaped(token):
            raise Unauthorized("not a Google ID token")
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
        if self.emails and (email not in self.emails or not email_verified(claims)):
            raise Unauthorized(f"token is not from an expected account: {email!r}")
        return claims


def email_verified(claims: Mapping[str, Any]) -> bool:
    """Google sends the JSON boolean ``true``; a string such as ``"false"`` is not a yes."""
    return claims.get("email_verified") is True


def workspace_email(claims: Mapping[str, Any], domains: Iterable[str]) -> str:
    """The lower-cased, verified email of a user of one of our Workspace ``domains``.

    Any Google account (a consumer one, any project's service account) can get a token for our
    client id; only the hosted-domain claim ``hd`` says it belongs to the Workspace. One rule
    for the add-on's users and the dashboard's sign-in alike.
    """
    email = claims.get("email")
    if not isinstance(email, str) or "@" not in email or not email_verified(claims):
        raise Unauthorized("the ID token carries no verified email")
    allowed = {d.lower() for d in domains}
    if not allowed:
        raise Unauthorized("MAILBEACON_WORKSPACE_DOMAINS is not set: no user is admitted")
    domain = claims.get("hd")
    if not isinstance(domain, str) or domain.lower() not in allowed:
        raise Unauthorized(f"{email!r} is not in a configured Workspace domain (hd={domain!r})")
    return email.strip().lower()


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
