"""Personal access tokens: for scripts calling /api/v1 without a Google ID token.

A token is shown once, when created; only its SHA-256 is kept (it carries 256 random bits, so
a fast hash is enough: there is nothing to guess). Each token belongs to one user and acts as
that user only. Records: ``access-tokens/<hash>`` finds the user from a presented token,
``access-tokens-by-user/<user>|<id>`` lists a user's tokens for the settings page.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .clock import iso
from .errors import InvalidInput, Unauthorized
from .records import Namespace, Records

PREFIX = "mbp_"
BY_HASH = Namespace.ACCESS_TOKENS
BY_USER = Namespace.ACCESS_TOKENS_BY_USER
MAX_NAME_CHARS = 80
MAX_TOKENS = 50


@dataclass(frozen=True)
class AccessToken:
    id: str
    user: str
    name: str
    created_at: str | None

    def to_public(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "created_at": self.created_at}


def looks_like_token(value: str) -> bool:
    return value.startswith(PREFIX)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(store: Records, user: str, name: str, now: datetime) -> tuple[AccessToken, str]:
    """A new token for ``user``: its record and the secret, which is never shown again."""
    name = " ".join(name.split())[:MAX_NAME_CHARS]
    if not name:
        raise InvalidInput("give the token a name, to know later what uses it")
    if len(list_tokens(store, user)) >= MAX_TOKENS:
        raise InvalidInput(f"at most {MAX_TOKENS} tokens: revoke one first")
    secret = PREFIX + secrets.token_urlsafe(32)
    token = AccessToken(secrets.token_hex(6), user.lower(), name, iso(now))
    digest = _hash(secret)
    store.put_record(
        BY_USER,
        f"{token.user}|{token.id}",
        {"name": name, "created_at": token.created_at, "hash": digest},
    )
    store.put_record(BY_HASH, digest, {"user": token.user, "id": token.id})
    return token, secret


def list_tokens(store: Records, user: str) -> list[AccessToken]:
    user = user.lower()
    return [
        AccessToken(key.split("|", 1)[1], user, value["name"], value.get("created_at"))
        for key, value in store.list_records(BY_USER, f"{user}|")
    ]


def revoke_token(store: Records, user: str, token_id: str) -> bool:
    """Revoke one of ``user``'s tokens; False if they have no token with that id."""
    key = f"{user.lower()}|{token_id}"
    record = store.get_record(BY_USER, key)
    if record is None:
        return False
    store.delete_record(BY_HASH, record["hash"])
    store.delete_record(BY_USER, key)
    return True


def user_for_token(store: Records, secret: str) -> str:
    """The user a presented token acts for, or Unauthorized."""
    record = store.get_record(BY_HASH, _hash(secret)) if looks_like_token(secret) else None
    if record is None:
        raise Unauthorized("unknown or revoked access token")
    return str(record["user"])
