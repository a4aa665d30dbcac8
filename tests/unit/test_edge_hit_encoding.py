"""The edge's hand-written hit encoder writes exactly what ``json.dumps(hit.to_dict())`` writes
(the spool's record; the worker reads it back with ``Hit.from_dict``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

from functions.edge.recorders import encode_hit
from mailbeacon.model import Hit

AT = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)
AWKWARD = 'a "quoted" \\ back\tslash\n\x00\x1f\x7f é 漢字 😀 \ud800 </script>'


def dumped(hit: Hit) -> bytes:
    return json.dumps(hit.to_dict(), separators=(",", ":")).encode()


def test_a_plain_open_is_encoded_as_json_dumps_would() -> None:
    hit = Hit(id="0f" * 12, kind="open", message_id="muFLEXlyKRDyn-WJ", at=AT)
    assert encode_hit(hit) == dumped(hit)
    assert json.loads(encode_hit(hit)) == hit.to_dict()


def test_every_field_set_and_every_awkward_character_too() -> None:
    hit = Hit(
        id="ab" * 12,
        kind="click",
        message_id="-_Ab09",
        at=datetime(2026, 3, 1, 11, 0, 0, 999999, tzinfo=timezone(timedelta(hours=2))),
        method="HEAD",
        user_agent=AWKWARD,
        accept=AWKWARD[::-1],
        purpose="prefetch;anonymous-client-ip",
        has_referer=True,
        via="1.1 (address) (squid)",
        ip_hash="0123456789abcdef0123",
        network="203.0.113.0/24",
        network_tags=("apple-mpp", 'odd "tag"', "é"),
        link_index=65535,
        url='https://example.com/ü?q="x"&r=\\',
    )
    assert encode_hit(hit) == dumped(hit)
    assert json.loads(encode_hit(hit)) == hit.to_dict()


def test_empty_and_missing_values() -> None:
    hit = Hit(
        id="",
        kind="click",
        message_id="m",
        at=AT,
        method="",
        network_tags=(),
        link_index=0,
        url="",
    )
    assert encode_hit(hit) == dumped(hit)
    assert b'"network_tags":[]' in encode_hit(hit)
