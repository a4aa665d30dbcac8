"""The pixel and the click: verify the token, reduce the request to a hit, say what to answer.

Shared by the local edge (on its event loop) and the Flask app (Cloud Functions enter there):
each reads the few request headers it needs its own way, records the hit its own way, and
answers from the ``Outcome``. Nothing here blocks: recording is the caller's step.
"""

from __future__ import annotations

import base64
import functools
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from mailbeacon.errors import InvalidToken
from mailbeacon.hits import build_hit, client_address
from mailbeacon.model import Hit

from .ports import TrackingParts

log = logging.getLogger(__name__)

GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==")
assert len(GIF) == 43
NO_STORE = "no-store, no-cache, must-revalidate, private, max-age=0"
HIT_HEADERS = (
    *("User-Agent", "Accept", "Referer", "Via"),
    *("Sec-Purpose", "Purpose", "X-Purpose", "X-Moz"),
)
"""The request headers a Hit reads (hits.build_hit)."""
FORWARDED_FOR = "X-Forwarded-For"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What to answer (200 with the GIF, 302 to ``location``, 404 or 405) and what to record."""

    status: int
    hit: Hit | None = None
    location: str | None = None


NOT_FOUND = Outcome(404)
NOT_ALLOWED = Outcome(405)


def route(path: str) -> tuple[str, str] | None:
    """(token, "open" | "click") for a tracking path, else None (not ours to answer)."""
    if path.startswith("/p/") and path.endswith(".gif"):
        token, kind = path[3:-4], "open"
    elif path.startswith("/c/"):
        token, kind = path[3:], "click"
    else:
        return None
    if not token or "/" in token:
        return None
    return token, kind


class Tracker:
    """Turns one tracking request into an ``Outcome``; verification needs no database."""

    def __init__(self, parts: TrackingParts) -> None:
        self.parts = parts
        self.signer = parts.signer
        self.clock = parts.clock
        self.ip_key = parts.ip_key
        self.trust_proxy = parts.trust_proxy
        # Catalogue look-ups walk nine range sets; the same proxies and scanners come back
        # again and again. The addresses stay in memory only, never written anywhere.
        self.tagger = functools.lru_cache(maxsize=4096)(parts.tagger)

    def outcome(
        self,
        token: str,
        kind: str,
        method: str,
        headers: Mapping[str, str],
        remote_addr: str | None,
    ) -> Outcome:
        """``headers`` holds at most ``HIT_HEADERS`` and ``X-Forwarded-For``, by those names."""
        if method != "GET" and method != "HEAD":
            return NOT_ALLOWED
        try:
            claims = self.signer.verify(token)
        except InvalidToken as exc:
            log.info("refused a %s token: %s", kind, exc)
            return NOT_FOUND
        if claims.kind != kind:
            log.info("refused a %s token used as %s", claims.kind, kind)
            return NOT_FOUND
        if kind == "click" and not claims.url:
            return NOT_FOUND
        address = client_address(remote_addr, headers.get(FORWARDED_FOR), self.trust_proxy)
        hit = build_hit(
            claims,
            method=method,
            headers=headers,
            address=address,
            at=self.clock.now(),
            ip_key=self.ip_key,
            tagger=self.tagger,
        )
        if kind == "open":
            return Outcome(200, hit)
        return Outcome(302, hit, claims.url)

    def recorded(self) -> None:
        self.parts.health.recorded()

    def failed(self, hit: Hit, reason: str) -> None:
        """The hit was not recorded: the recipient still gets the answer; health says why
        (before the log line, so whoever reads the line finds health already saying it)."""
        self.parts.health.failed(f"recording hits: {reason}")
        log.error("could not record %s hit %s: %s", hit.kind, hit.id, reason)
