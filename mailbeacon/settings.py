"""Changing a user's settings: one set of rules for every writer.

The CLI, the dashboard, the add-on's settings card, Slack's mute button, the Chat app and the
notifier's problem reports all change settings through one ``SettingsBook``, which the
composition root builds once with the configured ``AlertRules``: a value one of them refuses,
none of them accepts. The destination rules matter most: an accepted webhook URL is where our
server will POST alert contents, so anything but Slack's and Chat's own hosts (plus hosts the
operator lists) would let a user aim the server at internal addresses (server-side request
forgery); an accepted email address is where the relay will send mail, so it must be in the
user's own domain or one the operator allows.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .clock import iso
from .errors import InvalidInput
from .model import Notify, QuietHours, Settings, Strictness
from .platform import CHAT_WEBHOOK_HOST, SLACK_WEBHOOK_HOST
from .policy import Policy, policy_for
from .records import Namespace, Records
from .store import SettingsStore
from .validation import check_email, check_text
from .webhooks import (
    allowed_host,
    check_event_webhook,
    new_secret,
    secret_for,
    split_webhook_url,
)

MAX_WEBHOOK_CHARS = 1000
MAX_PROBLEMS = 10
MAX_MUTED = 500
WEBHOOK_PATHS = {
    "slack": (SLACK_WEBHOOK_HOST, "/services/"),
    "chat": (CHAT_WEBHOOK_HOST, "/v1/spaces/"),
}


class _Keep:
    """The value of a field a change leaves alone."""

    def __repr__(self) -> str:
        return "KEEP"


KEEP: Final = _Keep()


class InvalidSettings(InvalidInput):
    """Some fields of a change were refused; ``errors`` maps each field to why."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__("; ".join(f"{name}: {why}" for name, why in self.errors.items()))


@dataclass(frozen=True)
class AlertRules:
    """Where alerts may go: Slack's and Chat's webhook hosts plus ``allow_hosts``, and email
    addresses in the user's own domain plus ``email_domains``.

    ``allow_hosts`` (MAILBEACON_WEBHOOK_ALLOW_HOSTS) holds ``host[:port]`` entries, for loopback
    receivers in tests and for an operator's own relay; http is accepted for them only.
    ``email_domains`` (MAILBEACON_ALERT_EMAIL_DOMAINS) are further domains alert emails may go
    to, the operator's choice.
    """

    allow_hosts: tuple[str, ...] = ()
    email_domains: tuple[str, ...] = ()

    def check_email_to(self, user: str, value: str) -> str:
        """Alerts by email go to the user's own domain or one the operator allowed: a relay
        that mails any address a user names could be made to mail arbitrary people."""
        address = check_email(value)
        domain, own = address.rpartition("@")[2], user.rpartition("@")[2].lower()
        if domain != own and domain not in {d.lower() for d in self.email_domains}:
            allowed = ", ".join((own, *self.email_domains))
            raise InvalidInput(f"must be an address in your own domain ({allowed})")
        return address

    def check_webhook(self, url: str, kind: str) -> str:
        """``url`` if ``kind`` ("slack" or "chat") alerts may be posted there; else InvalidInput."""
        host, path_prefix = WEBHOOK_PATHS[kind]
        value, parts, hostname, port = split_webhook_url(url, MAX_WEBHOOK_CHARS)
        if self._allowed(hostname, port) and parts.scheme in ("http", "https"):
            return value
        if parts.scheme != "https":
            raise InvalidInput(f"must start with https://{host}/")
        if port not in (None, 443):
            raise InvalidInput("must not carry a port")
        if hostname != host:
            raise InvalidInput(f"must be on {host}, not {hostname or 'nothing'}")
        if not parts.path.startswith(path_prefix) or len(parts.path) <= len(path_prefix):
            raise InvalidInput(f"expected https://{host}{path_prefix}...")
        return value

    def check_event_webhook(self, url: str) -> str:
        """``url`` if events may be posted there (mailbeacon/webhooks.py says what may)."""
        return check_event_webhook(url, self.allow_hosts)

    def _allowed(self, hostname: str, port: int | None) -> bool:
        return allowed_host(hostname, port, self.allow_hosts)


@dataclass(frozen=True)
class SettingsChange:
    """What a writer asks to change; fields left at KEEP stay as they are.

    Text fields arrive as typed (a CLI flag, a form field); an empty string or None clears
    the optional ones.
    """

    slack_webhook: str | _Keep | None = KEEP
    slack_app_dm: bool | _Keep = KEEP
    chat_webhook: str | _Keep | None = KEEP
    chat_app_dm: bool | _Keep = KEEP
    email_to: str | _Keep | None = KEEP
    notify: str | _Keep = KEEP
    quiet_hours: str | QuietHours | _Keep | None = KEEP
    """``"22-7"``, a QuietHours, or None / "" / "off" for none."""
    timezone: str | _Keep = KEEP
    strictness: str | _Keep = KEEP
    mute: tuple[str, ...] = ()
    unmute: tuple[str, ...] = ()
    clear_problems: bool = False
    reply_alerts: bool | _Keep = KEEP
    remind_days: int | str | _Keep | None = KEEP
    """Days for the compose card's default reminder (1, 2, 3 or 7); None, "" or "off": none."""
    webhook_url: str | _Keep | None = KEEP
    """Events out to this endpoint; a secret is made with the first one, kept after."""
    rotate_webhook_secret: bool = False

    @property
    def empty(self) -> bool:
        return self == SettingsChange()


def parse_quiet_hours(value: str | QuietHours | None) -> QuietHours | None:
    """``"22-7"`` (two different hours 0-23) as QuietHours; "", "off" or None for none."""
    if value is None or isinstance(value, QuietHours):
        return check_quiet_hours(value.start, value.end) if value else None
    if value.strip().lower() in ("", "off"):
        return None
    try:
        start, end = (int(part) for part in value.split("-"))
    except ValueError:
        raise InvalidInput(f"expected START-END hours such as 22-7, not {value[:40]!r}") from None
    return check_quiet_hours(start, end)


def check_quiet_hours(start: int, end: int) -> QuietHours:
    if not (0 <= start <= 23 and 0 <= end <= 23):
        raise InvalidInput(f"hours must be from 0 to 23, not {start}-{end}")
    if start == end:
        raise InvalidInput("the quiet hours must end at a different hour than they start")
    return QuietHours(start, end)


def check_remind_days(value: int | str | None) -> int | None:
    """The compose card's choices, or None for no default reminder."""
    from .reminders import CHOICES

    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "off", "0")):
        return None
    try:
        days = int(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"expected days ({', '.join(map(str, CHOICES))}) or off") from None
    if days not in CHOICES:
        raise InvalidInput(f"choose one of {', '.join(map(str, CHOICES))} days, or off")
    return days


def check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"unknown time zone {value[:60]!r}") from None
    return value


def apply_change(
    current: Settings, change: SettingsChange, rules: AlertRules
) -> tuple[Settings, dict[str, str]]:
    """The settings ``change`` asks for and the problems by field (empty: it may be saved)."""
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}

    def take(name: str, check: Any) -> None:
        raw = getattr(change, name)
        if raw is KEEP:
            return
        try:
            values[name] = check(raw)
        except InvalidInput as exc:
            errors[name] = str(exc)

    def optional(check: Any) -> Any:
        return lambda raw: check(raw) if raw not in (None, "") else None

    take("slack_webhook", optional(lambda url: rules.check_webhook(url, "slack")))
    take("chat_webhook", optional(lambda url: rules.check_webhook(url, "chat")))
    take("email_to", optional(lambda address: rules.check_email_to(current.user, address)))
    take("slack_app_dm", bool)
    take("chat_app_dm", bool)
    take("notify", lambda v: _choice(Notify, v))
    take("strictness", lambda v: _choice(Strictness, v))
    take("quiet_hours", parse_quiet_hours)
    take("timezone", check_timezone)
    take("reply_alerts", bool)
    take("remind_days", check_remind_days)
    take("webhook_url", optional(rules.check_event_webhook))
    if "webhook_url" in values:
        values["webhook_secret"] = secret_for(values["webhook_url"], current.webhook_secret)
    if change.rotate_webhook_secret and values.get("webhook_url", current.webhook_url):
        values["webhook_secret"] = new_secret()  # without a webhook there is nothing to rotate
    if change.clear_problems:
        values["problems"] = ()
    if change.mute or change.unmute:
        try:
            mute = [check_text(m, "a muted message id") for m in change.mute]
        except InvalidInput as exc:
            errors["muted"] = str(exc)
            mute = []
        muted = [m for m in (*current.muted, *mute) if m not in change.unmute]
        values["muted"] = tuple(dict.fromkeys(muted))[-MAX_MUTED:]
    return replace(current, **values), errors


def _choice(kind: Any, value: Any) -> Any:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise InvalidInput(f"choose one of {allowed}, not {str(value)[:40]!r}") from None


CHANNEL_FIELDS = {
    "slack_webhook": "slack",
    "slack_app_dm": "slack",
    "chat_webhook": "chat",
    "chat_app_dm": "chat",
    "email_to": "email",
}
"""The alert channel family each settings field turns on (the domain policy allows families)."""


def policy_errors(policy: Policy, change: SettingsChange) -> dict[str, str]:
    """Fields that would turn on a channel the user's domain policy does not allow."""
    errors = {}
    if change.webhook_url not in (KEEP, None, "") and not policy.user_webhooks:
        errors["webhook_url"] = f"{policy.domain}'s admins do not allow personal webhooks"
    for name, family in CHANNEL_FIELDS.items():
        value = getattr(change, name)
        turned_on = value is not KEEP and value not in (None, "", False)
        if turned_on and not policy.allows_channel(family):
            errors[name] = f"{policy.domain}'s admins do not allow alerts by {family}"
    return errors


def register_digest_user(records: Records, user: str) -> None:
    """Include ``user`` in the daily digest's fan-out (anyone who saved settings or was alerted)."""
    records.add_record(Namespace.DIGEST_USERS, user.lower(), {})


class SettingsBook:
    """The settings use case, built once by the composition root with the configured rules;
    every writer is handed this one object, so none can apply other rules."""

    def __init__(self, store: SettingsStore, records: Records, rules: AlertRules) -> None:
        self.store = store
        self.records = records
        self.rules = rules

    def get(self, user: str) -> Settings:
        """A user's settings; the defaults when they never saved any."""
        return self.store.get_settings(user)

    def check(self, user: str, change: SettingsChange) -> None:
        """Refuse a change before anything exists (the CLI asks before it opens a store)."""
        _, errors = apply_change(Settings(user=check_email(user)), change, self.rules)
        if errors:
            raise InvalidSettings(errors)

    def update(self, user: str, change: SettingsChange) -> Settings:
        """Validate ``change`` as a whole and save it, or raise InvalidSettings and save nothing.

        Channels the user's domain policy leaves out cannot be turned on. The read, the checks
        and the write are one atomic step of the store, so a problem the notifier records
        meanwhile (in another process) is not lost.
        """
        email = check_email(user)
        errors = policy_errors(policy_for(self.records, email), change)

        def apply(current: Settings) -> Settings:
            updated, problems = apply_change(current, change, self.rules)
            if errors or problems:
                raise InvalidSettings(problems | errors)
            return updated

        updated = self.store.change_settings(email, apply)
        register_digest_user(self.records, email)
        return updated

    def record_problem(self, user: str, problem: str, at: datetime) -> Settings:
        """Add a permanent delivery failure to the user's settings, where they will see it
        (newest last, deduplicated, capped), atomically with any other writer's change.
        The text may quote a receiver's answer: anything not encodable is replaced, so a
        problem can never make the settings page fail to render."""
        problem = problem.encode("utf-8", "replace").decode("utf-8")
        text = f"{iso(at)} {problem}"

        def add(settings: Settings) -> Settings:
            kept = [p for p in settings.problems if p.split(" ", 1)[-1] != problem]
            return replace(settings, problems=tuple([*kept, text][-MAX_PROBLEMS:]))

        return self.store.change_settings(user, add)
