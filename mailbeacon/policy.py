"""A Workspace domain's rules for Mailbeacon, set by its admins, and the log of every change.

An admin installs Mailbeacon for a whole domain; these rules are what lets them say yes:
whether the domain tracks at all, whether mail among colleagues is tracked, which alert
channels may carry tracking data out, how long events are kept, a disclosure line sent with
every pixel, and who the domain's admins are. Every writer (the CLI, the dashboard) changes a
policy through ``update_policy``, which records who changed what and when in the audit log.
Policies live in the Records port (namespaces ``domain-policy`` and ``policy-audit``), so every
backend keeps them.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from typing import Any, Final

from .clock import Clock, iso, parse_time
from .errors import InvalidInput
from .records import Namespace, Records
from .store import Housekeeping
from .webhooks import check_event_webhook, secret_for

CHANNELS: Final = ("slack", "chat", "email", "browser")
"""Alert channel families a policy allows; each notifier channel belongs to one."""
MAX_DISCLOSURE_CHARS = 300
MAX_ADMINS = 50
MAX_RETENTION_DAYS = 36500
AUDIT_PAGE = 500


class PolicyRefused(InvalidInput):
    """The sender's domain policy does not allow this (a one-line reason for the user)."""


class _Keep:
    def __repr__(self) -> str:
        return "KEEP"


KEEP: Final = _Keep()


def check_domain(value: str) -> str:
    """A DNS domain name, lower-cased; anything else is InvalidInput."""
    domain = value.strip().lower().rstrip(".")
    labels = domain.split(".")
    ok = (
        0 < len(domain) <= 253
        and len(labels) >= 2
        and all(
            0 < len(label) <= 63
            and label.isascii()
            and label.replace("-", "").isalnum()
            and not label.startswith("-")
            and not label.endswith("-")
            for label in labels
        )
    )
    if not ok:
        raise InvalidInput(f"not a domain name: {value[:80]!r}")
    return domain


def domain_of(email: str) -> str:
    return email.rpartition("@")[2].lower()


@dataclass(frozen=True)
class Policy:
    """One domain's rules. The defaults are what a domain without a policy gets."""

    domain: str
    tracking: bool = True
    track_internal: bool = True
    retention_days: int | None = None
    """None: the server's retention (MAILBEACON_RETENTION_DAYS) alone applies."""
    channels: tuple[str, ...] = CHANNELS
    disclosure: str | None = None
    admins: tuple[str, ...] = ()
    updated_at: datetime | None = None
    updated_by: str | None = None
    webhook_url: str | None = None
    """The domain-wide events endpoint (a CRM sync), signed with ``webhook_secret``."""
    webhook_secret: str | None = None
    user_webhooks: bool = True
    """Whether people may send their own events to endpoints of their choice."""

    def to_dict(self) -> dict[str, Any]:
        """The policy as stored and shown; the events-out fields only once they differ from
        the defaults, so a domain that never used them reads as it always did."""
        extra: dict[str, Any] = {}
        if self.webhook_url:
            extra["webhook"] = {"url": self.webhook_url, "secret": self.webhook_secret}
        if not self.user_webhooks:
            extra["user_webhooks"] = False
        return {
            "domain": self.domain,
            "tracking": self.tracking,
            "track_internal": self.track_internal,
            "retention_days": self.retention_days,
            "channels": list(self.channels),
            "disclosure": self.disclosure,
            "admins": list(self.admins),
            "updated_at": iso(self.updated_at),
            "updated_by": self.updated_by,
            **extra,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Policy:
        updated = data.get("updated_at")
        return cls(
            domain=data["domain"],
            tracking=bool(data.get("tracking", True)),
            track_internal=bool(data.get("track_internal", True)),
            retention_days=data.get("retention_days"),
            channels=tuple(data.get("channels") or ()),
            disclosure=data.get("disclosure"),
            admins=tuple(data.get("admins") or ()),
            updated_at=parse_time(updated) if updated else None,
            updated_by=data.get("updated_by"),
            webhook_url=(data.get("webhook") or {}).get("url"),
            webhook_secret=(data.get("webhook") or {}).get("secret"),
            user_webhooks=bool(data.get("user_webhooks", True)),
        )

    def allows_channel(self, family: str) -> bool:
        return family in self.channels

    def is_admin(self, email: str) -> bool:
        return email.lower() in self.admins

    def internal(self, recipients: Iterable[str]) -> list[str]:
        """The recipients inside this domain."""
        return [r for r in recipients if domain_of(r) == self.domain]

    def retention(self, default: timedelta) -> timedelta:
        """How long this domain's events are kept: the shorter of the policy and the server."""
        if self.retention_days is None:
            return default
        return min(default, timedelta(days=self.retention_days))

    def check_track(self, sender: str, recipients: Sequence[str]) -> None:
        """Refuse tracking the policy forbids, with a reason the sender can act on."""
        if not self.tracking:
            raise PolicyRefused(f"tracking is turned off for {self.domain} by its admins")
        if (
            not self.track_internal
            and recipients
            and len(self.internal(recipients)) == len(recipients)
        ):
            raise PolicyRefused(
                f"{self.domain} does not track mail among its own people:"
                " every recipient is inside the domain"
            )


@dataclass(frozen=True)
class PolicyChange:
    """What an admin asks to change; fields left at KEEP stay as they are."""

    tracking: bool | _Keep = KEEP
    track_internal: bool | _Keep = KEEP
    retention_days: int | _Keep | None = KEEP
    channels: Sequence[str] | _Keep = KEEP
    disclosure: str | _Keep | None = KEEP
    """Text to send with every pixel; None or "" removes it."""
    admins: Sequence[str] | _Keep = KEEP
    webhook_url: str | _Keep | None = KEEP
    """The domain's events endpoint; None or "" removes it (a secret is made with the first)."""
    user_webhooks: bool | _Keep = KEEP

    @property
    def empty(self) -> bool:
        return all(getattr(self, f.name) is KEEP for f in fields(self))


def check_change(change: PolicyChange, allow_hosts: Sequence[str] = ()) -> dict[str, Any]:
    """The changed fields as they will be stored; InvalidInput names the first bad one.
    ``allow_hosts``: MAILBEACON_WEBHOOK_ALLOW_HOSTS, as for every webhook."""
    from .validation import check_email

    values: dict[str, Any] = {}
    if change.tracking is not KEEP:
        values["tracking"] = bool(change.tracking)
    if change.track_internal is not KEEP:
        values["track_internal"] = bool(change.track_internal)
    if change.retention_days is not KEEP:
        days = change.retention_days
        if days is not None and (
            isinstance(days, bool)
            or not isinstance(days, int)
            or not 1 <= days <= MAX_RETENTION_DAYS
        ):
            raise InvalidInput(f"retention days must be from 1 to {MAX_RETENTION_DAYS}, not {days}")
        values["retention_days"] = days
    if not isinstance(change.channels, _Keep):
        wanted = [c.strip().lower() for c in change.channels if c.strip()]
        unknown = [c for c in wanted if c not in CHANNELS]
        if unknown:
            raise InvalidInput(
                f"unknown channel {unknown[0][:40]!r}: choose from {', '.join(CHANNELS)}"
            )
        values["channels"] = tuple(c for c in CHANNELS if c in wanted)
    if change.disclosure is not KEEP:
        text = (change.disclosure or "").strip()  # type: ignore[union-attr]
        if len(text) > MAX_DISCLOSURE_CHARS:
            raise InvalidInput(f"the disclosure is longer than {MAX_DISCLOSURE_CHARS} characters")
        if any(ord(ch) < 32 for ch in text):
            raise InvalidInput("the disclosure must be one line without control characters")
        values["disclosure"] = text or None
    if not isinstance(change.admins, _Keep):
        admins = tuple(dict.fromkeys(check_email(a) for a in change.admins))
        if len(admins) > MAX_ADMINS:
            raise InvalidInput(f"at most {MAX_ADMINS} admins")
        values["admins"] = admins
    if change.user_webhooks is not KEEP:
        values["user_webhooks"] = bool(change.user_webhooks)
    if change.webhook_url is not KEEP:
        url = (change.webhook_url or "").strip()  # type: ignore[union-attr]
        values["webhook_url"] = check_event_webhook(url, allow_hosts) if url else None
    return values


def get_policy(records: Records, domain: str) -> Policy:
    """The domain's policy; the defaults when its admins never set one."""
    stored = records.get_record(Namespace.POLICIES, domain.lower())
    return Policy.from_dict(stored) if stored else Policy(domain=domain.lower())


def policy_for(records: Records, email: str) -> Policy:
    """The policy of the domain ``email`` belongs to."""
    return get_policy(records, domain_of(email))


def list_policies(records: Records) -> list[Policy]:
    return [Policy.from_dict(v) for _, v in records.list_records(Namespace.POLICIES)]


@dataclass(frozen=True)
class AuditEntry:
    """One policy change: who made it, when, and each field's value before and after."""

    domain: str
    at: datetime
    actor: str
    changes: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "at": iso(self.at),
            "actor": self.actor,
            "changes": self.changes,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AuditEntry:
        return cls(data["domain"], parse_time(data["at"]), data["actor"], dict(data["changes"]))


def update_policy(
    records: Records,
    domain: str,
    change: PolicyChange,
    *,
    actor: str,
    at: datetime,
    allow_hosts: Sequence[str] = (),
) -> Policy:
    """Validate and save ``change``, logging it; an unchanged policy is neither saved nor logged.
    The log names a webhook's URL, never its secret."""
    name = check_domain(domain)
    values = check_change(change, allow_hosts)
    current = get_policy(records, name)
    if "webhook_url" in values:
        values["webhook_secret"] = secret_for(values["webhook_url"], current.webhook_secret)
    updated = replace(current, **values)
    diff = {
        key: {"from": _plain(getattr(current, key)), "to": _plain(getattr(updated, key))}
        for key in values
        if getattr(current, key) != getattr(updated, key) and key != "webhook_secret"
    }
    if not diff:
        return current
    updated = replace(updated, updated_at=at, updated_by=actor)
    # The log first: a crash between the two writes leaves an entry for a change not applied
    # (the admin sees it and retries), never a change without its entry.
    entry = AuditEntry(name, at, actor, diff)
    key = f"{name}/{iso(at)}/{secrets.token_hex(4)}"
    records.put_record(Namespace.POLICY_AUDIT, key, entry.to_dict())
    records.put_record(Namespace.POLICIES, name, updated.to_dict())
    return updated


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def audit_log(records: Records, domain: str, *, limit: int = AUDIT_PAGE) -> list[AuditEntry]:
    """The domain's policy changes, oldest first (the latest ``limit``)."""
    name = check_domain(domain)
    found = records.list_records(Namespace.POLICY_AUDIT, prefix=f"{name}/")
    return [AuditEntry.from_dict(v) for _, v in found][-limit:]


def register_sender(records: Records, owner: str) -> None:
    """Note that ``owner`` tracks mail, for the domain-wide overview (idempotent)."""
    records.add_record(Namespace.DOMAIN_SENDERS, f"{domain_of(owner)}/{owner.lower()}", {})


def domain_senders(records: Records, domain: str) -> list[str]:
    """Everyone in ``domain`` who tracked mail."""
    prefix = f"{domain.lower()}/"
    return [key[len(prefix) :] for key, _ in records.list_records(Namespace.DOMAIN_SENDERS, prefix)]


class PolicyBook:
    """Policies by domain for the hit pipeline and the notifier, cached for ``ttl`` seconds.

    A policy changes rarely and every hit needs one: on Firestore a minute's staleness saves a
    read per hit. Commands and cards read the policy fresh with ``policy_for``.
    """

    def __init__(self, records: Records, clock: Clock, ttl: timedelta = timedelta(minutes=1)):
        self.records, self.clock, self.ttl = records, clock, ttl
        self._cache: dict[str, tuple[datetime, Policy]] = {}
        self._lock = threading.Lock()
        self._reading = threading.Lock()  # one read per domain when many hits miss at once

    def of(self, email: str) -> Policy:
        domain = domain_of(email)
        now = self.clock.now()
        if (cached := self._cached(domain, now)) is not None:
            return cached
        with self._reading:
            if (cached := self._cached(domain, now)) is not None:
                return cached
            policy = get_policy(self.records, domain)
            with self._lock:
                self._cache[domain] = (now, policy)
        return policy

    def _cached(self, domain: str, now: datetime) -> Policy | None:
        with self._lock:
            cached = self._cache.get(domain)
        return cached[1] if cached is not None and abs(now - cached[0]) < self.ttl else None


def disclosure_html(text: str | None) -> str:
    """The disclosure as it goes into the email, just before the pixel; "" without one."""
    if not text:
        return ""
    import html

    return '<p style="font-size:11px;color:#5f6368;margin:8px 0 0">' + html.escape(text) + "</p>"


def enforce_retention(store: Housekeeping, policy: Policy, now: datetime) -> int:
    """Delete the domain's events older than its retention now (the sweep repeats it hourly;
    new events carry the policy's expiry, which Firestore's TTL honours)."""
    if policy.retention_days is None:
        return 0
    return store.purge_domain(policy.domain, now - timedelta(days=policy.retention_days))
