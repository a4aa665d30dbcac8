"""The Records port: small keyed documents the edges keep beside the tracking data.

Installations, DM spaces, the delivery log, digest bookkeeping: none is part of the tracking
model, but all must survive restarts and be shared by every process. Every namespace in use is
listed here, so an export, a deletion or a new backend sees all of them in one place.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Protocol


class Namespace(StrEnum):
    """Every record namespace, with the key each one uses."""

    DELIVERIES = "notify-delivery"
    """key ``{alert}/{channel}``: claimed, sent or failed, once per alert and channel; the
    browser channel adds ``{alert}/browser/{subscription}`` once each browser has it."""
    LAST_ALERT = "notify-last"
    """key message id: when the owner was last told, for coalescing repeat opens."""
    HELD = "notify-held"
    """key ``{user}/{event}``: alerts held for the digest (quiet hours)."""
    DIGEST_USERS = "digest-user"
    """key user: users the daily digest fans out to (anyone who saved settings)."""
    DIGEST_SENT = "digest-sent"
    """key user: when that user's last digest went out."""
    DIGEST_RUNS = "digest-run"
    """key day: one scheduler run per day, whichever process gets there first."""
    SLACK_DMS = "slack-dm"
    """key user email: the Slack app's DM channel with that user."""
    SLACK_INSTALLATIONS = "slack-installation"
    """key ``{enterprise}/{team}``: the Slack app's bot token per workspace."""
    SLACK_STATES = "slack-oauth-state"
    """key state: an OAuth install in progress, with its expiry."""
    CHAT_DMS = "chat-dm"
    """key user email: the Chat app's DM space with that user."""
    CHAT_USERS = "chat-user"
    """key user email: the Chat user resource name (``users/{id}``)."""
    ACCESS_TOKENS = "access-tokens"
    """key SHA-256 of a personal access token: the user it acts for (access_tokens.py)."""
    ACCESS_TOKENS_BY_USER = "access-tokens-by-user"
    """key ``{user}|{token id}``: the token's name, creation time and hash."""
    DASHBOARD_SESSIONS = "dashboard-sessions"
    """key SHA-256 of a session id: the signed-in user and the session's expiry."""
    POLICIES = "domain-policy"
    """key domain: the domain's policy (policy.py)."""
    DOMAIN_SENDERS = "domain-sender"
    """key ``{domain}/{user}``: who in a domain tracks mail (the admins' domain-wide overview)."""
    GMAIL_WATCHES = "gmail-watch"
    """key user: the sent-mail watch's last history id and when Gmail stops notifying."""
    SENT_MAIL = "gmail-sent"
    """key message id: the Gmail message that carried its pixel (id, RFC Message-ID, To, Cc)."""
    UNSENT = "gmail-unsent"
    """key message id: a tracked draft that was not seen sent within days of tracking it."""
    LABEL_OPT_IN = "gmail-label-opt-in"
    """key user: the user asked for Mailbeacon/Opened and /Clicked labels in Gmail."""
    GMAIL_LABELS = "gmail-label"
    """key ``{message id}/{label}``: that label was put on the sent message (once)."""
    POLICY_AUDIT = "policy-audit"
    """key ``{domain}/{time}/{random}``: one policy change, who made it and what changed."""
    PUSH_SUBSCRIPTIONS = "push-subscriptions"
    """key ``{user}|{subscription id}``: a browser's Web Push subscription (push.py)."""
    LIVE_EVENTS = "live-events"
    """key ``{owner}|{processed at}|{event id}``: the last minutes of events, for live pages."""
    LIVE_SWEPT = "live-swept"
    """key owner: when that owner's live feed was last swept of old entries."""
    GMAIL_THREADS = "gmail-thread"
    """key ``{user}/{gmail thread id}``: the tracked email that thread belongs to (threads.py)."""
    GMAIL_RFC_IDS = "gmail-rfc-id"
    """key ``{user}/{RFC Message-ID}``: the tracked email with that Message-ID (In-Reply-To)."""
    REMINDERS = "reminders"
    """key message id: the email's follow-up reminder (reminders.py)."""
    REMINDERS_DUE = "reminders-due"
    """key ``{UTC hour}|{fire time}|{message id}``: scheduled reminders by when they fire."""
    REMINDER_FIRED = "reminder-fired"
    """key ``{message id}/{fire time}``: the scheduler handed that reminder over (once)."""
    REMINDER_SCAN = "reminder-scan"
    """key ``cursor``: the hour the reminder scheduler swept last."""
    WEBHOOK_ATTEMPTS = "webhook-attempts"
    """key ``{event}/{channel}``: failed attempts to deliver an event to a webhook (backoff)."""
    FALLBACK_HITS = "fallback-hits"
    """key hit id: a hit the edge answered while Pub/Sub refused it, until it is republished
    (mailbeacon.bus.fallback)."""
    SIGNING_KEYS = "signing-keys"
    """key ``current``: the token keyring a shared store's processes sign with when
    MAILBEACON_SECRET is not set (made once, by whichever process starts first)."""


class Records(Protocol):
    """Keyed JSON documents per namespace. Every method is safe to call from threads."""

    def get_record(self, namespace: str, key: str) -> dict[str, Any] | None: ...

    def put_record(self, namespace: str, key: str, value: dict[str, Any]) -> None: ...

    def add_record(self, namespace: str, key: str, value: dict[str, Any]) -> bool:
        """Insert if absent: False when the key exists. The building block of idempotency."""

    def delete_record(self, namespace: str, key: str) -> None: ...

    def list_records(
        self, namespace: str, prefix: str = "", *, limit: int | None = None
    ) -> list[tuple[str, dict[str, Any]]]:
        """Records of a namespace whose key starts with ``prefix``, in key order; the first
        ``limit`` of them when given (a sweep takes its work in bounded rounds)."""
