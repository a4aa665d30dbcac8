"""Browser push subscriptions: which browsers a user asked to be told through, per user.

A subscription is what a browser's ``PushSubscription.toJSON()`` gives (W3C Push API): an
endpoint URL at the browser vendor's push service and the two keys the payload is encrypted
to (RFC 8291). The endpoint is where our server will POST, so it is checked like a webhook:
only the push services browsers actually use, over https (server-side request forgery
otherwise). Known services, per browser (https://blog.pushpad.xyz/2022/03/what-are-the-browser-push-services/):
Chrome and Chromium-based browsers use FCM (``fcm.googleapis.com``), Firefox Mozilla's
autopush (``updates.push.services.mozilla.com``), Edge WNS (``*.notify.windows.com``), Safari
Apple's (``web.push.apple.com``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from .clock import iso
from .errors import InvalidInput
from .records import Namespace, Records
from .webhooks import split_webhook_url

SUBSCRIPTIONS = Namespace.PUSH_SUBSCRIPTIONS
MAX_ENDPOINT_CHARS = 1000
MAX_PER_USER = 20
PUSH_HOSTS = ("fcm.googleapis.com", "updates.push.services.mozilla.com", "web.push.apple.com")
PUSH_HOST_SUFFIXES = (".notify.windows.com", ".push.apple.com")
LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class EndpointRules:
    """Where push messages may be sent: the browsers' push services; with the insecure dev
    mode (``--insecure-dev-auth``) also ``http://127.0.0.1:PORT/...``, for local receivers."""

    allow_loopback: bool = False

    def check(self, endpoint: Any) -> str:
        if not isinstance(endpoint, str) or not endpoint:
            raise InvalidInput('"endpoint" must be the push service URL')
        try:
            value, parts, host, port = split_webhook_url(endpoint, MAX_ENDPOINT_CHARS)
        except InvalidInput as exc:
            raise InvalidInput(f'"endpoint": {exc}') from exc
        if self.allow_loopback and parts.scheme == "http" and host == LOOPBACK and port:
            return value
        if parts.scheme != "https":
            raise InvalidInput('"endpoint" must be an https:// URL of a browser push service')
        if port not in (None, 443):
            raise InvalidInput('"endpoint" must not carry a port')
        if host not in PUSH_HOSTS and not host.endswith(PUSH_HOST_SUFFIXES):
            raise InvalidInput(f'"endpoint" is not on a known push service ({host or "no host"})')
        if len(parts.path) < 2:
            raise InvalidInput('"endpoint" has no path')
        return value


def _b64url(value: Any, name: str, size: int | None = None) -> bytes:
    if not isinstance(value, str) or not value or len(value) > 200:
        raise InvalidInput(f'"keys.{name}" must be a base64url string')
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise InvalidInput(f'"keys.{name}" is not base64url') from None
    if size is not None and len(raw) != size:
        raise InvalidInput(f'"keys.{name}" must decode to {size} bytes, not {len(raw)}')
    return raw


def _check_p256dh(value: Any) -> str:
    """An uncompressed P-256 point (65 bytes, 0x04 first) that lies on the curve."""
    from cryptography.hazmat.primitives.asymmetric import ec

    raw = _b64url(value, "p256dh", 65)
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
    except ValueError:
        raise InvalidInput('"keys.p256dh" is not a P-256 public key') from None
    return str(value)


@dataclass(frozen=True)
class Subscription:
    id: str
    user: str
    endpoint: str
    p256dh: str
    auth: str
    created_at: str
    last_success_at: str | None = None

    @property
    def endpoint_host(self) -> str:
        return urlsplit(self.endpoint).netloc

    def info(self) -> dict[str, Any]:
        """The shape pywebpush and the Push API use: ``{"endpoint", "keys": {...}}``."""
        return {"endpoint": self.endpoint, "keys": {"p256dh": self.p256dh, "auth": self.auth}}

    def to_public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "endpoint_host": self.endpoint_host,
            "created_at": self.created_at,
            "last_success_at": self.last_success_at,
        }

    @classmethod
    def from_record(cls, key: str, value: dict[str, Any]) -> Subscription:
        user, _, sub_id = key.rpartition("|")
        return cls(
            id=sub_id,
            user=user,
            endpoint=value["endpoint"],
            p256dh=value["p256dh"],
            auth=value["auth"],
            created_at=value["created_at"],
            last_success_at=value.get("last_success_at"),
        )


def subscription_id(endpoint: str) -> str:
    """Derived from the endpoint, so the same browser subscribing twice is one subscription."""
    return hashlib.sha256(endpoint.encode()).hexdigest()[:20]


def parse_subscription(body: Any, rules: EndpointRules) -> tuple[str, str, str]:
    """``PushSubscription.toJSON()`` checked: (endpoint, p256dh, auth), or InvalidInput."""
    if not isinstance(body, dict):
        raise InvalidInput('send the browser\'s PushSubscription: {"endpoint", "keys"}')
    endpoint = rules.check(body.get("endpoint"))
    keys = body.get("keys")
    if not isinstance(keys, dict):
        raise InvalidInput('"keys" must be an object with "p256dh" and "auth"')
    p256dh = _check_p256dh(keys.get("p256dh"))
    _b64url(keys.get("auth"), "auth", 16)
    return endpoint, p256dh, str(keys["auth"])


def add_subscription(
    records: Records, user: str, body: Any, rules: EndpointRules, now: datetime
) -> Subscription:
    """Store a browser's subscription for ``user``; the same endpoint again replaces its keys."""
    endpoint, p256dh, auth = parse_subscription(body, rules)
    sub_id = subscription_id(endpoint)
    key = f"{user}|{sub_id}"
    existing = records.get_record(SUBSCRIPTIONS, key)
    if existing is None and len(list_subscriptions(records, user)) >= MAX_PER_USER:
        raise InvalidInput(f"at most {MAX_PER_USER} browsers; remove one first")
    value = {
        "endpoint": endpoint,
        "p256dh": p256dh,
        "auth": auth,
        "created_at": (existing or {}).get("created_at") or iso(now),
        "last_success_at": (existing or {}).get("last_success_at"),
    }
    records.put_record(SUBSCRIPTIONS, key, value)
    return Subscription.from_record(key, value)


def list_subscriptions(records: Records, user: str) -> list[Subscription]:
    return [
        Subscription.from_record(key, value)
        for key, value in records.list_records(SUBSCRIPTIONS, prefix=f"{user}|")
    ]


def delete_subscription(records: Records, user: str, sub_id: str) -> bool:
    """Remove one of ``user``'s subscriptions; False if they have none with that id."""
    key = f"{user}|{sub_id}"
    if "|" in sub_id or records.get_record(SUBSCRIPTIONS, key) is None:
        return False
    records.delete_record(SUBSCRIPTIONS, key)
    return True


def mark_success(records: Records, subscription: Subscription, now: datetime) -> None:
    key = f"{subscription.user}|{subscription.id}"
    value = records.get_record(SUBSCRIPTIONS, key)
    if value is not None:
        records.put_record(SUBSCRIPTIONS, key, {**value, "last_success_at": iso(now)})
