"""The domain: tracked messages, the hits the edge sees and the events the pipeline records."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from .clock import iso, parse_time

HitKind = Literal["open", "click"]
EventKind = Literal["open", "click", "reply"]
"""What an event is: a pixel fetch, a click, or a message in the tracked email's thread (a
reply, or an auto-reply or bounce with a machine verdict: replies.py)."""


class Verdict(StrEnum):
    """Who or what caused a hit. Only ``human`` counts as an open or a click."""

    HUMAN = "human"
    SELF = "self"
    PREFETCH = "prefetch"
    SCANNER = "scanner"
    BOT = "bot"


class Notify(StrEnum):
    """What a user wants to hear about."""

    FIRST_OPEN = "first-open"
    EVERY_OPEN = "every-open"
    CLICKS = "clicks"
    OFF = "off"


class Strictness(StrEnum):
    """How eagerly timing and probable-scanner rules call a hit machine."""

    LENIENT = "lenient"
    BALANCED = "balanced"
    STRICT = "strict"


@dataclass(frozen=True)
class Link:
    """A tracked link. ``index`` is its position within the message, starting at 1."""

    index: int
    url: str


@dataclass(frozen=True)
class Message:
    """A tracked email: who sent it, to whom, and when it left."""

    id: str
    owner: str
    recipients: tuple[str, ...]
    subject: str
    created_at: datetime
    sent_at: datetime | None = None
    links: tuple[Link, ...] = ()

    @property
    def reference_time(self) -> datetime:
        """The moment timing rules count from: the send time if known, else creation."""
        return self.sent_at or self.created_at

    def link(self, index: int) -> Link | None:
        return next((link for link in self.links if link.index == index), None)


@dataclass(frozen=True)
class Hit:
    """One request for a pixel or a tracked link, reduced to what classification needs.

    It never holds a raw IP address: only a keyed hash and a coarse network prefix, plus the
    names of the address catalogues (Apple MPP, Microsoft filtering...) the address fell in,
    looked up at the edge while the address was still in hand.
    """

    id: str
    kind: HitKind
    message_id: str
    at: datetime
    method: str = "GET"
    user_agent: str = ""
    accept: str = ""
    purpose: str = ""
    has_referer: bool = False
    via: str = ""
    ip_hash: str = ""
    network: str = ""
    network_tags: tuple[str, ...] = ()
    link_index: int | None = None
    url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        # By hand rather than dataclasses.asdict: this runs on the pixel's hot path.
        return {
            "id": self.id,
            "kind": self.kind,
            "message_id": self.message_id,
            "at": iso(self.at),
            "method": self.method,
            "user_agent": self.user_agent,
            "accept": self.accept,
            "purpose": self.purpose,
            "has_referer": self.has_referer,
            "via": self.via,
            "ip_hash": self.ip_hash,
            "network": self.network,
            "network_tags": list(self.network_tags),
            "link_index": self.link_index,
            "url": self.url,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Hit:
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["at"] = parse_time(values["at"])
        values["network_tags"] = tuple(values.get("network_tags") or ())
        return cls(**values)

    @property
    def source(self) -> str:
        """Who asked, as far as we may know: the keyed address hash and the user agent."""
        return f"{self.ip_hash}|{self.user_agent}"


@dataclass(frozen=True)
class Classification:
    """The classifier's answer: a verdict, machine-readable reasons and a client label."""

    verdict: Verdict
    reasons: tuple[str, ...] = ()
    client: str = "other"


@dataclass(frozen=True)
class Event:
    """A classified hit as stored. ``id`` is the hit's id, so a redelivered hit is one event."""

    id: str
    message_id: str
    kind: EventKind
    at: datetime
    verdict: Verdict
    reasons: tuple[str, ...]
    client: str
    link_index: int | None = None
    url: str | None = None
    ip_hash: str = ""
    network: str = ""
    user_agent: str = ""
    expires_at: datetime | None = None

    @property
    def is_human(self) -> bool:
        return self.verdict is Verdict.HUMAN

    @property
    def device(self) -> str:
        """A per-day device key: the same address hash and user agent on the same UTC day."""
        return f"{self.ip_hash}|{self.user_agent}|{self.at.date().isoformat()}"

    @property
    def sender(self) -> str | None:
        """Who wrote a reply (its ``url`` is ``mailto:`` them); None for opens and clicks."""
        if self.kind == "reply" and self.url and self.url.startswith("mailto:"):
            return self.url.removeprefix("mailto:")
        return None

    def to_public(self) -> dict[str, Any]:
        """The event as the stats contract shows it (a reply also names who wrote it)."""
        public = {
            "kind": self.kind,
            "at": iso(self.at),
            "verdict": self.verdict.value,
            "reasons": list(self.reasons),
            "client": self.client,
            "url": self.url,
        }
        if self.kind == "reply":
            public["from"] = self.sender
        return public


@dataclass(frozen=True)
class MessageContext:
    """What the classifier may know besides the hit itself. A store's context leaves
    ``strictness`` None, unread: the pipeline asks for the owner's only when the verdict
    depends on it (pipeline.judge)."""

    message: Message
    earlier: tuple[Event, ...] = ()
    self_views: tuple[datetime, ...] = ()
    strictness: Strictness | None = Strictness.BALANCED


@dataclass(frozen=True)
class QuietHours:
    """Hours (local, 0-23) during which alerts wait for the digest; ``start`` may exceed ``end``."""

    start: int
    end: int


@dataclass(frozen=True)
class Settings:
    """One user's notification and accuracy preferences."""

    user: str
    notify: Notify = Notify.FIRST_OPEN
    slack_webhook: str | None = None
    slack_app_dm: bool = False
    chat_webhook: str | None = None
    chat_app_dm: bool = False
    email_to: str | None = None
    quiet_hours: QuietHours | None = None
    timezone: str = ""
    """The IANA zone the user chose; "" when they chose none (UTC for alerts, the browser's
    zone on the dashboard)."""
    strictness: Strictness = Strictness.BALANCED
    muted: tuple[str, ...] = ()
    problems: tuple[str, ...] = field(default=())
    reply_alerts: bool = True
    """Tell the user when a person replies ("Ana replied"), on their channels."""
    remind_days: int | None = None
    """The compose card's default "remind me if no reply in N days" (None: off)."""
    webhook_url: str | None = None
    """Events out (Standard Webhooks) to this endpoint, signed with ``webhook_secret``."""
    webhook_secret: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "user": self.user,
            "notify": self.notify.value,
            "slack_webhook": self.slack_webhook,
            "slack_app_dm": self.slack_app_dm,
            "chat_webhook": self.chat_webhook,
            "chat_app_dm": self.chat_app_dm,
            "email_to": self.email_to,
            "quiet_hours": (
                {"start": self.quiet_hours.start, "end": self.quiet_hours.end}
                if self.quiet_hours
                else None
            ),
            "timezone": self.timezone,
            "strictness": self.strictness.value,
            "muted": list(self.muted),
            "problems": list(self.problems),
            "reply_alerts": self.reply_alerts,
            "remind_days": self.remind_days,
            "webhook": (
                {"url": self.webhook_url, "secret": self.webhook_secret}
                if self.webhook_url
                else None
            ),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Settings:
        quiet = data.get("quiet_hours")
        return cls(
            user=data["user"],
            notify=Notify(data.get("notify", Notify.FIRST_OPEN.value)),
            slack_webhook=data.get("slack_webhook"),
            slack_app_dm=bool(data.get("slack_app_dm", False)),
            chat_webhook=data.get("chat_webhook"),
            chat_app_dm=bool(data.get("chat_app_dm", False)),
            email_to=data.get("email_to"),
            quiet_hours=QuietHours(int(quiet["start"]), int(quiet["end"])) if quiet else None,
            timezone=data.get("timezone") or "",
            strictness=Strictness(data.get("strictness", Strictness.BALANCED.value)),
            muted=tuple(data.get("muted") or ()),
            problems=tuple(data.get("problems") or ()),
            reply_alerts=bool(data.get("reply_alerts", True)),
            remind_days=int(data["remind_days"]) if data.get("remind_days") else None,
            webhook_url=(data.get("webhook") or {}).get("url"),
            webhook_secret=(data.get("webhook") or {}).get("secret"),
        )


DEFAULT_RETENTION = timedelta(days=180)
