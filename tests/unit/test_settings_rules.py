"""One set of settings rules for every writer (mailbeacon/settings.py)."""

from __future__ import annotations

import pytest

from mailbeacon.errors import InvalidInput
from mailbeacon.model import Notify, QuietHours, Settings
from mailbeacon.records import Namespace
from mailbeacon.settings import (
    InvalidSettings,
    SettingsChange,
    WebhookRules,
    apply_change,
    update_settings,
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
        WebhookRules().check(url, "slack")


def test_the_allow_list_admits_exactly_the_hosts_and_ports_it_names() -> None:
    rules = WebhookRules(("127.0.0.1:9000", "relay.internal"))
    assert rules.check("http://127.0.0.1:9000/hook", "slack") == "http://127.0.0.1:9000/hook"
    assert rules.check("https://relay.internal:4443/x", "chat") == "https://relay.internal:4443/x"
    for refused in (
        "http://127.0.0.1:9001/hook",
        "http://169.254.169.254/",
        "ftp://relay.internal/",
    ):
        with pytest.raises(InvalidInput):
            rules.check(refused, "slack")
    assert rules.check(SLACK, "slack") == SLACK  # the platforms stay allowed
    assert rules.check(CHAT, "chat") == CHAT
    with pytest.raises(InvalidInput):
        rules.check(SLACK, "chat")  # a Slack URL is not a Chat webhook


def test_a_change_is_saved_whole_or_not_at_all() -> None:
    store = MemoryStore()
    before = Settings(user="ana@example.com", slack_webhook=SLACK)
    store.put_settings(before)
    change = SettingsChange(
        notify="every-open", quiet_hours="22-7", slack_webhook="http://127.0.0.1:9/x"
    )
    with pytest.raises(InvalidSettings) as refused:
        update_settings(store, store, "ana@example.com", change, WebhookRules())
    assert set(refused.value.errors) == {"slack_webhook"}
    assert store.get_settings("ana@example.com") == before
    assert store.get_record(Namespace.DIGEST_USERS, "ana@example.com") is None


def test_a_valid_change_is_saved_and_joins_the_digest() -> None:
    store = MemoryStore()
    change = SettingsChange(
        notify="every-open", quiet_hours="22-7", timezone="Europe/Berlin", chat_webhook=CHAT
    )
    saved = update_settings(store, store, "Ana@Example.com", change, WebhookRules())
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
        WebhookRules(),
    )
    assert set(errors) == {"notify", "strictness", "quiet_hours", "timezone", "email_to"}
    assert "own domain" in errors["email_to"]


def test_empty_values_clear_optional_fields_and_mutes_are_deduplicated() -> None:
    current = Settings(user="ana@example.com", slack_webhook=SLACK, muted=("m1",))
    updated, errors = apply_change(
        current,
        SettingsChange(slack_webhook="", quiet_hours="off", mute=("m1", "m2"), unmute=("m1",)),
        WebhookRules(),
    )
    assert errors == {}
    assert (updated.slack_webhook, updated.quiet_hours, updated.muted) == (None, None, ("m2",))
