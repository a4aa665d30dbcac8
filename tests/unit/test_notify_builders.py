"""Payload builders check their own output; the core stays free of channel SDKs."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import pytest

from mailbeacon.errors import InvalidInput
from mailbeacon.model import Event, Message, Verdict
from notifier import blocks, cards
from notifier.decide import Alert, AlertKind
from notifier.mail import build_email
from notifier.post import Post, chat_message_id
from notifier.render import AlertView

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def view(subject: str = "Plan <b>&", url: str | None = "https://example.com/x") -> AlertView:
    message = Message("m1", "ana@example.com", ("bo@example.org",), subject, AT)
    event = Event("e1", "m1", "click", AT, Verdict.HUMAN, (), "outlook", link_index=1, url=url)
    return AlertView.of(
        Alert(AlertKind.CLICKED, message, event),
        dashboard_url=f"http://mb.test/dashboard/messages/{message.id}?key=k",
        timezone="Asia/Tokyo",
    )


def test_block_kit_escapes_and_carries_every_fact() -> None:
    payload = blocks.alert_message(view(), mute_button=True)
    fields = [f["text"] for f in payload["blocks"][1]["fields"]]
    assert "*Subject*\nPlan &lt;b&gt;&amp;" in fields
    assert "*When*\nMar 2, 18:00 JST" in fields
    assert "*Client*\nOutlook" in fields and "*Link clicked*\nhttps://example.com/x" in fields
    assert payload["blocks"][2]["elements"][1]["value"] == "m1"


def test_block_kit_refuses_what_slack_would_refuse() -> None:
    with pytest.raises(InvalidInput):
        blocks.check_blocks({"text": "", "blocks": []})
    with pytest.raises(InvalidInput):
        blocks.check_blocks({"text": "t", "blocks": [{"type": "divider"}] * 51})


def test_chat_card_is_threaded_and_bounded() -> None:
    message = cards.alert_message(view())
    assert message["thread"] == {"threadKey": "mailbeacon-m1"}
    with pytest.raises(InvalidInput):
        cards.check_message({**message, "thread": {}})
    with pytest.raises(InvalidInput):
        cards.check_message({**message, "text": "x" * 33_000})


def test_chat_message_ids_follow_chats_rules() -> None:
    assert chat_message_id("Hit_ID.42/Z") == "client-hit-id-42-z"
    assert len(chat_message_id("x" * 200)) == 63


def test_email_is_multipart_alternative_with_one_line_headers() -> None:
    post = Post.of_alert("e1", view())
    message = build_email(
        sender="a@mb.test",
        to="ana@example.com",
        subject=post.subject,
        text=post.text,
        html_body=post.html,
        at=AT,
        key="e1",
    )
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    with pytest.raises(InvalidInput):
        build_email(
            sender="a@mb.test",
            to="x@y.z\r\nBcc: evil@example.com",
            subject="s",
            text="t",
            html_body="h",
            at=AT,
            key="k",
        )


def test_bootstrap_loads_no_channel_sdk() -> None:
    code = (
        "import sys, tempfile, pathlib\n"
        "from functions.bootstrap import bootstrap\nfrom functions.config import AppConfig\n"
        "bootstrap(AppConfig.local(pathlib.Path(tempfile.mkdtemp())))\n"
        "sdks = ('slack_sdk', 'googleapiclient', 'aiosmtpd')\n"
        "print([m for m in sys.modules if m.split('.')[0] in sdks])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
