"""Counting: what a message's events add up to. Only human verdicts count as engagement."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .clock import iso
from .model import Event, Message


@dataclass(frozen=True)
class MessageSummary:
    """A message's engagement. A human click implies an open, so it sets ``opened`` too.

    ``human_opens`` counts human pixel fetches; when people clicked or replied but no pixel
    fetch was human (images blocked, the pixel cut off) that implies one open. A Gmail reader's
    open (proxy) and click (browser) come from different devices, so implying an open per
    clicking device would count one person twice. ``unique_human_opens`` counts devices: a
    keyed address hash, user agent and UTC day.
    Machine hits are counted apart, by verdict and by reason, never dropped.
    """

    status: str
    human_opens: int
    unique_human_opens: int
    machine_opens: int
    human_clicks: int
    machine_clicks: int
    first_opened_at: datetime | None
    last_opened_at: datetime | None
    implied_opens: int = 0
    machine_by_verdict: dict[str, int] = field(default_factory=dict)
    machine_by_reason: dict[str, int] = field(default_factory=dict)
    human_replies: int = 0
    machine_replies: int = 0
    first_replied_at: datetime | None = None

    def to_public(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "opens": {
                "human": self.human_opens,
                "unique_human": self.unique_human_opens,
                "machine": self.machine_opens,
            },
            # beside "opens", whose keys are a contract (DESIGN.md)
            "opens_implied_by_click": 1 if self.human_clicks and self.implied_opens else 0,
            "clicks": {"human": self.human_clicks, "machine": self.machine_clicks},
            "first_opened_at": iso(self.first_opened_at),
            "last_opened_at": iso(self.last_opened_at),
            "machine": {
                "by_verdict": dict(sorted(self.machine_by_verdict.items())),
                "by_reason": dict(sorted(self.machine_by_reason.items())),
            },
            **self.reply_counts(),
        }

    def reply_counts(self) -> dict[str, Any]:
        """Replies apart from opens and clicks, and the open a reply alone implies."""
        implied = 1 if self.human_replies and self.implied_opens and not self.human_clicks else 0
        return {
            "replies": {
                "human": self.human_replies,
                "machine": self.machine_replies,
                "first_replied_at": iso(self.first_replied_at),
            },
            "opens_implied_by_reply": implied,
        }


def _replies(events: Iterable[Event]) -> tuple[int, int, datetime | None]:
    """(human replies, auto-replies and bounces, the first human reply's time)."""
    human = [e.at for e in events if e.kind == "reply" and e.is_human]
    machine = sum(1 for e in events if e.kind == "reply" and not e.is_human)
    return len(human), machine, min(human, default=None)


def summarize(events: Iterable[Event]) -> MessageSummary:
    events = list(events)
    replied, machine_replies, first_replied = _replies(events)
    human_opens = machine_opens = human_clicks = machine_clicks = 0
    open_devices: set[str] = set()
    opened_at: list[datetime] = []
    by_verdict: Counter[str] = Counter()
    by_reason: Counter[str] = Counter()
    for event in events:
        if event.kind == "reply":
            continue  # counted by _replies: never an open or a click
        if not event.is_human:
            by_verdict[event.verdict.value] += 1
            by_reason.update(event.reasons)
            if event.kind == "open":
                machine_opens += 1
            else:
                machine_clicks += 1
            continue
        opened_at.append(event.at)
        if event.kind == "open":
            human_opens += 1
            open_devices.add(event.device)
        else:
            human_clicks += 1
    implied = 1 if (human_clicks or replied) and not human_opens else 0
    if replied and not opened_at:
        opened_at.append(first_replied)  # type: ignore[arg-type]
    status = (
        "replied" if replied else "clicked" if human_clicks else "opened" if opened_at else "sent"
    )
    return MessageSummary(
        status=status,
        human_opens=human_opens + implied,
        unique_human_opens=len(open_devices) + implied,
        machine_opens=machine_opens,
        human_clicks=human_clicks,
        machine_clicks=machine_clicks,
        first_opened_at=min(opened_at, default=None),
        last_opened_at=max(opened_at, default=None),
        implied_opens=implied,
        machine_by_verdict=dict(by_verdict),
        machine_by_reason=dict(by_reason),
        human_replies=replied,
        machine_replies=machine_replies,
        first_replied_at=first_replied,
    )


def message_stats(message: Message, events: list[Event]) -> dict[str, Any]:
    """The stats contract of DESIGN.md, plus a few extra fields (recipients, links, times)."""
    from .classify.reconcile import reconcile  # not on the pixel's cold path

    events = reconcile(events)
    return {
        "message_id": message.id,
        "subject": message.subject,
        **summarize(events).to_public(),
        "owner": message.owner,
        "recipients": list(message.recipients),
        "created_at": iso(message.created_at),
        "sent_at": iso(message.sent_at),
        "links": [{"index": link.index, "url": link.url} for link in message.links],
        "events": [event.to_public() for event in events],
    }
