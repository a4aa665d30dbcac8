"""The daily digest: what was opened and clicked, what quiet hours held back, what is unread.

Cloud Scheduler publishes ``{}`` on the DIGEST topic (fanned out here to one message per user);
locally a scheduler thread in `mailbeacon serve` does the same, and `mailbeacon digest --user`
sends one at once. A digest is delivered once per (key, channel) like any alert.
"""

from __future__ import annotations

import html
import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from mailbeacon import words
from mailbeacon.bus import DIGEST, Bus
from mailbeacon.clock import Clock, iso
from mailbeacon.model import Event, Message
from mailbeacon.records import Namespace, Records
from mailbeacon.store import Store

from . import cards
from .blocks import check_blocks
from .mail import html_page
from .post import Post, chat_message_id
from .render import local_time

log = logging.getLogger(__name__)

USERS = Namespace.DIGEST_USERS
HELD = Namespace.HELD
RUNS = Namespace.DIGEST_RUNS
MAX_LINES = 40


@dataclass
class Digest:
    """The facts of one user's digest, before any channel renders them."""

    user: str
    since: datetime
    opened: list[str] = field(default_factory=list)
    clicked: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    unopened: list[str] = field(default_factory=list)
    replied: list[str] = field(default_factory=list)
    auto_replies: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (
            self.opened
            or self.clicked
            or self.held
            or self.unopened
            or self.replied
            or self.auto_replies
        )

    def sections(self) -> list[tuple[str, list[str]]]:
        return [
            (title, lines[:MAX_LINES])
            for title, lines in (
                ("Replied", self.replied),
                ("Opened", self.opened),
                ("Clicked", self.clicked),
                ("Automatic replies and bounces (not replies)", self.auto_replies),
                ("Held back by quiet hours", self.held),
                ("Not opened yet", self.unopened),
            )
            if lines
        ]


def build_digest(
    store: Store, user: str, now: datetime, *, since: datetime, unopened_days: int, timezone: str
) -> Digest:
    """Gather the user's activity since ``since`` from the store (read only)."""
    digest = Digest(user=user, since=since)
    horizon = now - timedelta(days=max(unopened_days, 1) + 30)
    for message in store.list_messages(user, limit=500):
        if message.created_at < horizon:
            break
        every = store.list_events(message.id)
        events = [e for e in every if e.is_human]
        label = _label(message)
        opens = [e for e in events if e.kind == "open" and e.at >= since]
        if opens:
            count = words.plural(len(opens), "open")
            digest.opened.append(f"{label}: {count}, last {local_time(opens[-1].at, timezone)}")
        for click in (e for e in events if e.kind == "click" and e.at >= since):
            digest.clicked.append(f"{label}: {click.url} at {local_time(click.at, timezone)}")
        _replies(digest, label, every, since, timezone)
        sent = message.reference_time
        # the one count: a click or a reply implies an open (rollup.Summary's status)
        if not events and sent <= now - timedelta(days=unopened_days):
            digest.unopened.append(f"{label}: sent {local_time(sent, timezone)}")
    for _key, record in store.list_records(HELD, prefix=f"{user}/"):
        digest.held.append(f"{record.get('headline', '')} ({record.get('at', '')})")
    return digest


def _replies(
    digest: Digest, label: str, events: list[Event], since: datetime, timezone: str
) -> None:
    """A person's replies, and apart from them the machine answers (out of office, bounces)."""
    for reply in (e for e in events if e.kind == "reply" and e.at >= since):
        line = f"{label}: {reply.sender or 'someone'} at {local_time(reply.at, timezone)}"
        if reply.is_human:
            digest.replied.append(line)
        else:
            digest.auto_replies.append(f"{line} ({words.kind(reply.kind, reply.client)})")


def _label(message: Message) -> str:
    to = ", ".join(message.recipients[:2])
    return f"“{message.subject or '(no subject)'}” to {to}"


def digest_post(digest: Digest, key: str, url: str = "") -> Post:
    """Render a digest for every channel; ``url`` is the dashboard's list (for Web Push)."""
    counts = f"{len(digest.opened)} opened, {len(digest.clicked)} clicked"
    if digest.replied:
        counts += f", {len(digest.replied)} replied"
    title = f"Your Mailbeacon digest ({counts})"
    text_lines = [title]
    html_parts = [f"<h2>{html.escape(title)}</h2>"]
    for heading, lines in digest.sections():
        text_lines += ["", f"{heading}:"] + [f"- {line}" for line in lines]
        items = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
        html_parts.append(f"<h3>{html.escape(heading)}</h3><ul>{items}</ul>")
    text = "\n".join(text_lines)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:150]}}
    ]
    for heading, lines in digest.sections():
        body = f"*{heading}*\n" + "\n".join(f"• {line}" for line in lines)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": body[:2990]}})
    slack = {"text": title, "blocks": blocks}
    check_blocks(slack)
    widgets = [
        {
            "textParagraph": {
                "text": f"<b>{html.escape(h)}</b><br>" + "<br>".join(map(html.escape, ls))
            }
        }
        for h, ls in digest.sections()
    ]
    chat = {
        "text": title,
        "cardsV2": [
            {
                "cardId": "digest",
                "card": {"header": {"title": title}, "sections": [{"widgets": widgets}]},
            }
        ],
        "thread": {"threadKey": f"mailbeacon-digest-{digest.user}"[:100]},
    }
    cards.check_message(chat)
    return Post(
        key=key,
        subject=f"[Mailbeacon] {title}",
        text=text,
        html=html_page(title, "".join(html_parts)),
        slack=slack,
        slack_app=slack,
        chat=chat,
        chat_message_id=chat_message_id(key),
        push={
            "title": title,
            "body": "; ".join(f"{heading}: {len(lines)}" for heading, lines in digest.sections()),
            "url": url,
            "message_id": None,
            "kind": "digest",
        },
    )


class DigestScheduler:
    """A daemon thread for `mailbeacon serve`: once a day after ``hour`` (UTC), publish DIGEST."""

    def __init__(self, store: Records, bus: Bus, clock: Clock, hour: int, every: float = 60.0):
        self.store, self.bus, self.clock, self.hour, self.every = store, bus, clock, hour, every
        self._stop = threading.Event()

    def tick(self) -> bool:
        now = self.clock.now()
        if now.hour < self.hour:
            return False
        day = now.date().isoformat()
        if not self.store.add_record(RUNS, day, {"at": iso(now)}):
            return False
        self.bus.publish(DIGEST, {"date": day})
        return True

    def run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.tick()
            except Exception:
                log.exception("digest scheduler")

    def start(self) -> DigestScheduler:
        threading.Thread(target=self.run, daemon=True, name="digest-scheduler").start()
        return self

    def stop(self) -> None:
        self._stop.set()
