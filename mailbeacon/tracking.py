"""Tracking a message: register it under its sender's domain policy, sign its pixel and
links, and hand back what goes into the email."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .clock import Clock
from .errors import InvalidInput, UnknownMessage
from .model import Message
from .policy import Policy, disclosure_html, domain_of, policy_for, register_sender
from .records import Records
from .store import MessageStore
from .tokens import new_message_id
from .urls import Urls
from .validation import MAX_LINKS, check_link, check_sent_at, check_track


@dataclass(frozen=True)
class TrackedMessage:
    """What `track` hands back: where the pixel and each link live, and ready-made HTML."""

    message: Message
    pixel_url: str
    links: tuple[tuple[str, str], ...]
    disclosure: str | None = None
    """The sender's domain's disclosure line, inserted with the pixel."""

    @property
    def pixel_html(self) -> str:
        return pixel_insert(self.pixel_url, self.disclosure)

    def to_public(self) -> dict[str, Any]:
        anchors = "".join(
            f'<p><a href="{html.escape(tracked)}">{html.escape(url)}</a></p>'
            for url, tracked in self.links
        )
        return {
            "message_id": self.message.id,
            "pixel_url": self.pixel_url,
            "links": [{"url": url, "tracked_url": tracked} for url, tracked in self.links],
            "html": anchors + self.pixel_html,
        }


def pixel_html(pixel_url: str) -> str:
    return (
        f'<img src="{html.escape(pixel_url)}" width="1" height="1" alt="" '
        'style="display:block;width:1px;height:1px;border:0" />'
    )


def pixel_insert(pixel_url: str, disclosure: str | None) -> str:
    """What goes at the end of the email: the domain's disclosure line, then the pixel."""
    return disclosure_html(disclosure) + pixel_html(pixel_url)


def track_message(
    store: MessageStore,
    urls: Urls,
    clock: Clock,
    *,
    records: Records,
    sender: str,
    recipients: Sequence[str],
    subject: str = "",
    links: Sequence[str] = (),
    sent_at: datetime | None = None,
    policy: Policy | None = None,
) -> TrackedMessage:
    """Register a message and sign its pixel and links. Validates everything before writing.

    The sender's domain policy always applies: tracking it forbids is PolicyRefused
    (InvalidInput), and its disclosure line comes with the pixel. A caller that already read
    the policy (the add-on's compose card shows it) passes it, so it is read once.
    """
    checked = check_track(sender=sender, recipients=recipients, subject=subject, links=links)
    check_sent_at(sent_at, clock.now())
    if policy is None:
        policy = policy_for(records, checked.owner)
    elif policy.domain != domain_of(checked.owner):
        raise ValueError(f"the policy of {policy.domain} does not govern {checked.owner}")
    policy.check_track(checked.owner, checked.recipients)
    register_sender(records, checked.owner)
    message = Message(
        id=new_message_id(),
        owner=checked.owner,
        recipients=checked.recipients,
        subject=checked.subject,
        created_at=clock.now(),
        sent_at=sent_at,
        links=checked.links,
    )
    store.add_message(message)
    return TrackedMessage(
        message,
        urls.pixel(message.id),
        tuple((link.url, urls.link(message.id, link)) for link in message.links),
        policy.disclosure,
    )


def add_link(store: MessageStore, urls: Urls, *, owner: str, message_id: str, url: str) -> str:
    """Track one more link of an owner's message and return its tracked URL."""
    checked = check_link(url)
    message = owned_message(store, message_id, owner)
    if len(message.links) >= MAX_LINKS:
        raise InvalidInput(f"a message tracks at most {MAX_LINKS} links")
    link = store.add_link(message_id, checked)
    return urls.link(message_id, link)


def owned_message(store: MessageStore, message_id: str, owner: str | None) -> Message:
    """The message, if it exists and (when ``owner`` is given) belongs to that user."""
    message = store.get_message(message_id)
    if message is None or (owner is not None and message.owner != owner.lower()):
        raise UnknownMessage(f"no tracked message {message_id!r}")
    return message
