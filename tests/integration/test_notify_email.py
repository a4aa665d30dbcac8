"""Email alerts: a real SMTP server (aiosmtpd) on loopback, and the Gmail API as the user
through a domain-wide-delegated service account (token endpoint and Gmail on loopback)."""

from __future__ import annotations

import base64
import email
from collections.abc import Iterator
from email import policy
from pathlib import Path
from typing import Any

import pytest

from functions.standins.gmail import Gmail
from mailbeacon.bus import NOTIFY
from tests.support.smtp import Inbox, SmtpServer

from .conftest import Rig


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    server = SmtpServer().start()
    yield server.inbox, server.port
    server.stop()


@pytest.fixture
def rig(make_rig, smtp: tuple[Inbox, int]) -> Rig:  # type: ignore[no-untyped-def]
    rig = make_rig(
        smtp_host="127.0.0.1", smtp_port=str(smtp[1]), mail_from="Mailbeacon <alerts@mb.test>"
    )
    rig.settings(email_to="ana+alerts@example.com")
    return rig


def test_an_open_sends_a_well_formed_multipart_email(rig: Rig, smtp: tuple[Inbox, int]) -> None:
    inbox, _port = smtp
    tracked = rig.track(links=["https://example.com/x"])
    rig.open(tracked)
    rig.settle()
    [envelope] = inbox.messages
    assert envelope.mail_from == "alerts@mb.test"
    assert envelope.rcpt_tos == ["ana+alerts@example.com"]
    message = email.message_from_bytes(envelope.original_content, policy=policy.default)
    assert message["Subject"] == "[Mailbeacon] bo@example.org opened “Quarterly plan”"
    assert message["To"] == "ana+alerts@example.com" and message["Message-ID"]
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "Subject: Quarterly plan" in text and f"/dashboard/messages/{tracked.message.id}" in text
    assert "<table>" in html and "Quarterly plan" in html


def test_a_refused_recipient_is_a_permanent_problem(rig: Rig, smtp: tuple[Inbox, int]) -> None:
    inbox, _port = smtp
    inbox.refuse = "550 5.1.1 no such user"
    rig.open(rig.track())
    rig.settle()
    assert inbox.messages == []
    assert any("email: recipient refused [550]" in p for p in rig.problems())
    assert rig.app.bus.pending(NOTIFY) == 0


def test_a_greylisting_relay_is_retried(rig: Rig, smtp: tuple[Inbox, int]) -> None:
    inbox, _port = smtp
    inbox.refuse = "451 4.7.1 try again later"
    rig.open(rig.track())
    rig.settle()
    assert rig.app.bus.pending(NOTIFY) == 1 and rig.problems() == ()
    inbox.refuse = ""
    with rig.app.bus.db.write() as conn:  # type: ignore[attr-defined]  # due now, not in 1 s
        conn.execute("UPDATE outbox SET available_at = 0")
    rig.settle()
    assert len(inbox.messages) == 1


# Gmail through domain-wide delegation ---------------------------------------------------------


def test_gmail_api_sends_as_the_user_with_delegation(
    make_rig: Any, gmail: Gmail, tmp_path: Path
) -> None:
    rig = make_rig(gmail_credentials=str(gmail.key_file(tmp_path)), gmail_api_url=gmail.url)
    rig.settings(email_to="ana@example.com")
    rig.open(rig.track())
    rig.settle()
    [claims] = gmail.grants
    assert claims["sub"] == "ana@example.com"  # acting as the user: domain-wide delegation
    assert claims["scope"] == "https://www.googleapis.com/auth/gmail.send"
    [sent] = gmail.sent
    assert sent["user"] == "ana@example.com"  # with the token granted for that user
    message = email.message_from_bytes(base64.urlsafe_b64decode(sent["raw"]), policy=policy.default)
    assert message["From"] == "ana@example.com" and message["To"] == "ana@example.com"
    assert message.get_content_type() == "multipart/alternative"
    assert "Quarterly plan" in message.get_body(("plain",)).get_content()
