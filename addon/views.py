"""The add-on's screens as card JSON: homepage list, message detail, compose, not-tracked.

Each function turns domain objects into a card through the checked builders in ``cards``; no
user text reaches a card without passing through them (and so being escaped).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from mailbeacon import localtime, words
from mailbeacon.model import Event, Message
from mailbeacon.policy import Policy
from mailbeacon.reminders import CHOICES, Reminder
from mailbeacon.rollup import Summary

from . import cards as c
from .config import DETAIL, INSERT_LINK, OLDER, REFRESH, SETTINGS, TRACK, AddonConfig

TITLE = "Mailbeacon"
MAX_TIMELINE = 80
REMIND_OPTIONS = [("off", "Don't remind me")] + [
    (str(d), f"Remind me if no reply in {d} day{'s' if d > 1 else ''}") for d in CHOICES
]


def when(at: datetime | None, tz: str) -> str:
    """A short local time such as "Mar 2, 10:15 CET"."""
    return localtime.when_zone(at, tz)


def status(summary: Summary, tz: str) -> str:
    """The one line a sender wants: not opened / opened N times, last at ... / clicked /
    replied."""
    if summary.human_replies:
        times = "" if summary.human_replies == 1 else f" {summary.human_replies} times"
        return f"Replied{times}, first at {when(summary.first_replied_at, tz)}"
    if summary.status == "sent":
        return words.status("sent")
    opens = summary.human_opens + summary.implied_opens
    times = "once" if opens == 1 else f"{opens:,} times"
    opened = f"Opened {times}, last at {when(summary.last_opened_at, tz)}"
    if summary.human_clicks:
        clicks = words.plural(summary.human_clicks, "click")
        return f"Clicked ({clicks}). {opened}" if summary.human_opens else f"Clicked ({clicks})"
    return opened


def machine_note(summary: Summary) -> str:
    """How many hits were machines (shown apart, never counted as opens)."""
    machine = summary.machine_hits
    if not machine:
        return ""
    return f"{words.plural(machine, 'machine hit')} (scanners, prefetch, you) not counted"


def recipients_text(message: Message) -> str:
    """The first five recipients, and how many more."""
    shown = ", ".join(message.recipients[:5])
    more = len(message.recipients) - 5
    return f"{shown} and {more} more" if more > 0 else shown


def home_card(
    cfg: AddonConfig,
    rows: Sequence[tuple[Message, Summary]],
    tz: str,
    *,
    older: str | None = None,
    page: int = 1,
) -> c.Json:
    """The user's tracked emails, newest first, with their status; ``older`` pages on."""
    widgets: list[c.Json] = []
    for message, summary in rows:
        title = message.subject or f"To {recipients_text(message)}"
        note = machine_note(summary)
        bottom = (
            f"{note} · To {recipients_text(message)}" if note else f"To {recipients_text(message)}"
        )
        widgets.append(
            c.decorated(
                status(summary, tz),
                top=title,
                bottom=bottom,
                on_click=c.on_action(cfg.url(DETAIL), {"message_id": message.id}),
            )
        )
    if not widgets:
        widgets.append(
            c.paragraph(
                "No tracked emails yet. Open a draft, click the Mailbeacon icon in the compose"
                " toolbar and press Track opens."
            )
        )
    sections = [c.section(widgets, "Your tracked emails" if page == 1 else f"Page {page}")]
    nav = [c.button("Refresh", c.on_action(cfg.url(REFRESH)))]
    if cfg.base_url:  # every tracked email, the overview and CSV export
        nav.append(c.button("Open dashboard", c.open_link(f"{cfg.base_url}/dashboard/messages")))
    if older:
        nav.append(
            c.button("Older", c.on_action(cfg.url(OLDER), {"before": older, "page": str(page + 1)}))
        )
    sections.append(c.section([c.buttons(*nav)]))
    footer = c.button("Notification settings", c.on_action(cfg.url(SETTINGS)))
    return c.card(TITLE, sections, subtitle="Opens and clicks", name="home", footer=footer)


def _event_widget(event: Event, tz: str) -> c.Json:
    what = words.kind(event.kind, event.client)
    top = f"{what} · {words.verdict(event.verdict.value)} · {when(event.at, tz)}"
    client = words.client(event.client, event.user_agent)
    text = f"{client}: {event.url}" if event.url else client
    if event.kind == "reply":
        text = f"from {event.sender or 'someone'}"
    bottom = ""
    if not event.is_human:
        bottom = "Why: " + (words.reasons(event.reasons) or "unknown")
    return c.decorated(text, top=top, bottom=bottom)


def reply_facts(summary: Summary, reminder: Reminder | None, tz: str) -> list[c.Json]:
    """Replies (machine answers apart) and the follow-up reminder, when there are any."""
    facts = []
    if summary.human_replies or summary.machine_replies:
        facts.append(
            c.decorated(
                f"{summary.human_replies} by people, {summary.machine_replies} automatic",
                top="Replies",
                bottom="Out-of-office replies and bounces are never counted as replies",
            )
        )
    if reminder is not None:
        states = {
            "scheduled": f"Due {when(reminder.due_at, tz)} if nobody replies",
            "due": f"Sent {when(reminder.changed_at, tz)}: no reply yet",
            "done": "Done",
            "cancelled": "Not needed: a reply came",
        }
        facts.append(c.decorated(states.get(reminder.state, reminder.state), top="Reminder"))
    return facts


def detail_card(
    cfg: AddonConfig,
    message: Message,
    events: Sequence[Event],
    summary: Summary,
    tz: str,
    *,
    note: str = "",
    reminder: Reminder | None = None,
) -> c.Json:
    """One message: its numbers, then the timeline of hits (newest first) with verdicts."""
    facts = [
        c.decorated(message.subject or "(no label)", top="Email"),
        c.decorated(status(summary, tz), top="Status", bottom=machine_note(summary)),
        c.decorated(recipients_text(message), top="To"),
        c.decorated(when(message.sent_at or message.created_at, tz), top="Tracked since"),
        c.decorated(
            f"{summary.human_opens + summary.implied_opens:,} by people"
            f" ({words.plural(summary.unique_human_opens + summary.implied_opens, 'device')}),"
            f" {summary.machine_opens:,} by machines",
            top="Opens",
        ),
        c.decorated(
            f"{summary.human_clicks:,} by people, {summary.machine_clicks:,} by machines",
            top="Clicks",
        ),
        *reply_facts(summary, reminder, tz),
    ]
    if note:
        facts.insert(0, c.paragraph(note))
    sections = [c.section(facts, "Summary")]
    if message.links:
        sections.append(
            c.section(
                [c.decorated(link.url, top=f"Link {link.index}") for link in message.links][
                    : c.MAX_WIDGETS
                ],
                "Tracked links",
                collapsible=3,
            )
        )
    timeline = [_event_widget(e, tz) for e in reversed(events)][:MAX_TIMELINE]
    total = max(len(events), summary.human_opens + summary.human_clicks + summary.machine_hits)
    if total > MAX_TIMELINE:
        older = words.plural(total - MAX_TIMELINE, "older event")
        timeline.append(c.paragraph(f"{older} not shown: see the dashboard."))
    if not timeline:
        timeline = [c.paragraph("No opens or clicks yet.")]
    sections.append(c.section(timeline, "Timeline", collapsible=10))
    # The subject stays out of the header: headers are not HTML, widgets are (and escaped).
    return c.card("Tracked email", sections, subtitle=TITLE, name="detail")


def compose_card(
    cfg: AddonConfig,
    recipients: Sequence[str],
    message: Message | None,
    *,
    pixel: bool,
    error: str = "",
    notice: str = "",
    label: str = "",
    draft: str = "",
    policy: Policy | None = None,
    remind: int | None = None,
) -> c.Json:
    """The compose sidebar: whom it sees, what it has put in the draft, and what it cannot do.

    Under a domain policy that forbids tracking (at all, or of mail among colleagues) it says
    so instead of offering the buttons; with some internal recipients it warns that one pixel
    counts their opens too.

    ``draft`` is a random key for this compose window, carried in every action so a client that
    cannot update the card along with the draft (Apps Script) can keep the state itself.
    """
    state = {"draft": draft} if draft else {}
    if message:
        state |= {"message_id": message.id, "pixel": "yes" if pixel else "no"}
    rules, blocked = _policy_rules(policy, recipients)
    sections = [c.section(_draft_top(recipients, error, notice), "This draft")]
    if rules:
        sections.append(c.section(rules, "Domain policy"))
    sections.append(c.section(_in_draft(message, pixel), "In the draft now"))
    if not (message and pixel) and not blocked:
        widgets = _track_widgets(cfg, message, label, state, remind)
        sections.append(c.section(widgets, "Open tracking"))
    sections += [
        c.section(_link_widgets(cfg, state, blocked), "Click tracking"),
        c.section([c.paragraph(COMPOSE_LIMITS)], "Good to know"),
    ]
    return c.card(TITLE, sections, subtitle="Track this draft", name="compose")


COMPOSE_LIMITS = (
    "Mailbeacon cannot read your draft: links you type or paste yourself are not tracked,"
    " only links inserted here. To stop tracking, delete the inserted image (and tracked"
    " links) from the draft by hand; the add-on cannot remove them. Opens are counted only"
    " when the reader's mail app loads images."
)


def _draft_top(recipients: Sequence[str], error: str, notice: str) -> list[c.Json]:
    """The outcome of the last action, then whom the draft is to."""
    top: list[c.Json] = []
    if error:
        text = c.esc(error, c.MAX_TEXT - 40)  # room for the <font> markup around it
        top.append(c.paragraph(markup=f'<font color="#b3261e">{text}</font>'))
    if notice:
        top.append(c.paragraph(notice))
    if recipients:
        shown = list(recipients[:20])
        more = f" and {len(recipients) - 20} more" if len(recipients) > 20 else ""
        top.append(c.decorated(", ".join(shown) + more, top="Recipients"))
    else:
        top.append(c.paragraph("No recipients yet: add them to the draft before tracking it."))
    return top


def _in_draft(message: Message | None, pixel: bool) -> list[c.Json]:
    """What the add-on has inserted into the draft so far."""
    inserted: list[c.Json] = []
    if message and pixel:
        inserted.append(c.decorated("Open tracking pixel, at the end of the body", top="Inserted"))
    for link in message.links if message else ():
        inserted.append(c.decorated(link.url, top=f"Tracked link {link.index}"))
    return inserted or [c.paragraph("Nothing yet: this draft is not tracked.")]


def _blocked(policy: Policy, recipients: Sequence[str], inside: Sequence[str]) -> str:
    """Why the domain's policy forbids tracking this draft, or "" when it allows it."""
    if not policy.tracking:
        return (
            f"Your admins have turned tracking off for {policy.domain}: Mailbeacon will not"
            " track this email."
        )
    if recipients and inside and len(inside) == len(recipients) and not policy.track_internal:
        return (
            f"Every recipient is inside {policy.domain}, and your admins do not track mail"
            " among colleagues. Add an outside recipient to track this email."
        )
    return ""


def _policy_rules(policy: Policy | None, recipients: Sequence[str]) -> tuple[list[c.Json], str]:
    """The domain policy's section (empty without a policy) and why it blocks, if it does."""
    if policy is None:
        return [], ""
    inside = policy.internal(recipients) if policy.tracking and recipients else []
    blocked = _blocked(policy, recipients, inside)
    rules: list[c.Json] = []
    if blocked:
        rules.append(c.paragraph(blocked))
    elif inside and not policy.track_internal:
        rules.append(
            c.paragraph(
                f"{len(inside)} recipient(s) are inside {policy.domain}: their opens are"
                " counted too (one image cannot tell readers apart)."
            )
        )
    if policy.disclosure:
        notice = "Sent with the image (your domain's notice)"
        rules.append(c.decorated(policy.disclosure, top=notice))
    return rules, blocked


def _track_widgets(
    cfg: AddonConfig,
    message: Message | None,
    label: str,
    state: dict[str, str],
    remind: int | None = None,
) -> list[c.Json]:
    """The "Track opens" button, with the label field while nothing is tracked yet, and
    beside it "Remind me if no reply in N days" (the user's default selected)."""
    track: list[c.Json] = []
    if message is None:
        track.append(
            c.text_input(
                "subject",
                "Label (only you see it)",
                value=label,
                hint="For example: Proposal to ACME",
            )
        )
    selected = str(remind) if remind else "off"
    track.append(c.selection("remind_days", "Follow-up", REMIND_OPTIONS, selected, kind="DROPDOWN"))
    track.append(
        c.buttons(c.button("Track opens", c.on_action(cfg.url(TRACK), state), filled=True))
    )
    return track


def _link_widgets(cfg: AddonConfig, state: dict[str, str], blocked: str) -> list[c.Json]:
    """The tracked-link form, or why the policy does not allow it."""
    if blocked:
        return [c.paragraph("Not available under your domain's policy.")]
    return [
        c.text_input("link_url", "Link address", hint="https://example.com/page"),
        c.text_input("link_text", "Link text (optional)"),
        c.buttons(c.button("Insert tracked link", c.on_action(cfg.url(INSERT_LINK), state))),
    ]


def message_card(title: str, text: str) -> c.Json:
    """A short card for the contextual trigger when there is nothing to show."""
    return c.card(TITLE, [c.section([c.paragraph(text)])], subtitle=title, name="message")


def error_card(text: str) -> c.Json:
    """A card saying what went wrong, in words a user can act on."""
    return c.card(TITLE, [c.section([c.paragraph(text)])], subtitle="Something went wrong")
