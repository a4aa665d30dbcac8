"""A user's right to their data: export all of it, delete all of it, or delete one email.

Export gives the user's settings and every message with its stats and events, the same shapes
`mailbeacon settings --json` and `mailbeacon stats --json` print. Deletion removes the user's
messages, events, settings and every record that names them, namespace by namespace: each
namespace in records.py is listed below with how its records find their user, and a test
fails when a namespace is added without saying so here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from .policy import PolicyChange, list_policies, update_policy
from .queries import MessageQuery
from .records import Namespace, Records
from .reporting import all_messages
from .stats import get_stats
from .store import Housekeeping, MessageEvents, MessageStore, ReportingStore, SettingsStore
from .tracking import owned_message
from .validation import check_email

DELETED_ACTOR = "(a deleted user)"
"""How the audit log names an admin whose data was deleted."""


class ExportSource(MessageEvents, ReportingStore, SettingsStore, Protocol):
    """What an export reads: every message's stats and events, the listing, the settings."""


def export_user(
    store: ExportSource, user: str, stats: Callable[[str, str], dict[str, Any]] | None = None
) -> dict[str, Any]:
    """``{"user", "settings", "messages": [stats with events]}``, newest message first.

    ``stats(message_id, owner)`` builds each message's object (default: what is stored; the
    CLI adds the hits the server answered but has not processed yet, as `stats` does)."""
    email = check_email(user)
    one = stats or (lambda message_id, owner: get_stats(store, message_id, owner))
    messages = [
        one(row.message.id, email)
        for row in all_messages(store, email, MessageQuery(sort="newest"))
    ]
    return {"user": email, "settings": store.get_settings(email).to_dict(), "messages": messages}


@dataclass
class Deletion:
    """What ``delete_user`` removed, by kind, for the command to print."""

    user: str
    messages: int = 0
    events: int = 0
    settings: int = 0
    pending_hits: int = 0
    records: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "user": self.user,
            "messages": self.messages,
            "events": self.events,
            "settings": self.settings,
            "pending_hits": self.pending_hits,
            "records": dict(sorted(self.records.items())),
        }


Match = Callable[[str, dict[str, Any]], bool]


def _matchers(user: str, message_ids: set[str], event_ids: set[str]) -> dict[str, Match | None]:
    """For each namespace, which of its records belong to ``user`` (None: none ever do)."""
    return {
        Namespace.DELIVERIES: lambda k, v: (
            k.split("/", 1)[0] in event_ids  # an alert's
            or f"-{user}/" in k  # a digest's
            or (k.startswith("reminder:") and k.split(":")[1] in message_ids)  # a reminder's
        ),
        Namespace.LAST_ALERT: lambda k, v: k in message_ids,
        Namespace.HELD: lambda k, v: k.startswith(f"{user}/"),
        Namespace.DIGEST_USERS: lambda k, v: k == user,
        Namespace.DIGEST_SENT: lambda k, v: k == user,
        Namespace.DIGEST_RUNS: None,  # one per day, for everyone
        Namespace.SLACK_DMS: lambda k, v: k == user,
        Namespace.SLACK_INSTALLATIONS: None,  # the workspace's bot token
        Namespace.SLACK_STATES: None,  # an install in progress: a random state and an expiry
        Namespace.CHAT_DMS: lambda k, v: k == user,
        Namespace.CHAT_USERS: lambda k, v: k == user,
        Namespace.ACCESS_TOKENS: lambda k, v: str(v.get("user", "")).lower() == user,
        Namespace.ACCESS_TOKENS_BY_USER: lambda k, v: k.startswith(f"{user}|"),
        Namespace.DASHBOARD_SESSIONS: lambda k, v: str(v.get("user", "")).lower() == user,
        Namespace.DOMAIN_SENDERS: lambda k, v: k.partition("/")[2] == user,
        Namespace.GMAIL_WATCHES: lambda k, v: k == user,
        Namespace.SENT_MAIL: lambda k, v: k in message_ids,
        Namespace.UNSENT: lambda k, v: k in message_ids,
        Namespace.LABEL_OPT_IN: lambda k, v: k == user,
        Namespace.GMAIL_LABELS: lambda k, v: k.partition("/")[0] in message_ids,
        Namespace.POLICIES: None,  # the domain's; an admin's address is taken out below
        Namespace.POLICY_AUDIT: None,  # kept for the domain, the user's address replaced below
        Namespace.PUSH_SUBSCRIPTIONS: lambda k, v: k.startswith(f"{user}|"),
        Namespace.LIVE_EVENTS: lambda k, v: k.startswith(f"{user}|"),
        Namespace.LIVE_SWEPT: lambda k, v: k == user,
        Namespace.SIGNING_KEYS: None,  # the server's key: nobody's data, never exported
        Namespace.GMAIL_THREADS: lambda k, v: k.startswith(f"{user}/"),
        Namespace.GMAIL_RFC_IDS: lambda k, v: k.startswith(f"{user}/"),
        Namespace.REMINDERS: lambda k, v: k in message_ids,
        Namespace.REMINDERS_DUE: lambda k, v: k.rpartition("|")[2] in message_ids,
        Namespace.REMINDER_FIRED: lambda k, v: k.partition("/")[0] in message_ids,
        Namespace.REMINDER_SCAN: None,  # the scheduler's position, for everyone
        Namespace.WEBHOOK_ATTEMPTS: lambda k, v: k.partition("/")[0] in event_ids,
        # A hit kept while Pub/Sub was unavailable, until the sweep republishes it
        Namespace.FALLBACK_HITS: lambda k, v: str(v.get("message_id", "")) in message_ids,
    }


def delete_user(store: Housekeeping, records: Records, user: str, *, at: datetime) -> Deletion:
    """Delete everything of ``user``'s. Pixels of their messages keep answering (a recipient's
    mail app must not break) but record nothing: the messages no longer exist."""
    email = check_email(user)
    removed = store.delete_user(email)
    result = Deletion(
        email,
        messages=len(removed.message_ids),
        events=len(removed.event_ids),
        settings=removed.settings,
        pending_hits=removed.pending_hits,
    )
    matchers = _matchers(email, set(removed.message_ids), set(removed.event_ids))
    for namespace, match in matchers.items():
        if match is None:
            continue
        count = 0
        for key, value in records.list_records(namespace):
            if match(key, value):
                records.delete_record(namespace, key)
                count += 1
        if count:
            result.records[str(namespace)] = count
    result.records |= _forget_admin(records, email, at)
    return result


def _forget_admin(records: Records, email: str, at: datetime) -> dict[str, int]:
    """Take the user out of every policy's admins (logged as a change) and out of the audit
    log, where their address is replaced: the log stays whole for the domain."""
    counts: dict[str, int] = {}
    for policy in list_policies(records):
        if policy.is_admin(email):
            admins = [a for a in policy.admins if a != email]
            update_policy(
                records, policy.domain, PolicyChange(admins=admins), actor=DELETED_ACTOR, at=at
            )
            counts[str(Namespace.POLICIES)] = counts.get(str(Namespace.POLICIES), 0) + 1
    for key, value in records.list_records(Namespace.POLICY_AUDIT):
        scrubbed = _scrub(value, email)
        if scrubbed != value:
            records.put_record(Namespace.POLICY_AUDIT, key, scrubbed)
            counts[str(Namespace.POLICY_AUDIT)] = counts.get(str(Namespace.POLICY_AUDIT), 0) + 1
    return counts


def _scrub(value: Any, email: str) -> Any:
    """``value`` with every string equal to ``email`` replaced by DELETED_ACTOR."""
    if isinstance(value, str):
        return DELETED_ACTOR if value.lower() == email else value
    if isinstance(value, list):
        return [_scrub(v, email) for v in value]
    if isinstance(value, dict):
        return {k: _scrub(v, email) for k, v in value.items()}
    return value


class MessageDeletion(MessageStore, Housekeeping, Protocol):
    """What deleting one email needs: its owner (MessageStore) and the deletion."""


def delete_message(
    store: MessageDeletion, records: Records, message_id: str, *, owner: str | None
) -> Deletion:
    """Delete one email (``owner``'s, or anyone's from the CLI): the message, its events, its
    summary and what it added to the overview's counters, and the records that name it.
    UnknownMessage for another user's or a missing email. Its pixel keeps answering and
    records nothing."""
    message = owned_message(store, message_id, owner)
    removed = store.delete_message(message.id)
    result = Deletion(message.owner, messages=len(removed.message_ids))
    result.events = len(removed.event_ids)
    events = set(removed.event_ids)
    ids = {message.id}
    matchers: dict[str, Match] = {
        Namespace.DELIVERIES: lambda k, v: k.split("/", 1)[0] in events,
        Namespace.LAST_ALERT: lambda k, v: k in ids,
        Namespace.HELD: lambda k, v: k.rpartition("/")[2] in events,
        Namespace.SENT_MAIL: lambda k, v: k in ids,
        Namespace.UNSENT: lambda k, v: k in ids,
        Namespace.GMAIL_LABELS: lambda k, v: k.partition("/")[0] in ids,
        Namespace.LIVE_EVENTS: lambda k, v: k.rpartition("|")[2] in events,
    }
    for namespace, match in matchers.items():
        for prefix in _prefixes(namespace, message.owner, removed.event_ids):
            for key, value in records.list_records(namespace, prefix):
                if match(key, value):
                    records.delete_record(namespace, key)
                    result.records[str(namespace)] = result.records.get(str(namespace), 0) + 1
    return result


def _prefixes(namespace: str, owner: str, event_ids: list[str]) -> list[str]:
    """Where a namespace keeps what names this email, so a deletion lists only that."""
    if namespace == Namespace.HELD:
        return [f"{owner}/"]
    if namespace == Namespace.LIVE_EVENTS:
        return [f"{owner}|"]
    if namespace == Namespace.DELIVERIES and len(event_ids) <= 200:
        return [f"{event_id}/" for event_id in event_ids]
    return [""]
