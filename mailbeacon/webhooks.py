"""Where events may be posted (the Standard Webhooks channel), and the endpoints' secrets.

Shared by a user's settings and a domain's policy. An accepted URL is where our server will
POST event contents, so the same care as for Slack's and Chat's webhooks applies: any public
https host on the standard port, or a host the operator listed in
MAILBEACON_WEBHOOK_ALLOW_HOSTS (http and any port allowed there, for loopback receivers);
never a user name and password, an address in a private, loopback or link-local range, or a
name without a dot (an internal host). The channel checks the resolved address again before
every send (notifier/channels/webhook.py).
"""

from __future__ import annotations

import base64
import ipaddress
import secrets
from collections.abc import Sequence
from typing import NamedTuple
from urllib.parse import SplitResult, urlsplit

from .errors import InvalidInput

MAX_URL_CHARS = 1000
SECRET_PREFIX = "whsec_"


def allowed_host(hostname: str, port: int | None, allow_hosts: Sequence[str]) -> bool:
    """Whether ``hostname[:port]`` is one the operator listed (``host`` alone: any port)."""
    for entry in allow_hosts:
        host, _, wanted = entry.strip().lower().rpartition(":")
        if not host or not (wanted.isascii() and wanted.isdigit()):
            host, wanted = entry.strip().lower(), ""
        host = host.strip("[]")
        if hostname == host and (not wanted or port == int(wanted)):
            return True
    return False


def public_host(hostname: str) -> bool:
    """A name with a dot that is not a local one, or a global unicast address."""
    try:
        address = ipaddress.ip_address(hostname.strip("[]"))
    except ValueError:
        local = hostname.endswith((".localhost", ".local", ".internal")) or hostname == "localhost"
        return "." in hostname and not local
    return address.is_global


class WebhookUrl(NamedTuple):
    """A webhook URL's parts, after the checks every kind of webhook shares."""

    value: str
    parts: SplitResult
    hostname: str
    port: int | None


def split_webhook_url(url: str, max_chars: int = MAX_URL_CHARS) -> WebhookUrl:
    """``url`` stripped and split, or InvalidInput: too long, spaces or non-ASCII, not a URL,
    or carrying a user name or password (Slack's, Chat's and events' webhooks, and Web Push
    endpoints, alike)."""
    value = url.strip()
    if len(value) > max_chars or not value.isascii() or any(c.isspace() for c in value):
        raise InvalidInput("the URL is too long or contains spaces")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        raise InvalidInput(f"not a URL: {exc}") from exc
    if parts.username or parts.password:
        raise InvalidInput("must not carry a user name or password")
    return WebhookUrl(value, parts, (parts.hostname or "").lower(), port)


def check_event_webhook(url: str, allow_hosts: Sequence[str] = ()) -> str:
    """``url`` if events may be posted there; else InvalidInput saying why."""
    value, parts, hostname, port = split_webhook_url(url)
    if allowed_host(hostname, port, allow_hosts) and parts.scheme in ("http", "https"):
        return value
    if parts.scheme != "https":
        raise InvalidInput("must start with https://")
    if port not in (None, 443):
        raise InvalidInput("must not carry a port")
    if not public_host(hostname):
        raise InvalidInput(f"{hostname or 'nothing'} is not a public host")
    return value


def new_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and 32 random bytes in base64 (the spec asks
    for 24 to 64; one per endpoint)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def secret_for(url: str | None, current: str | None) -> str | None:
    """The secret of a webhook just set to ``url``: none without a URL, else the ``current``
    one kept, or a new one if there is none."""
    return None if url is None else current or new_secret()


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_`` secret; InvalidInput unless it holds 24 to 64 bytes (the
    reference library drops junk characters silently and accepts a two-byte key)."""
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except ValueError as exc:
        raise InvalidInput("the webhook secret is not base64") from exc
    if not 24 <= len(key) <= 64:
        raise InvalidInput("the webhook secret must hold 24 to 64 bytes")
    return key
