"""Turn a request into a Hit, dropping the client address as soon as it is reduced.

The address is kept only as a keyed hash (to tell sources apart without knowing them) and a
network prefix (IPv4 /24, IPv6 /48). Catalogue tags are looked up here, while the address is
still in hand, so the classifier never needs it.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from datetime import datetime

from .model import Hit, HitKind
from .tokens import TokenClaims

MAX_HEADER_CHARS = 1024
MAX_ADDRESS_CHARS = 100  # the longest IPv6 with zone and port is well under this
NetworkTagger = Callable[[ipaddress.IPv4Address | ipaddress.IPv6Address], tuple[str, ...]]
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


ADDRESS_CACHE = 4096
"""Pure reductions of recent addresses, cached: the same proxies and scanners hit again and
again, and parsing, prefixing and hashing were a third of the pixel's own time. The cache is
process memory only; nothing of it is written."""


def no_tags(_address: IpAddress) -> tuple[str, ...]:
    return ()


@functools.lru_cache(maxsize=ADDRESS_CACHE)
def parse_address(text: str | None) -> IpAddress | None:
    """An IP address from a header or socket value, or None when it is not one."""
    if not text or len(text) > MAX_ADDRESS_CHARS:
        return None
    text = text.strip()
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]:443"
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # "203.0.113.9:5123"
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def client_address(
    remote_addr: str | None, forwarded_for: str | None, trust_proxy: int
) -> IpAddress | None:
    """The client's address: with ``trust_proxy`` N, the N-th last X-Forwarded-For entry.

    Proxies append the address they saw, so the last N entries were written by the N proxies
    we trust and the N-th last is what the outermost trusted one saw. Anything else in the
    header is the client's to forge. With too few entries we fall back to the socket peer.
    """
    if trust_proxy > 0 and forwarded_for:
        # Split from the right, at most N times: the work is bounded by the trusted entries,
        # however long the forged part, and nothing is cut from the left (a cut would shift
        # which entry counts as the N-th last, handing the choice to the client).
        entries = forwarded_for.rsplit(",", trust_proxy)
        if len(entries) >= trust_proxy:
            return parse_address(entries[-trust_proxy])
    return parse_address(remote_addr)


@functools.lru_cache(maxsize=ADDRESS_CACHE)
def network_prefix(address: IpAddress | None) -> str:
    if address is None:
        return ""
    if address.version == 4:
        return f"{ipaddress.IPv4Address(int(address) & 0xFFFFFF00)}/24"
    return f"{ipaddress.IPv6Address(int(address) >> 80 << 80)}/48"


@functools.lru_cache(maxsize=ADDRESS_CACHE)
def address_hash(key: bytes, address: IpAddress | None) -> str:
    if address is None:
        return ""
    return hmac.new(key, address.packed, hashlib.sha256).hexdigest()[:20]


_HEX_RUN = re.compile(r"[0-9A-Fa-f:.]+")
_DOTTED = re.compile(r"[0-9.]+")
HIDDEN = "(address)"
"""What an address-like run that is not one address becomes: never its digits."""


def reduce_via(value: str) -> str:
    """The Via header with every address in it reduced to its network prefix.

    Via lists the proxies a request passed ("1.1 203.0.113.9:3128 (squid)"); a received-by
    field or comment may be a client's or an internal address. Protocols, proxy names and
    comments are kept for classification; the addresses become what the hit keeps of the
    client address anyway. Every spelling counts, not just the tidy one: a run of hex digits,
    colons and dots with two colons or more is IPv6 (brackets, zones and ports end the run; a
    run that does not parse is hidden whole), and within any other run, four or more dotted
    numbers are IPv4 whatever touches them (a trailing dot, hex letters, a port), hidden when
    they are not exactly one address. Protocol versions ("1.1") have fewer parts and stay.
    """
    return _HEX_RUN.sub(_reduce_run, value[:MAX_HEADER_CHARS])


def _reduce_run(match: re.Match[str]) -> str:
    run = match.group(0)
    colons = run.count(":")
    if colons:  # IPv6 (two colons or more), or "address:port"
        address = parse_address(run.strip("."))
        if address is not None:
            return network_prefix(address)
        if colons >= 2:
            return HIDDEN
    return _DOTTED.sub(_reduce_dotted, run)


def _reduce_dotted(match: re.Match[str]) -> str:
    run = match.group(0)
    parts = run.strip(".").split(".")
    if len(parts) < 4:
        return run
    if len(parts) == 4 and all(p.isdigit() and len(p) <= 3 and int(p) <= 255 for p in parts):
        octets = [int(p) for p in parts]
        prefix = network_prefix(ipaddress.IPv4Address(bytes(octets)))
        return run.replace(run.strip("."), prefix)
    return HIDDEN


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name) or ""
    return value[:MAX_HEADER_CHARS]


def build_hit(
    claims: TokenClaims,
    *,
    method: str,
    headers: Mapping[str, str],
    address: IpAddress | None,
    at: datetime,
    ip_key: bytes,
    tagger: NetworkTagger = no_tags,
) -> Hit:
    """The Hit for one verified request. ``headers`` is case-insensitive (as WSGI gives it)."""
    kind: HitKind = "click" if claims.kind == "click" else "open"
    try:
        tags = tagger(address) if address is not None else ()
    except Exception:  # a broken catalogue must never cost us the hit
        tags = ()
    return Hit(
        id=os.urandom(12).hex(),  # secrets.token_hex, minus two calls on the hot path
        kind=kind,
        message_id=claims.message_id,
        at=at,
        method=method.upper()[:16],
        user_agent=_header(headers, "User-Agent"),
        accept=_header(headers, "Accept"),
        # warmbly abuse.rs reads all four; Mautic #15844 the first two.
        purpose=_header(headers, "Sec-Purpose")
        or _header(headers, "Purpose")
        or _header(headers, "X-Purpose")
        or _header(headers, "X-Moz"),
        has_referer=bool(headers.get("Referer")),
        via=reduce_via(via) if (via := headers.get("Via")) else "",
        ip_hash=address_hash(ip_key, address),
        network=network_prefix(address),
        network_tags=tuple(tags),
        link_index=claims.link_index,
        url=claims.url,
    )
