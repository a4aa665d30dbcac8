"""Counting: what a message's events add up to. Only human verdicts count as engagement."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .clock import iso
from .model import Event, Message


@dataclass(frozen=True)
class MessageSummary:
    """A message's engagement. A human click implies an open, so it sets ``opened`` too."""

    status: str
    human_opens: int
    unique_human_opens: int
    machine_opens: int
    human_clicks: int
    machine_clicks: int
    first_opened_at: datetime | None
    last_opened_at: datetime | None

    def to_public(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "opens": {
                "human": self.human_opens,
                "unique_human": self.unique_human_opens,
                "machine": self.machine_opens,
            },
            "clicks": {"human": self.human_clicks, "machine": self.machine_clicks},
            "first_opened_at": iso(self.first_opened_at),
            "last_opened_at": iso(self.last_opened_at),
        }


def summarize(events: Iterable[Event]) -> MessageSummary:
    human_opens = machine_opens = human_clicks = machine_clicks = 0
    devices: set[str] = set()
    opened_at: list[datetime] = []
    for event in events:
        if event.kind == "open":
            if event.is_human:
                human_opens += 1
            else:
                machine_opens += 1
        elif event.is_human:
            human_clicks += 1
        else:
            machine_clicks += 1
        if event.is_human:
            devices.add(event.device)
            opened_at.append(event.at)
    status = "clicked" if human_clicks else "opened" if opened_at else "sent"
    return MessageSummary(
        status=status,
        human_opens=human_opens,
        unique_human_opens=len(devices),
        machine_opens=machine_opens,
        human_clicks=human_clicks,
        machine_clicks=machine_clicks,
        first_opened_at=min(opened_at, default=None),
        last_opened_at=max(opened_at, default=None),
    )


def message_stats(message: Message, events: list[Event]) -> dict[str, Any]:
    """The stats contract of DESIGN.md, plus a few extra fields (recipients, links, times)."""
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
