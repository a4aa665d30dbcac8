"""The domain policy's rules on the in-memory store: validation, what tracking each setting
allows, the audit trail, the pipeline's cache, and that privacy knows every record namespace."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mailbeacon.clock import FixedClock
from mailbeacon.errors import InvalidInput
from mailbeacon.policy import (
    Policy,
    PolicyBook,
    PolicyChange,
    PolicyRefused,
    audit_log,
    check_domain,
    disclosure_html,
    get_policy,
    update_policy,
)
from mailbeacon.privacy import _matchers
from mailbeacon.records import Namespace
from mailbeacon.store.memory import MemoryStore
from mailbeacon.tokens import Keyring, TokenSigner
from mailbeacon.tracking import track_message
from mailbeacon.urls import Urls

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (PolicyChange(retention_days=0), "from 1 to 36500"),
        (PolicyChange(retention_days=True), "from 1 to 36500"),
        (PolicyChange(channels=["slack", "fax"]), "unknown channel 'fax'"),
        (PolicyChange(disclosure="a\nb"), "one line"),
        (PolicyChange(admins=["boss"]), "not an email address"),
    ],
)
def test_bad_changes_are_refused_and_nothing_is_saved(change: PolicyChange, says: str) -> None:
    store = MemoryStore()
    with pytest.raises(InvalidInput, match=says):
        update_policy(store, "acme.test", change, actor="x", at=NOW)
    assert store.list_records(Namespace.POLICIES) == []
    assert store.list_records(Namespace.POLICY_AUDIT) == []


@pytest.mark.parametrize("bad", ["", "acme", "-acme.test", "acme..test", "a b.test", "ácme.test"])
def test_domains_are_checked(bad: str) -> None:
    with pytest.raises(InvalidInput):
        check_domain(bad)
    assert check_domain("Mail.ACME.test.") == "mail.acme.test"


def test_tracking_rules() -> None:
    off = Policy("acme.test", tracking=False)
    with pytest.raises(PolicyRefused, match="turned off"):
        off.check_track("ann@acme.test", ["bo@example.org"])
    colleagues = Policy("acme.test", track_internal=False)
    with pytest.raises(PolicyRefused, match="every recipient is inside"):
        colleagues.check_track("ann@acme.test", ["ben@acme.test", "cy@acme.test"])
    colleagues.check_track("ann@acme.test", ["ben@acme.test", "bo@example.org"])
    # A subdomain or a look-alike is outside: only the domain itself is "internal".
    colleagues.check_track("ann@acme.test", ["ben@eu.acme.test", "cy@acme.test.evil"])
    assert Policy("acme.test").retention(timedelta(days=180)) == timedelta(days=180)
    short = Policy("acme.test", retention_days=30)
    assert short.retention(timedelta(days=180)) == timedelta(days=30)
    assert short.retention(timedelta(days=7)) == timedelta(days=7)  # the server's, if shorter


def test_channels_are_stored_in_one_order_and_the_audit_shows_before_and_after() -> None:
    store = MemoryStore()
    policy = update_policy(
        store, "acme.test", PolicyChange(channels=["email", "SLACK", "email"]), actor="a", at=NOW
    )
    assert policy.channels == ("slack", "email")
    (entry,) = audit_log(store, "acme.test")
    assert entry.changes == {
        "channels": {"from": ["slack", "chat", "email", "browser"], "to": ["slack", "email"]}
    }


def test_the_disclosure_is_escaped_and_goes_before_the_pixel() -> None:
    store = MemoryStore()
    update_policy(
        store, "acme.test", PolicyChange(disclosure=' "Tracked" <b>by</b> Acme '), actor="a", at=NOW
    )
    assert get_policy(store, "acme.test").disclosure == '"Tracked" <b>by</b> Acme'
    assert "&quot;Tracked&quot; &lt;b&gt;by&lt;/b&gt; Acme</p>" in disclosure_html(
        get_policy(store, "acme.test").disclosure
    )
    urls = Urls("https://mb.test", TokenSigner(Keyring.parse("1:unit-test-secret-0123456789")))
    tracked = track_message(
        store, urls, FixedClock(NOW), sender="ann@acme.test", recipients=["bo@x.org"], records=store
    )
    html = tracked.to_public()["html"]
    assert html.index("&lt;b&gt;by") < html.index(tracked.pixel_url)
    assert disclosure_html(None) == ""


def test_the_pipelines_cache_follows_the_clock() -> None:
    store, clock = MemoryStore(), FixedClock(NOW)
    book = PolicyBook(store, clock)
    assert book.of("ann@acme.test").retention_days is None
    update_policy(store, "acme.test", PolicyChange(retention_days=9), actor="a", at=NOW)
    assert book.of("ann@acme.test").retention_days is None  # cached for a minute
    clock.advance(seconds=61)
    assert book.of("ANN@acme.test").retention_days == 9


def test_privacy_says_how_every_record_namespace_finds_its_user() -> None:
    assert set(_matchers("ann@acme.test", set(), set())) == set(Namespace)
