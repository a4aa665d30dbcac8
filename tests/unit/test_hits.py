"""Hits: the edge keeps what classification needs and never a raw address."""

from __future__ import annotations

import ipaddress
import json
from datetime import UTC, datetime

import pytest

from mailbeacon.hits import address_hash, build_hit, client_address, network_prefix, parse_address
from mailbeacon.model import Hit
from mailbeacon.tokens import TokenClaims

KEY = b"k" * 32
AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def make(headers: dict[str, str], address: str | None = "203.0.113.77", **kw) -> Hit:  # type: ignore[no-untyped-def]
    return build_hit(
        TokenClaims("open", "AAAAAAAAAAAAAAAA"),
        method=kw.pop("method", "GET"),
        headers=headers,
        address=parse_address(address),
        at=AT,
        ip_key=KEY,
        **kw,
    )


def test_address_is_reduced_to_hash_and_prefix() -> None:
    hit = make({"User-Agent": "Mozilla/5.0", "Accept": "image/*", "Referer": "https://mail/"})
    serialized = json.dumps(hit.to_dict())
    assert "203.0.113.77" not in serialized
    assert hit.network == "203.0.113.0/24"
    assert len(hit.ip_hash) == 20 and hit.ip_hash != make({}, "203.0.113.78").ip_hash
    assert hit.has_referer and hit.accept == "image/*"
    assert Hit.from_dict(json.loads(serialized)) == hit


def test_ipv6_prefix_is_48_and_mapped_ipv4_is_ipv4() -> None:
    assert make({}, "2001:db8:abcd:12::1").network == "2001:db8:abcd::/48"
    assert make({}, "::ffff:198.51.100.4").network == "198.51.100.0/24"
    assert make({}, "::ffff:198.51.100.4").ip_hash == make({}, "198.51.100.4").ip_hash


def test_headers_are_bounded_and_purpose_is_either_header() -> None:
    hit = make({"User-Agent": "x" * 100_000, "Purpose": "prefetch"})
    assert len(hit.user_agent) == 1024 and hit.purpose == "prefetch"
    assert make({"Sec-Purpose": "prefetch;prerender"}).purpose == "prefetch;prerender"


def test_tagger_sees_the_address_and_a_broken_tagger_costs_nothing() -> None:
    seen = []

    def tagger(address):  # type: ignore[no-untyped-def]
        seen.append(address)
        return ("apple-mpp",)

    assert make({}, tagger=tagger).network_tags == ("apple-mpp",)
    assert seen == [ipaddress.ip_address("203.0.113.77")]

    def broken(address):  # type: ignore[no-untyped-def]
        raise RuntimeError("catalogue corrupt")

    assert make({}, tagger=broken).network_tags == ()


@pytest.mark.parametrize(
    ("remote", "xff", "trust", "expected"),
    [
        ("10.0.0.1", None, 0, "10.0.0.1"),
        ("10.0.0.1", "203.0.113.9", 0, "10.0.0.1"),  # not trusted: header ignored
        ("10.0.0.1", "203.0.113.9", 1, "203.0.113.9"),
        ("10.0.0.1", "6.6.6.6, 203.0.113.9", 1, "203.0.113.9"),  # client-forged entry skipped
        ("10.0.0.1", "6.6.6.6, 203.0.113.9, 35.191.0.1", 2, "203.0.113.9"),
        ("10.0.0.1", "203.0.113.9", 3, "10.0.0.1"),  # too few entries: the peer
        ("10.0.0.1", "garbage, ;;; ,", 1, None),
        ("10.0.0.1", "[2001:db8::1]:443", 1, "2001:db8::1"),
        ("10.0.0.1", "198.51.100.2:5123", 1, "198.51.100.2"),
    ],
)
def test_trust_proxy_takes_the_nth_last_forwarded_entry(remote, xff, trust, expected) -> None:  # type: ignore[no-untyped-def]
    found = client_address(remote, xff, trust)
    assert (str(found) if found else None) == expected


def test_no_address_means_empty_hash_and_prefix() -> None:
    assert address_hash(KEY, None) == "" and network_prefix(None) == ""
    hit = make({}, None)
    assert hit.ip_hash == "" and hit.network == ""
