"""The webhook channel's signatures: the research brief's worked example (computed with
standardwebhooks 1.3.0 and by hand), and verification by the specification's own library."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from mailbeacon.errors import InvalidInput
from mailbeacon.webhooks import check_event_webhook, new_secret, secret_key
from notifier.channels.webhook import body_bytes, sign, webhook_id

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
BODY = (
    b'{"type":"email.replied","timestamp":"2026-01-15T09:29:41Z","data":{"tracked_email_id":'
    b'"te_7Qm2","gmail_thread_id":"18d0c4f2a1b3e5d7","from":"ana@example.com"}}'
)


def test_the_worked_example_signs_to_the_published_value() -> None:
    signature = sign(SECRET, "msg_01JHE5N3T8W9Q2Z4YB6C7D8E9F", 1768469400, BODY)
    assert signature == "v1,O8iCRalmAgYtir8vJn4/wH3Dc+SoaM5A8C9S383DzRA="
    assert secret_key(SECRET).hex() == "31f290f6bf06298aab4f08d43c3f082cf648a362da2da4b0"


def test_the_specifications_library_verifies_what_we_sign_and_refuses_a_change() -> None:
    secret = new_secret()
    body = body_bytes({"type": "email.opened", "timestamp": "2026-01-15T09:29:41Z", "data": {}})
    now = int(datetime.now(UTC).timestamp())
    ident = webhook_id("3f1e2a9c0b7d4e5f6a7b8c9d")
    headers = {
        "webhook-id": ident,
        "webhook-timestamp": str(now),
        "webhook-signature": sign(secret, ident, now, body),
    }
    assert Webhook(secret).verify(body, headers)["type"] == "email.opened"
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace(b"opened", b"clicked"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, headers)


def test_ids_keep_to_the_specs_characters_and_secrets_to_its_sizes() -> None:
    assert webhook_id("reminder:AbC-d_e:1768469400") == "msg_reminder_AbC-d_e_1768469400"
    assert "." not in webhook_id("a.b.c")
    assert 24 <= len(secret_key(new_secret())) <= 64
    for bad in ("whsec_abc", "whsec_" + "A" * 200, "whsec_not base64!"):
        with pytest.raises(InvalidInput):
            secret_key(bad)


@pytest.mark.parametrize(
    "url",
    [
        "http://crm.example.com/hook",  # not https
        "https://10.0.0.7/hook",  # a private address
        "https://127.0.0.1/hook",
        "https://[::1]/hook",
        "https://169.254.169.254/latest/meta-data",  # link-local (cloud metadata)
        "https://intranet/hook",  # no dot: an internal name
        "https://crm.example.com:8443/hook",  # a port
        "https://user:pw@crm.example.com/hook",
        "https://db.internal/hook",
    ],
)
def test_webhook_urls_are_public_https_unless_the_operator_allows_a_host(url: str) -> None:
    with pytest.raises(InvalidInput):
        check_event_webhook(url)


def test_allowed_hosts_may_be_http_on_any_port() -> None:
    assert check_event_webhook("https://hooks.zapier.com/hooks/catch/1/abc/")
    assert check_event_webhook("http://127.0.0.1:8123/hook", ("127.0.0.1",))
    assert check_event_webhook("http://127.0.0.1:8123/hook", ("127.0.0.1:8123",))
    with pytest.raises(InvalidInput):
        check_event_webhook("http://127.0.0.1:9/hook", ("127.0.0.1:8123",))
