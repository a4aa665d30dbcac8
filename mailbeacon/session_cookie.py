"""One cookie carries everything a browser keeps for us: ``__session``.

Firebase Hosting strips every cookie but the one named ``__session`` from requests it forwards
to Cloud Functions and Cloud Run ("Only the specially-named __session cookie is permitted to
pass through to the execution of your app", https://firebase.google.com/docs/hosting/
manage-cache#using_cookies). Behind a custom domain the dashboard's session, the sign-in flow's
state and the Slack install's state would otherwise never arrive. So they are entries of one
small signed jar: ``{name: [value, expires at]}`` as compact JSON, base64url, then an
HMAC-SHA256 of it. Each entry has its own lifetime; a jar that fails its signature, or an
entry past its time, reads as absent. Each writer reads the jar, changes its own entry and
writes the whole jar back (path ``/``: every function of the deployment shares it).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

from .errors import InvalidInput
from .json_input import read_json

NAME = "__session"
KEY_PURPOSE = "session-cookie"
"""The keyring derives the jar's key for this purpose (the dashboard and Slack alike)."""
MAX_BYTES = 3000
"""A browser keeps about 4 KB per cookie; a jar larger than this is refused on reading."""

Entries = dict[str, tuple[Any, float]]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class CookieJar:
    """Reads and writes the jar with one key (derived from the token keyring)."""

    def __init__(self, key: bytes, clock: Callable[[], float] = time.time) -> None:
        self.key = key
        self.clock = clock

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self.key, payload.encode("ascii"), hashlib.sha256).digest())

    def entries(self, raw: str | None) -> Entries:
        """The jar's live entries; empty for a missing, forged or malformed cookie."""
        if not raw or len(raw) > MAX_BYTES or raw.count(".") != 1 or not raw.isascii():
            return {}  # (we write only ASCII: base64 and a dot)
        payload, signature = raw.split(".")
        if not hmac.compare_digest(self._sign(payload), signature):
            return {}
        try:
            data = read_json(_unb64(payload), what="the session cookie")
        except (InvalidInput, ValueError, binascii.Error):
            return {}
        now = self.clock()
        if not isinstance(data, dict):
            return {}
        return {
            str(k): (v[0], float(v[1]))
            for k, v in data.items()
            if isinstance(v, list) and len(v) == 2 and isinstance(v[1], int | float) and v[1] > now
        }

    def get(self, raw: str | None, name: str) -> Any:
        found = self.entries(raw).get(name)
        return None if found is None else found[0]

    def dump(self, entries: Entries) -> str:
        payload = _b64(json.dumps({k: [v, int(t)] for k, (v, t) in entries.items()},
                                  separators=(",", ":")).encode())  # fmt: skip
        return f"{payload}.{self._sign(payload)}"

    def put(self, raw: str | None, name: str, value: Any, lifetime: float) -> Entries:
        """The jar with ``name`` set for ``lifetime`` seconds (the others kept)."""
        return {**self.entries(raw), name: (value, self.clock() + lifetime)}

    def drop(self, raw: str | None, *names: str) -> Entries:
        return {k: v for k, v in self.entries(raw).items() if k not in names}

    def set_cookie(self, entries: Entries, *, secure: bool) -> str:
        """The ``Set-Cookie`` header value for the jar: HttpOnly, SameSite=Lax (Google's and
        Slack's redirects back are top-level GETs, which carry Lax cookies), path ``/``,
        living as long as its longest entry; an empty jar deletes the cookie."""
        attributes = "; Path=/; HttpOnly; SameSite=Lax" + ("; Secure" if secure else "")
        if not entries:
            return f"{NAME}=; Max-Age=0{attributes}"
        max_age = max(0, int(max(t for _, t in entries.values()) - self.clock()))
        return f"{NAME}={self.dump(entries)}; Max-Age={max_age}{attributes}"
