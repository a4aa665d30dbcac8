"""Signed, compact tokens for pixels and links.

A token names the message (and, for a link, its index and destination URL) and nothing about
the people involved. It is verified with HMAC-SHA256 alone, so the pixel path needs no
database read, and a click can only ever redirect to a URL that we signed.

Layout before base64url: key id (1 byte) | version (1) | kind (1) | message id (12) |
[link index (2) | URL (UTF-8)] | MAC (first 16 bytes of HMAC-SHA256 over all that precedes).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from .errors import InvalidInput, InvalidToken
from .files import private_dir


def same_secret(expected: str, presented: str) -> bool:
    """Whether two texts are equal, in constant time, whatever characters they hold.

    ``hmac.compare_digest`` raises TypeError for a str with a character outside ASCII, so a
    CSRF token, OAuth state or signature sent with one was a 500; as UTF-8 bytes (a lone
    surrogate passed through) any two texts compare."""
    return hmac.compare_digest(
        expected.encode("utf-8", "surrogatepass"), presented.encode("utf-8", "surrogatepass")
    )


VERSION = 1
MAC_SIZE = 16
MESSAGE_ID_SIZE = 12
MAX_TOKEN_CHARS = 4096
_KINDS = {b"o": "open", b"c": "click", b"v": "view", b"r": "reminder"}
REMINDER_ACTIONS = ("done", "snooze-1", "snooze-3")
"""A reminder's buttons, by their byte in a reminder-action token."""
_KIND_BYTES = {v: k for k, v in _KINDS.items()}


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    if len(text) > MAX_TOKEN_CHARS:
        raise InvalidToken("token too long")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise InvalidToken("token is not base64url") from exc
    # The decoder skips junk characters, accepts padding and ignores the spare bits of the last
    # character: only the one encoding we produce is accepted, so a token has a single spelling.
    if _b64encode(raw) != text:
        raise InvalidToken("token is not in canonical base64url")
    return raw


def new_message_id() -> str:
    """A random, unguessable message id (16 URL-safe characters).

    Never starting with "-": `mailbeacon stats -abc...` would read the id as an option.
    """
    while True:
        message_id = _b64encode(secrets.token_bytes(MESSAGE_ID_SIZE))
        if not message_id.startswith("-"):
            return message_id


def message_id_bytes(message_id: str) -> bytes:
    raw = _b64decode(message_id)
    if len(raw) != MESSAGE_ID_SIZE or _b64encode(raw) != message_id:
        raise InvalidToken("malformed message id")
    return raw


@dataclass(frozen=True)
class TokenClaims:
    """What a verified token says."""

    kind: str
    message_id: str
    link_index: int | None = None
    url: str | None = None
    expires: int | None = None
    action: str | None = None
    """A reminder-action token's button (``done``, ``snooze-1``, ``snooze-3``)."""


@dataclass(frozen=True)
class Keyring:
    """Signing keys by id. ``current`` signs; every key in ``keys`` still verifies."""

    keys: dict[int, bytes]
    current: int

    @classmethod
    def parse(cls, spec: str) -> Keyring:
        """Read ``ID:SECRET[,ID:SECRET...]`` (the first signs) or one bare secret (key id 0)."""
        keys: dict[int, bytes] = {}
        order: list[int] = []
        for part in (p.strip() for p in spec.split(",")):
            if not part:
                continue
            head, sep, tail = part.partition(":")
            if sep and head.isascii() and head.isdigit() and 0 <= int(head) <= 255 and tail:
                kid, secret = int(head), tail
            else:
                kid, secret = 0, part
            if len(secret) < 16:
                raise ValueError("each MAILBEACON_SECRET key needs at least 16 characters")
            if kid in keys:
                raise ValueError(f"key id {kid} appears twice in MAILBEACON_SECRET")
            keys[kid] = secret.encode()
            order.append(kid)
        if not keys:
            raise ValueError("MAILBEACON_SECRET holds no key")
        return cls(keys=keys, current=order[0])

    def derive(self, purpose: str) -> bytes:
        """A separate key for another use (such as hashing addresses) from the signing key."""
        return hmac.new(self.keys[self.current], purpose.encode(), hashlib.sha256).digest()


def load_keyring(data_dir: Path, secret: str | None = None) -> Keyring:
    """The keyring from ``secret`` (MAILBEACON_SECRET), or from a secret generated once into
    the data dir with mode 0600. A malformed one is InvalidInput (a one-line refusal)."""
    if secret:
        try:
            return Keyring.parse(secret)
        except ValueError as exc:
            raise InvalidInput(f"MAILBEACON_SECRET: {exc}") from exc
    path = data_dir / "secret"
    private_dir(data_dir)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return Keyring.parse(path.read_text().strip())
    with os.fdopen(fd, "w") as f:
        f.write(f"1:{secrets.token_hex(32)}\n")
    return Keyring.parse(path.read_text().strip())


class TokenSigner:
    """Makes and checks tokens. Fails closed: anything unexpected is InvalidToken."""

    def __init__(self, keyring: Keyring) -> None:
        self._keyring = keyring

    def _mac(self, kid: int, body: bytes) -> bytes:
        return hmac.digest(self._keyring.keys[kid], body, "sha256")[:MAC_SIZE]

    def _sign(self, payload: bytes) -> str:
        kid = self._keyring.current
        body = bytes([kid, VERSION]) + payload
        return _b64encode(body + self._mac(kid, body))

    def pixel(self, message_id: str) -> str:
        return self._sign(b"o" + message_id_bytes(message_id))

    def link(self, message_id: str, index: int, url: str) -> str:
        if not 0 < index < 65536:
            raise ValueError("link index out of range")
        return self._sign(
            b"c" + message_id_bytes(message_id) + index.to_bytes(2, "big") + url.encode("utf-8")
        )

    def view(self, message_id: str, expires: int) -> str:
        """A read-only key to one message's page, valid until ``expires`` (Unix seconds).

        Sent only to the owner's own channels (Slack DM, Chat DM, email), so the link in an
        alert opens without a sign-in, and stops working after a while.
        """
        return self._sign(b"v" + message_id_bytes(message_id) + expires.to_bytes(5, "big"))

    def reminder_action(self, message_id: str, action: str, expires: int) -> str:
        """One button of a reminder, as a link for channels that cannot call us back (email,
        webhooks, Web Push): it names the email and the button, and expires."""
        code = REMINDER_ACTIONS.index(action).to_bytes(1, "big")
        return self._sign(b"r" + message_id_bytes(message_id) + code + expires.to_bytes(5, "big"))

    def verify(self, token: str) -> TokenClaims:
        raw = _b64decode(token)
        if len(raw) < 3 + MESSAGE_ID_SIZE + MAC_SIZE:
            raise InvalidToken("token too short")
        body, mac = raw[:-MAC_SIZE], raw[-MAC_SIZE:]
        kid, version = body[0], body[1]
        key = self._keyring.keys.get(kid)
        expected = self._mac(kid, body) if key is not None else bytes(MAC_SIZE)
        if not hmac.compare_digest(expected, mac) or key is None:
            raise InvalidToken("bad signature")
        if version != VERSION:
            raise InvalidToken("unknown token version")
        kind = _KINDS.get(body[2:3])
        message_id = _b64encode(body[3 : 3 + MESSAGE_ID_SIZE])
        rest = body[3 + MESSAGE_ID_SIZE :]
        if kind == "open" and not rest:
            return TokenClaims(kind="open", message_id=message_id)
        if kind == "view" and len(rest) == 5:
            return TokenClaims("view", message_id, expires=int.from_bytes(rest, "big"))
        if kind == "reminder" and len(rest) == 6 and rest[0] < len(REMINDER_ACTIONS):
            expires = int.from_bytes(rest[1:], "big")
            return TokenClaims(
                "reminder", message_id, expires=expires, action=REMINDER_ACTIONS[rest[0]]
            )
        if kind == "click" and len(rest) > 2:
            try:
                url = rest[2:].decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InvalidToken("bad link URL") from exc
            return TokenClaims("click", message_id, int.from_bytes(rest[:2], "big"), url)
        raise InvalidToken("malformed token")
