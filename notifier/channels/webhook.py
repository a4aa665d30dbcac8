"""The ``webhook`` channel: events to any HTTPS endpoint, signed per Standard Webhooks 1.0.

https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md:
- ``webhook-id``: one per event, the same on every retry (the receiver's idempotency key);
- ``webhook-timestamp``: Unix seconds of this attempt;
- ``webhook-signature``: ``v1,`` + base64 HMAC-SHA256 of ``{id}.{timestamp}.{body}`` with the
  endpoint's ``whsec_`` secret, over the exact bytes sent.
Only 2xx is success; a redirect is not followed (and is a failure); 410 means the endpoint
is gone; 429, 5xx and network errors are retried with backoff (events_out.py), honouring
Retry-After. Before every send the URL is checked again and its name resolved: an address in
a private, loopback or link-local range is refused unless the operator listed the host
(MAILBEACON_WEBHOOK_ALLOW_HOSTS), so a name that moved inside the network is not followed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import socket
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from mailbeacon.errors import DeliveryFailed, InvalidInput
from mailbeacon.retry_after import header_seconds
from mailbeacon.webhooks import allowed_host, check_event_webhook, secret_key

TIMEOUT = (5.0, 15.0)  # connect, read: the spec asks for 15-30 s in all
TRANSIENT = {408, 425, 429}


@dataclass(frozen=True)
class Endpoint:
    """Where one owner's events go: the user's own, or their domain's (``name``)."""

    name: str  # webhook (the user's) or webhook-domain (the admins')
    url: str
    secret: str


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value for these exact bytes."""
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    mac = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def webhook_id(key: str) -> str:
    """``msg_`` and the event's key, in the characters the spec allows (no ``.``)."""
    safe = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "_-") else "_" for ch in key)
    return f"msg_{safe}"[:200]


def body_bytes(event: dict[str, Any]) -> bytes:
    """The JSON sent (and signed): compact, UTF-8."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()


class WebhookSender:
    """Posts one signed event to one endpoint; raises DeliveryFailed (permanent or not)."""

    def __init__(self, allow_hosts: tuple[str, ...], timeout: tuple[float, float] = TIMEOUT):
        self.allow_hosts = allow_hosts
        self.timeout = timeout
        self._session: Any = None

    def _checked(self, endpoint: Endpoint) -> str:
        """The URL, checked again (a row written before a rule tightened is not followed),
        and its name resolved to public addresses only (or an operator-listed host)."""
        try:
            url = check_event_webhook(endpoint.url, self.allow_hosts)
            secret_key(endpoint.secret)
        except InvalidInput as exc:
            raise DeliveryFailed(endpoint.name, f"refused: {exc}", permanent=True) from exc
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if allowed_host(host, parts.port, self.allow_hosts):
            return url
        try:
            found = {info[4][0] for info in socket.getaddrinfo(host, parts.port or 443)}
        except OSError as exc:
            detail = f"{host} does not resolve: {exc}"
            raise DeliveryFailed(endpoint.name, detail, permanent=False) from exc
        inside = [a for a in found if not ipaddress.ip_address(a.split("%")[0]).is_global]
        if inside:
            detail = f"refused: {host} resolves to a private address ({inside[0]})"
            raise DeliveryFailed(endpoint.name, detail, permanent=True)
        return url

    def send(self, endpoint: Endpoint, key: str, event: dict[str, Any], now: datetime) -> None:
        import requests

        url = self._checked(endpoint)
        body, ident, stamp = body_bytes(event), webhook_id(key), int(now.timestamp())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Mailbeacon-Webhooks/1",
            "webhook-id": ident,
            "webhook-timestamp": str(stamp),
            "webhook-signature": sign(endpoint.secret, ident, stamp, body),
        }
        if self._session is None:
            self._session = requests.Session()
        host = urlsplit(url).hostname
        try:
            answer = self._session.post(
                url, data=body, headers=headers, timeout=self.timeout, allow_redirects=False
            )
        except requests.RequestException as exc:
            detail = f"{host} unreachable: {exc}"
            raise DeliveryFailed(endpoint.name, detail, permanent=False) from exc
        status = answer.status_code
        if 200 <= status < 300:
            return
        detail = f"{host} answered {status} {answer.text.strip()[:100]}".strip()
        transient = status in TRANSIENT or status >= 500
        raise DeliveryFailed(
            endpoint.name,
            detail + (" (the endpoint is gone)" if status == 410 else ""),
            permanent=not transient,
            retry_after=header_seconds(answer.headers) if transient else None,
            status=status,
        )
