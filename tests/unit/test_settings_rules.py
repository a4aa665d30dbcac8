"""One set of settings rules for every writer (mailbeacon/settings.py)."""

from __future__ import annotations

import pytest

from mailbeacon.errors import InvalidInput
from mailbeacon.model import Notify, QuietHours, Settings
from mailbeacon.records import Namespace
from mailbeacon.settings import (
    AlertRules,
    InvalidSettings,
    SettingsBook,
    SettingsChange,
    apply_change,
)
from mailbeacon.store.memory import MemoryStore

SLACK = "https://hooks.slack.com/services/T0/B0/abc"
CHAT = "https://chat.googleapis.com/v1/spaces/AAA/messages?key=k&token=t"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/x",  # the server's own loopback
        "http://169.254.169.254/computeMetadata/v1/",  # the cloud metadata server
        "https://127.0.0.1/services/x",
        "http://localhost:8080/services/x",
        "https://hooks.slack.com.evil.example/services/T/B/X",
        "https://evil.example/hooks.slack.com/services/T/B/X",
        "https://hooks.slack.com@evil.example/services/T/B/X",
        "http://hooks.slack.com/services/T/B/X",
        "https://hooks.slack.com:8443/services/T/B/X",
        "file:///etc/passwd",
    ],
)
def test_webhooks_anywhere_but_slack_are_refused_without_an_allow_list(url: str) -> None:
    with pytest.raises(InvalidInput):
        AlertRules().check_webhook(url, "slack")


def test_the_allow_list_admits_exactly_the_hosts_and_ports_it_names() -> None:
    rules = AlertRules(("127.0.0.1:9000", "relay.internal"))
    assert (
        rules.check_webhook("http://127.0.0.1:9000/hook", "slack") == "http://127.0.0.1:9000/hook"
    )
    assert (
        rules.check_webhook("https://relay.internal:4443/x", "chat")
        == "https://relay.internal:4443/x"
    )
    for refused in (
        "http://127.0.0.1:9001/hook",
        "http://169.254.169.254/",
        "ftp://relay.internal/",
    ):
        with pytest.raises(InvalidInput):
            rules.check_webhook(refused, "slack")
    assert rules.check_webhook(SLACK, "slack") == SLACK  # the platforms stay allowed
    assert rules.check_webhook(CHAT, "chat") == CHAT
    with pytest.raises(InvalidInput):
        rules.check_webhook(SLACK, "chat")  # a Slack URL is not a Chat webhook


def test_a_change_is_saved_whole_or_not_at_all() -> None:
    store = MemoryStore()
    before = Settings(user="ana@example.com", slack_webhook=SLACK)
    store.put_settings(before)
    change = SettingsChange(
        notify="every-open", quiet_hours="22-7", slack_webhook="http://127.0.0.1:9/x"
    )
    with pytest.raises(InvalidSettings) as refused:
        SettingsBook(store, store, AlertRules()).update("ana@example.com", change)
    assert set(refused.value.errors) == {"slack_webhook"}
    assert store.get_settings("ana@example.com") == before
    assert store.get_record(Namespace.DIGEST_USERS, "ana@example.com") is None


def test_a_valid_change_is_saved_and_joins_the_digest() -> None:
    store = MemoryStore()
    change = SettingsChange(
        notify="every-open", quiet_hours="22-7", timezone="Europe/Berlin", chat_webhook=CHAT
    )
    saved = SettingsBook(store, store, AlertRules()).update("Ana@Example.com", change)
    assert saved == store.get_settings("ana@example.com")
    assert (saved.notify, saved.quiet_hours, saved.timezone, saved.chat_webhook) == (
        Notify.EVERY_OPEN,
        QuietHours(22, 7),
        "Europe/Berlin",
        CHAT,
    )
    assert store.get_record(Namespace.DIGEST_USERS, "ana@example.com") == {}


def test_every_problem_is_reported_at_once() -> None:
    _, errors = apply_change(
        Settings(user="ana@example.com"),
        SettingsChange(
            notify="always",
            strictness="paranoid",
            quiet_hours="5-5",
            timezone="Mars/Base",
            email_to="someone@elsewhere.example",
        ),
        AlertRules(),
    )
    assert set(errors) == {"notify", "strictness", "quiet_hours", "timezone", "email_to"}
    assert "own domain" in errors["email_to"]


def test_empty_values_clear_optional_fields_and_mutes_are_deduplicated() -> None:
    current = Settings(user="ana@example.com", slack_webhook=SLACK, muted=("m1",))
    updated, errors = apply_change(
        current,
        SettingsChange(slack_webhook="", quiet_hours="off", mute=("m1", "m2"), unmute=("m1",)),
        AlertRules(),
    )
    assert errors == {}
    assert (updated.slack_webhook, updated.quiet_hours, updated.muted) == (None, None, ("m2",))


def test_alert_email_goes_to_the_users_domain_or_one_the_operator_allowed() -> None:
    """MAILBEACON_ALERT_EMAIL_DOMAINS, the same for every writer (the rules are the book's)."""
    store = MemoryStore()
    book = SettingsBook(store, store, AlertRules(email_domains=("partner.example",)))
    saved = book.update("ana@example.com", SettingsChange(email_to="desk@Partner.example"))
    assert saved.email_to == "desk@partner.example"
    assert book.update("ana@example.com", SettingsChange(email_to="bo@example.com")).email_to
    with pytest.raises(InvalidSettings) as refused:
        book.update("ana@example.com", SettingsChange(email_to="eve@elsewhere.example"))
    assert "partner.example" in refused.value.errors["email_to"]
    assert store.get_settings("ana@example.com").email_to == "bo@example.com"


def test_problems_recorded_from_many_threads_are_all_kept() -> None:
    """A read-modify-write that two delivery threads interleave must not lose either."""
    import threading
    from datetime import UTC, datetime

    store = MemoryStore()
    book = SettingsBook(store, store, AlertRules())
    at = datetime(2026, 1, 5, tzinfo=UTC)
    start = threading.Barrier(8)

    def report(i: int) -> None:
        start.wait()
        book.record_problem("ana@example.com", f"channel-{i}: down", at)

    threads = [threading.Thread(target=report, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(store.get_settings("ana@example.com").problems) == 8
