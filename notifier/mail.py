"""Well-formed MIME for email alerts: multipart/alternative with a text and an HTML part."""

from __future__ import annotations

import html
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from mailbeacon.errors import InvalidInput


def html_page(title: str, body: str) -> str:
    return (
        '<!doctype html><html><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title></head>"
        f'<body style="font-family:sans-serif">{body}</body></html>'
    )


def build_email(
    *, sender: str, to: str, subject: str, text: str, html_body: str, at: datetime, key: str
) -> EmailMessage:
    """A message any MTA and Gmail accept; the Message-ID is derived from ``key`` for tracing."""
    if "\n" in to or "\r" in to:
        raise InvalidInput("header values must be one line")
    # Subjects are refused with control characters at track time; one stored before that
    # check still makes a one-line header rather than failing every alert.
    subject = " ".join("".join(ch if ch.isprintable() else " " for ch in subject).split())
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(at)
    domain = sender.rsplit("@", 1)[-1].strip(">") or "localhost"
    message["Message-ID"] = make_msgid(idstring=key.replace("/", "."), domain=domain)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    message.add_alternative(html_body, subtype="html")
    return message
