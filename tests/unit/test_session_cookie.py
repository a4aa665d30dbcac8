"""The one ``__session`` cookie jar: entries with their own lifetimes, signed as a whole, read as
absent when forged, malformed, oversized or expired."""

from __future__ import annotations

from mailbeacon.session_cookie import NAME, CookieJar


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_entries_round_trip_and_each_expires_on_its_own() -> None:
    clock = Clock()
    jar = CookieJar(b"k" * 32, clock)
    raw = jar.dump(jar.put(None, "session", "sid-1", 3600))
    raw = jar.dump(jar.put(raw, "slack", "state-1", 600))
    assert jar.get(raw, "session") == "sid-1" and jar.get(raw, "slack") == "state-1"
    clock.now += 601
    assert jar.get(raw, "slack") is None and jar.get(raw, "session") == "sid-1"
    assert set(jar.drop(raw, "session")) == set()  # the expired one is gone too


def test_a_forged_or_foreign_jar_is_empty() -> None:
    jar, other = CookieJar(b"k" * 32), CookieJar(b"x" * 32)
    raw = jar.dump(jar.put(None, "session", "sid-1", 3600))
    payload, signature = raw.split(".")
    assert other.entries(raw) == {}
    assert jar.entries(payload + "." + signature[:-2] + "AA") == {}
    for junk in ("", "abc", "a.b.c", "x" * 5000, f"{payload}x.{signature}"):
        assert jar.entries(junk) == {}
    assert jar.entries(jar.dump({"n": ([1, 2], 1e12)})) == {"n": ([1, 2], 1e12)}


def test_the_header_is_one_cookie_for_the_whole_site() -> None:
    clock = Clock()
    jar = CookieJar(b"k" * 32, clock)
    header = jar.set_cookie(jar.put(None, "session", "s", 43200), secure=True)
    assert header.startswith(f"{NAME}=") and "; Max-Age=43200; Path=/; HttpOnly;" in header
    assert header.endswith("SameSite=Lax; Secure")
    assert jar.set_cookie({}, secure=False) == f"{NAME}=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax"
