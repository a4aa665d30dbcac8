"""One vocabulary, in plain words: what the dashboard, the add-on's cards, the alerts, the
digest, the CSV headers and the CLI call a status, a verdict, a reason, a client, a setting.

Codes (``clicked``, ``scanner``, ``link-burst``) stay in JSON and in the API's parameters;
every surface a person reads takes its words from here, so one open is never "clicked" on one
screen and "Clicked" with another meaning on the next.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

STATUS = {
    "sent": "Not opened yet",
    "opened": "Opened",
    "clicked": "Clicked",
    "replied": "Replied",
}
"""Statuses nest (each implies the ones before it): the filter "Opened" lists clicked ones too."""
STATUS_FILTER = {
    "sent": "Not opened yet",
    "opened": "Opened (or more)",
    "clicked": "Clicked (or more)",
    "replied": "Replied",
}

VERDICT = {
    "human": "Person",
    "self": "You",
    "prefetch": "Mail prefetch",
    "scanner": "Security scanner",
    "bot": "Bot or script",
}
VERDICT_SENTENCE = {
    "human": "a person",
    "self": "you, reading your own copy",
    "prefetch": "a mail service loading images ahead of the reader",
    "scanner": "a security scanner",
    "bot": "a bot or script",
}

KIND = {"open": "Open", "click": "Click", "reply": "Reply", "auto-reply": "Automatic reply"}
REPLY_KIND = {"reply": "Reply", "auto-reply": "Automatic reply", "bounce": "Bounce"}
"""A reply event's kind of answer (kept as its ``client``); anything else is a read receipt."""


def kind(event_kind: str, client: str | None = None) -> str:
    """What a hit or a reply was, in a word or two."""
    if event_kind == "reply":
        return REPLY_KIND.get(client or "", "Read receipt")
    return KIND.get(event_kind, event_kind)


REASONS = {  # the classifier's reason codes, in words (an unknown code is shown as it is)
    # Each says what was seen, never who must be behind it: one code comes with hits from any
    # network (a bare "Mozilla/5.0" from Microsoft's filtering is a scanner's, not Apple's).
    "after-self-view": "right after you opened your own copy",
    "before-send": "before the email was sent (you, while writing)",
    "head-request": "a HEAD request: a link checker, not a person",
    "prefetch-header": "the client said it was prefetching",
    "gmail-prefetch-user-agent": "Gmail fetching images ahead of the reader",
    "apple-mpp-user-agent": "Apple Mail Privacy Protection's user agent (it loads every image)",
    "delivery-window": "minutes after delivery, when Apple's privacy proxy loads images",
    "bare-webkit": "a bare WebKit user agent, as Apple Mail and Outlook send",
    "bare-mozilla": 'a user agent of just "Mozilla/5.0" (Apple\'s privacy proxy or a script)',
    "pre-mpp-apple-mail": "Apple Mail on an older Mac (no privacy proxy)",
    "proxy-at-send": "seconds after sending: your own Sent copy",
    "gmail-content-sampling": "Gmail sampling the message's links",
    "known-scanner-user-agent": "a known security scanner",
    "scanner-user-agent": "a security scanner",
    "bot-user-agent": "the user agent names a bot or script",
    "no-user-agent": "no user agent: a script",
    "unrecognised-user-agent": "an unrecognised client",
    "probable-window": "within minutes of delivery, when scanners check mail",
    "probable-scanner-network-late": "from a scanner's network",
    "link-burst": "several links opened within seconds: a scanner walking the email",
    "multi-source-burst": "several addresses clicked at once: a scanner fleet",
    "paired-click": "a link checker clicking alongside the reader",
    "source-seen-as-machine": "the same source was a machine before",
    "early-open": "opened too soon after sending for a person",
    "early-click": "clicked too soon after sending for a person",
    "click-without-open": "a click with no open before it",
    "accept-any-no-referer": "strict mode: no referrer",
    "accept-any": "not asked for as a page",
    "gmail-image-proxy": "Gmail's image proxy fetched it for a reader",
    "yahoo-mail-proxy": "Yahoo Mail's image proxy fetched it for a reader",
    "mail-client-user-agent": "a mail app",
    "browser-user-agent": "a browser",
    "unclassifiable": "a request Mailbeacon could not read",
    "client-at-send": "seconds after sending: your own mail app showing the Sent copy",
    "agent-rotation": "several browsers from one network at once: one machine",
    "auto-reply": "an automatic reply (out of office, autoresponder)",
    "bounce": "a delivery failure report (bounce)",
    "read-receipt": "a read receipt sent by the mail app",
    "from-recipient": "written by a recipient",
    "from-other-address": "written by someone else in the thread",
}
NETWORKS = {
    "apple-mpp": "Apple's privacy proxy",
    "microsoft-eop": "Microsoft's mail filtering",
    "azure-cloud": "Microsoft Azure",
    "barracuda": "Barracuda's mail filtering",
    "proofpoint": "Proofpoint",
    "mimecast": "Mimecast",
    "cisco-secure-email": "Cisco Secure Email",
    "observed-scanners": "a known scanner",
    "google-image-proxy": "Gmail's image proxy",
    "google-services": "Google's servers",
    "google-crawlers": "Google's crawlers",
    "googlebot": "Googlebot",
}

CLIENT = {
    "gmail": "Gmail",
    "apple-mail": "Apple Mail",
    "outlook": "Outlook",
    "thunderbird": "Thunderbird",
    "yahoo": "Yahoo Mail",
    "other": "Other",
}

REMINDER = {
    "scheduled": "due",
    "due": "sent, nobody has replied yet",
    "done": "marked done",
    "cancelled": "not needed, a person replied",
}
"""A follow-up reminder's state, after "Reminder:" (the API keeps the codes)."""
REMINDER_NOTES = ("replied", "done", "held for quiet hours")
"""Reminder reasons its state's words already say (others, like "snoozed 1 day", are shown)."""

NOTIFY = {
    "first-open": "The first open of each email, and clicks",
    "every-open": "Every open and click",
    "clicks": "Clicks only",
    "off": "Nothing (look in the dashboard or the Gmail sidebar)",
}
STRICTNESS = {
    "lenient": "Lenient: count doubtful hits as people",
    "balanced": "Balanced",
    "strict": "Strict: count doubtful hits as machines",
}

SETTING = {
    "notify": "Tell me about",
    "slack_webhook": "Slack webhook",
    "slack_app_dm": "Slack direct message",
    "chat_webhook": "Google Chat webhook",
    "chat_app_dm": "Google Chat direct message",
    "email_to": "Email alerts to",
    "quiet_hours": "Quiet hours",
    "quiet_start": "Quiet hours start",
    "quiet_end": "Quiet hours end",
    "timezone": "Time zone",
    "strictness": "Accuracy",
    "muted": "Muted emails",
    "problems": "Delivery problems",
    "browser": "Browser notifications",
    "webhook": "Webhook",
}
"""Settings by the same name on every surface (the add-on's card calls strictness Accuracy)."""

CHANNEL = {"slack": "Slack", "chat": "Google Chat", "email": "Email", "browser": "Browser"}
POLICY = {
    "tracking": "Tracking allowed",
    "track_internal": "Internal email tracked",
    "retention_days": "Days events are kept",
    "channels": "Alert channels",
    "disclosure": "Disclosure",
    "admins": "Admins",
    "webhook_url": "Domain webhook",
    "user_webhooks": "People's own webhooks",
}
"""A domain policy's fields, as its page and audit log name them."""


def policy_value(value: object) -> str:
    """A policy value as the audit log shows it: on/off, lists joined, "none" for nothing."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list | tuple):
        return ", ".join(CHANNEL.get(str(v), str(v)) for v in value) or "none"
    return "none" if value is None or value == "" else str(value)


QUIET_BOTH = "choose a start and an end hour, or Off for both"
"""The one refusal of half-set quiet hours (the dashboard's form and the add-on's card)."""

FIELD = {
    **SETTING,
    "q": "Search",
    "status": "Status",
    "since": "From",
    "until": "To",
    "sort": "Sort",
    "limit": "Rows per page",
    "cursor": "Page",
    "scope": "Scope",
}
"""Form and query fields, to name the one a person got wrong."""

MESSAGE_CSV = (
    "Message ID", "Subject", "Recipients", "Tracked at (UTC)", "Sent at (UTC)", "Status",
    "Opens by people", "Unique opens by people", "Machine opens", "Clicks by people",
    "Machine clicks", "Last activity (UTC)", "Sent (your time)", "Last activity (your time)",
    "Replies by people", "Automatic replies", "First reply (UTC)",
)  # fmt: skip
EVENT_CSV = (
    "When (UTC)", "When (your time)", "What", "Who", "Why", "Client", "Link", "Link number",
    "Verdict code", "Reason codes",
)  # fmt: skip


def plural(n: int, one: str, many: str | None = None) -> str:
    """``1 open``, ``2 opens``, ``1 reply``, ``3 replies``: the number and its noun."""
    if n == 1:
        return f"1 {one}"
    if many is None:
        many = one[:-1] + "ies" if one.endswith("y") and one[-2:-1] not in "aeiou" else one + "s"
    return f"{n:,} {many}"


def status(code: str) -> str:
    return STATUS.get(code, code)


def verdict(code: str) -> str:
    return VERDICT.get(code, code)


def reason(code: str) -> str:
    """A reason code in words; ``network:NAME`` names the catalogue the address fell in."""
    if code.startswith("network:"):
        name = code.removeprefix("network:")
        return f"from {NETWORKS.get(name, f'a {name} network')}"
    return REASONS.get(code, code.replace("-", " "))


def reasons(codes: Iterable[str]) -> str:
    """Why a hit got its verdict, as one sentence-like line ("" when there is no reason)."""
    words = list(dict.fromkeys(reason(c) for c in codes if c != "bench"))
    if not words:
        return ""
    text = "; ".join(words)
    return text[:1].upper() + text[1:]


def client(code: str, user_agent: str = "") -> str:
    """The app behind a hit: the mail client when known, else the browser and its system
    read from the user agent ("Chrome on Windows"), else "an unknown app"."""
    if code and code != "other":
        return CLIENT.get(code, code.replace("-", " ").title())
    if user_agent:
        from .classify.useragent import inspect  # ua-parser: only when a page asks

        info = inspect(user_agent)
        family = info.family if info.family not in ("", "Other") else ""
        system = info.os if info.os not in ("", "Other") else ""
        if info.kind in ("bot", "empty", "bare-mozilla") and family:
            return f"{family} (a script)"
        if family and system:
            return f"{family} on {system}"
        if family:
            return family
    return "An unknown app"


VERDICT_BY = {
    "self": "by you",
    "prefetch": "by mail prefetch",
    "scanner": "by security scanners",
    "bot": "by bots or scripts",
}


def machines(by_verdict: dict[str, int], by_reason: dict[str, int]) -> str:
    """The hits not counted, grouped by kind and reason, most first: "3 by security scanners,
    1 by mail prefetch; why: from Microsoft's mail filtering (2), ..." ("" when none)."""
    kinds = sorted(((n, v) for v, n in by_verdict.items() if n > 0), key=lambda p: -p[0])
    if not kinds:
        return ""
    text = ", ".join(f"{n:,} {VERDICT_BY.get(v, 'by ' + verdict(v).lower())}" for n, v in kinds)
    why = [(n, reason(c)) for c, n in by_reason.items() if n > 0 and c != "bench"]
    why.sort(key=lambda p: -p[0])
    if why:
        text += "; why: " + joined([f"{w} ({n:,})" for n, w in why], limit=4)
    return text


def field(name: str) -> str:
    return FIELD.get(name, name.replace("_", " ").capitalize())


def field_errors(errors: dict[str, str]) -> str:
    """Errors keyed by field, each led by the field's name as the form shows it."""
    return "; ".join(f"{field(name)}: {why}" for name, why in errors.items())


def joined(items: Sequence[str], limit: int = 3) -> str:
    """``a, b and 2 more``."""
    shown = ", ".join(items[:limit])
    more = len(items) - limit
    return f"{shown} and {more} more" if more > 0 else shown
