"""Whether a request comes from this very computer: the local sign-in (``--insecure-dev-auth``)
signs anyone in as anyone, so it must never work for another computer.

A request is local when its peer is a loopback address, it names a loopback host (a page on
another site whose name resolves to 127.0.0.1, DNS rebinding, sends that site's name), and no
proxy forwarded it (a proxy on this computer makes every peer look local).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

FORWARDING = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP")


def loopback_host(name: str) -> bool:
    """``localhost``, ``127.x.x.x`` or ``::1``, with or without a port or brackets."""
    host = name.strip().lower()
    if host.startswith("["):
        host = host[1:].partition("]")[0]
    elif host.count(":") == 1:
        host = host.partition(":")[0]
    if host in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def local_request(environ: Mapping[str, Any]) -> bool:
    """Whether a WSGI request came from this computer, to a loopback name, unforwarded."""
    if any(environ.get(name) for name in FORWARDING):
        return False
    peer = str(environ.get("REMOTE_ADDR") or "")
    host = str(environ.get("HTTP_HOST") or "")
    return bool(peer and host) and loopback_host(peer) and loopback_host(host)


def dev_token(headers: Mapping[str, str]) -> bool:
    """Whether a request presents a ``dev:<email>`` bearer token."""
    value = headers.get("Authorization") or ""
    scheme, _, token = value.partition(" ")
    return scheme.lower() == "bearer" and token.strip().startswith("dev:")


def remote_dev_token(headers: Mapping[str, str], environ: Mapping[str, Any]) -> bool:
    """A ``dev:`` token presented from another computer: refused wherever tokens are read."""
    return dev_token(headers) and not local_request(environ)
