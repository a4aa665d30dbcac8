"""A due reminder in every channel's shape: the email's status line and four actions.

Snooze 1 day, Snooze 3 days and Done call us back where the channel can (Slack app buttons,
the Chat app's card buttons); elsewhere they are signed links to a page that asks once more
before acting (an email link scanner must not snooze anything): in email, on Slack and Chat
webhooks (one-way), and behind Web Push's notification actions. Open in Gmail is a link
everywhere.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from mailbeacon.reminders import ACTIONS, LABELS
from mailbeacon.rollup import Summary

from . import cards
from .blocks import check_blocks
from .mail import html_page
from .post import Post, chat_message_id

ACTION_PREFIX = "mailbeacon_reminder_"
"""Slack action ids of the reminder's buttons: ``..._snooze-1``, ``..._snooze-3``, ``..._done``."""
CHAT_FUNCTION = "mailbeacon.reminder"
"""The Chat app card buttons' function; parameters ``message_id`` and ``action``."""


def is_reminder_action(action_id: object) -> bool:
    """A Slack action id of a reminder button that asks for work (Snooze, Done); not the Open
    in Gmail URL button (``..._gmail``), whose press Slack reports too."""
    return (
        isinstance(action_id, str)
        and action_id.startswith(ACTION_PREFIX)
        and action_id.removeprefix(ACTION_PREFIX) in ACTIONS
    )


def status_line(summary: Summary | None) -> str:
    """What happened so far, in words: "opened 3 times, no reply"."""
    if summary is None or summary.status == "sent":
        return "not opened yet, no reply"
    opens = summary.human_opens + summary.implied_opens
    parts = ["opened once" if opens == 1 else f"opened {opens} times"]
    if summary.human_clicks:
        clicks = summary.human_clicks
        parts.append("clicked once" if clicks == 1 else f"clicked {clicks} times")
    return ", ".join(parts) + ", no reply"


def gmail_link(owner: str, sent: dict[str, Any] | None, subject: str) -> str:
    """The sent email in the owner's Gmail: by its Gmail id when the watch saw it, else a
    search by Message-ID, else by subject in Sent."""
    base = f"https://mail.google.com/mail/?authuser={quote(owner)}"
    if sent and sent.get("gmail_id"):
        return f"{base}#all/{quote(str(sent['gmail_id']))}"
    if sent and sent.get("rfc_message_id"):
        return f"{base}#search/{quote('rfc822msgid:' + str(sent['rfc_message_id']))}"
    return f"{base}#search/{quote(f'in:sent subject:({subject})')}"


@dataclass(frozen=True)
class ReminderView:
    """A due reminder reduced to strings and links."""

    key: str
    message_id: str
    subject: str
    who: str
    sent: str
    status: str
    dashboard_url: str
    gmail_url: str
    action_urls: dict[str, str]

    @property
    def headline(self) -> str:
        return f"No reply yet to “{self.subject}”"

    @property
    def line(self) -> str:
        return f"Sent {self.sent} to {self.who}: {self.status}."


def _slack(view: ReminderView, *, interactive: bool) -> dict[str, Any]:
    def button(action: str) -> dict[str, Any]:
        element: dict[str, Any] = {
            "type": "button",
            "text": {"type": "plain_text", "text": LABELS[action]},
            "action_id": ACTION_PREFIX + action,
        }
        if interactive:
            element["value"] = view.message_id
        else:
            element["url"] = view.action_urls[action]
        if action == "done":
            element["style"] = "primary"
        return element

    gmail = {
        "type": "button",
        "text": {"type": "plain_text", "text": "Open in Gmail"},
        "url": view.gmail_url,
        "action_id": ACTION_PREFIX + "gmail",
    }
    text = f"*{view.headline}*\n{view.line}".replace("<", "&lt;").replace(">", "&gt;")
    payload = {
        "text": f"{view.headline}. {view.line}",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": text[:2990]}},
            {
                "type": "actions",
                "block_id": f"reminder-{view.message_id}"[:255],
                "elements": [*(button(a) for a in LABELS), gmail],
            },
        ],
    }
    check_blocks(payload)
    return payload


def _chat(view: ReminderView, *, app: bool) -> dict[str, Any]:
    def button(action: str) -> dict[str, Any]:
        if not app:
            return {
                "text": LABELS[action],
                "onClick": {"openLink": {"url": view.action_urls[action]}},
            }
        parameters = [
            {"key": "message_id", "value": view.message_id},
            {"key": "action", "value": action},
        ]
        return {
            "text": LABELS[action],
            "onClick": {"action": {"function": CHAT_FUNCTION, "parameters": parameters}},
        }

    buttons = [button(a) for a in LABELS]
    buttons.append({"text": "Open in Gmail", "onClick": {"openLink": {"url": view.gmail_url}}})
    widgets = [
        {"textParagraph": {"text": html.escape(view.line)}},
        {"buttonList": {"buttons": buttons}},
    ]
    return cards.card_message(
        view.headline,
        f"reminder-{view.message_id}",
        "Mailbeacon reminder",
        widgets,
        f"mailbeacon-{view.message_id}",
    )


def reminder_post(view: ReminderView) -> Post:
    """The reminder for every channel, under its delivery key."""
    links = [(LABELS[a], view.action_urls[a]) for a in LABELS] + [("Open in Gmail", view.gmail_url)]
    text = "\n".join(
        [view.headline, "", view.line, ""] + [f"{label}: {url}" for label, url in links]
    )
    items = " · ".join(
        f'<a href="{html.escape(url)}">{html.escape(label)}</a>' for label, url in links
    )
    body = (
        f"<p><strong>{html.escape(view.headline)}</strong></p><p>{html.escape(view.line)}</p>"
        f"<p>{items}</p>"
        f'<p><a href="{html.escape(view.dashboard_url)}">Open the dashboard</a></p>'
    )
    return Post(
        key=view.key,
        subject=f"[Mailbeacon] {view.headline}",
        text=text,
        html=html_page(view.headline, body),
        slack=_slack(view, interactive=False),
        slack_app=_slack(view, interactive=True),
        chat=_chat(view, app=False),
        chat_app=_chat(view, app=True),
        chat_message_id=chat_message_id(view.key),
        push={
            "title": view.headline,
            "body": view.line,
            "url": view.dashboard_url,
            "message_id": view.message_id,
            "kind": "reminder",
            "actions": [{"action": a, "title": LABELS[a]} for a in ("snooze-1", "done")],
            "action_urls": {a: view.action_urls[a] for a in ("snooze-1", "done")},
        },
    )


def acted_message(subject: str, outcome: str, gmail_url: str) -> dict[str, Any]:
    """What replaces the reminder in Slack after a button: the outcome, Gmail still a click away."""
    text = f"*{subject}*: {outcome}".replace("<", "&lt;").replace(">", "&gt;")
    gmail = {
        "type": "button",
        "text": {"type": "plain_text", "text": "Open in Gmail"},
        "url": gmail_url,
        "action_id": ACTION_PREFIX + "gmail",
    }
    payload = {
        "text": f"{subject}: {outcome}",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": text[:2990]}},
            {"type": "actions", "elements": [gmail]},
        ],
    }
    check_blocks(payload)
    return payload
