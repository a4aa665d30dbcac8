"""Reply detection without domain-wide delegation: the add-on's message trigger (it runs when
the user opens a message in Gmail, "Extending the message UI") reads the open message with the
event's own tokens and records it when it answers one of the user's tracked emails: by the
thread learnt when the user opened their sent copy, or by the quoted pixel. An out-of-office
reply is recorded as a machine, never a reply; a reply alert and the API follow."""

from __future__ import annotations

from typing import Any

from functions.bootstrap import App
from functions.standins.gmail import Gmail
from mailbeacon.bus import HITS, NOTIFY
from mailbeacon.tracking import track_message
from tests.support import addon as ui

from .conftest import MESSAGE_ID, USER, post

RECIPIENT = "a@x.org"
REPLY_ID = "18c5f0e1a2b3c4e9"


def opened(gmail: Gmail, gmail_id: str, **kwargs: Any) -> dict[str, Any]:
    """The event of the user opening ``gmail_id`` in its thread, with the add-on open."""
    gmail.send(USER, gmail_id=gmail_id, **kwargs)
    event = ui.event("message")
    event["gmail"] |= {"messageId": gmail_id, "threadId": kwargs.get("thread_id") or gmail_id}
    gmail.tokens["AKeBgvW-test-gmail-access-token"] = USER
    return event


def test_the_message_trigger_records_replies_and_tells_them_from_auto_replies(
    web, app: App, issuer, gmail: Gmail
) -> None:
    tracked = track_message(
        app.store, app.urls, app.clock, records=app.records, sender=USER, recipients=[RECIPIENT],
        subject="Offer",
    ).message  # fmt: skip
    pixel = app.urls.pixel(tracked.id)
    own = opened(gmail, MESSAGE_ID, html=f'<p>Offer</p><img src="{pixel}">', rfc_id="<o1@x>")
    card = ui.the_card(post(web, issuer, "/addon/message", own))
    assert "your own copy" in ui.text_of(card)  # ...and the thread is now known

    auto = opened(
        gmail, "18c5f0e1a2b3c4e7", html="<p>I am away</p>", sender=RECIPIENT,
        labels=("INBOX",), thread_id=MESSAGE_ID,
        headers={"Auto-Submitted": "auto-replied", "X-Autoreply": "yes"},
    )  # fmt: skip
    text = ui.text_of(ui.the_card(post(web, issuer, "/addon/message", auto)))
    assert "automatic reply" in text and "never counted as a reply" in text

    reply = opened(
        gmail, REPLY_ID, html="<p>Yes, let us talk.</p>", sender=RECIPIENT, labels=("INBOX",),
        thread_id=MESSAGE_ID,
    )  # fmt: skip
    text = ui.text_of(ui.the_card(post(web, issuer, "/addon/message", reply)))
    assert f"{RECIPIENT} replied" in text and "Replied, first at" in text
    post(web, issuer, "/addon/message", reply)  # opened again: still one reply

    replies = [e for e in app.store.list_events(tracked.id) if e.kind == "reply"]
    assert sorted((e.client, e.verdict.value) for e in replies) == [
        ("auto-reply", "bot"),
        ("reply", "human"),
    ]
    summary = app.store.get_summary(tracked.id)
    assert summary is not None and (summary.status, summary.human_replies) == ("replied", 1)
    assert app.worker is not None
    app.worker.drain([HITS, NOTIFY])  # the reply's alert finds no channel: nothing to send


def test_a_reply_quoting_the_pixel_is_found_without_a_known_thread(
    web, app: App, issuer, gmail: Gmail
) -> None:
    tracked = track_message(
        app.store, app.urls, app.clock, records=app.records, sender=USER, recipients=[RECIPIENT]
    ).message
    quoted = f'<p>Sounds good</p><blockquote><img src="{app.urls.pixel(tracked.id)}"></blockquote>'
    event = opened(gmail, REPLY_ID, html=quoted, sender=RECIPIENT, labels=("INBOX",))
    text = ui.text_of(ui.the_card(post(web, issuer, "/addon/message", event)))
    assert f"{RECIPIENT} replied" in text
    (reply,) = [e for e in app.store.list_events(tracked.id) if e.kind == "reply"]
    assert reply.is_human and reply.sender == RECIPIENT
    assert app.store.list_self_views(tracked.id) == []  # a reply is not the sender's own view
