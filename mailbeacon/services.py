"""Use cases. Each takes the ports it needs; none knows which adapter is behind them."""

from __future__ import annotations

import html
import logging
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

from .bus import HITS, NOTIFY, Bus
from .clock import Clock
from .errors import InvalidInput, UnknownMessage
from .model import (
    DEFAULT_RETENTION,
    Classification,
    Event,
    Hit,
    Link,
    Message,
    MessageContext,
    Verdict,
)
from .policy import Policy, disclosure_html, domain_of, policy_for, register_sender
from .records import Records
from .store import CONTEXT_EVENTS, MessageEvents, MessageStore, PipelineStore
from .summary import message_stats
from .tokens import TokenSigner, new_message_id

log = logging.getLogger(__name__)

Classifier = Callable[[Hit, MessageContext], Classification]

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_EMAIL = re.compile(rf"^[^@\s<>()\[\],;:\"]+@{_LABEL}(?:\.{_LABEL})+$")
MAX_URL_CHARS = 2000
MAX_SUBJECT_CHARS = 500
MAX_RECIPIENTS = 500
# Tracked links per message: the add-on lists each in one card (100 widgets at most).
MAX_LINKS = 50
VIEW_KEY_LIFETIME = timedelta(days=30)


def check_email(value: str) -> str:
    """A plausible single address, lower-cased; anything else is InvalidInput."""
    address = value.strip()
    if len(address) > 254 or not _EMAIL.match(address):
        raise InvalidInput(f"not an email address: {value[:80]!r}")
    return address.lower()


def check_link(value: str) -> str:
    """An absolute http(s) URL with a host; javascript:, data: and relative links are refused."""
    url = value.strip()
    if not url.isascii():  # an IRI: keep what the browser would send, percent-encoded
        url = quote(url, safe=":/?#[]@!$&'()*+,;=%~")
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise InvalidInput(f"not an absolute http(s) link: {value[:80]!r}")
    if len(url) > MAX_URL_CHARS or any(ch in url for ch in "\r\n\t "):
        raise InvalidInput(f"link too long or contains white space: {value[:80]!r}")
    return url


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


class Urls:
    """Public URLs for tokens, under the base URL the recipients can reach."""

    def __init__(
        self,
        base_url: str,
        signer: TokenSigner,
        click_url: str | None = None,
        services: Mapping[str, str] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.click_url = (click_url or base_url).rstrip("/")  # clicks may have their own function
        self.services = {k: v.rstrip("/") for k, v in (services or {}).items()}
        self.signer = signer

    def service(self, name: str) -> str:
        """The base URL of the service that serves ``/name/...`` (the add-on, Chat, Slack or
        dashboard function on Cloud Functions); the public URL when one server serves all."""
        return self.services.get(name, self.base_url)

    def pixel(self, message_id: str) -> str:
        return f"{self.base_url}/p/{self.signer.pixel(message_id)}.gif"

    def link(self, message_id: str, link: Link) -> str:
        return f"{self.click_url}/c/{self.signer.link(message_id, link.index, link.url)}"

    def dashboard(
        self, message_id: str, *, now: datetime, valid: timedelta = VIEW_KEY_LIFETIME
    ) -> str:
        """The message's page, with a key that lets its owner in for ``valid``."""
        key = self.signer.view(message_id, int((now + valid).timestamp()))
        return f"{self.service('dashboard')}/dashboard/messages/{message_id}?key={key}"


@dataclass(frozen=True)
class TrackRequest:
    """A message to track, every field checked."""

    owner: str
    recipients: tuple[str, ...]
    subject: str
    links: tuple[Link, ...]


def check_subject(subject: str) -> str:
    """The subject, stripped; refused (never cut) when too long or holding control characters.

    It ends up in alert emails' Subject header, where a line break makes every send fail.
    """
    text = subject.strip()
    if len(text) > MAX_SUBJECT_CHARS:
        raise InvalidInput(f"subject longer than {MAX_SUBJECT_CHARS} characters")
    if any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in text):
        raise InvalidInput("subject contains line breaks or control characters")
    return text


def check_track(
    *, sender: str, recipients: Sequence[str], subject: str = "", links: Sequence[str] = ()
) -> TrackRequest:
    """Validate a track request without touching any store (the CLI checks before it opens
    one, so a refused command creates nothing)."""
    owner = check_email(sender)
    to = tuple(dict.fromkeys(check_email(r) for r in recipients))
    if not to:
        raise InvalidInput("a tracked message needs at least one recipient")
    if len(to) > MAX_RECIPIENTS:
        raise InvalidInput(f"at most {MAX_RECIPIENTS} recipients")
    if len(links) > MAX_LINKS:
        raise InvalidInput(f"a message tracks at most {MAX_LINKS} links")
    checked = tuple(Link(i, check_link(url)) for i, url in enumerate(links, start=1))
    return TrackRequest(owner, to, check_subject(subject), checked)


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


def get_stats(store: MessageEvents, message_id: str, owner: str | None = None) -> dict[str, Any]:
    message = owned_message(store, message_id, owner)
    return message_stats(message, store.list_events(message_id))


def record_hit(bus: Bus, hit: Hit) -> None:
    """The edge's one durable write. Raises BusUnavailable; the edge still answers."""
    bus.publish(HITS, hit.to_dict())


def process_hit(
    store: PipelineStore,
    bus: Bus,
    classifier: Classifier,
    payload: dict[str, Any],
    *,
    retention: timedelta = DEFAULT_RETENTION,
    retention_for: Callable[[str], timedelta] | None = None,
    stored: Callable[[Message, Event], None] | None = None,
) -> Event | None:
    """One hit through ``process_hits`` (the cloud's consumer receives them one at a time)."""
    events = process_hits(
        store,
        bus,
        classifier,
        [payload],
        retention=retention,
        retention_for=retention_for,
        stored=stored,
    )
    return events[0] if events else None


def process_hits(
    store: PipelineStore,
    bus: Bus,
    classifier: Classifier,
    payloads: Sequence[dict[str, Any]],
    *,
    retention: timedelta = DEFAULT_RETENTION,
    retention_for: Callable[[str], timedelta] | None = None,
    stored: Callable[[Message, Event], None] | None = None,
) -> list[Event]:
    """Classify hits and store them as events, once each, however often they are delivered.

    A batch reads each message's context once and extends it with the events it classifies,
    so a burst of opens on one message costs one context read, not one per hit. Everything is
    classified before anything is written, so a caller that wraps the batch in a transaction
    holds the write lock only for the writes. Human events are handed to the notifier every
    time (it is idempotent per event and channel), so a crash between storing and handing
    over loses no alert. ``retention_for`` gives the owner's retention (their domain policy
    may shorten the server's). ``stored`` is told of each event once it is stored (the live
    dashboard's feed).
    """
    contexts: dict[str, MessageContext | None] = {}
    events: list[Event] = []
    messages: dict[str, Message] = {}
    for payload in payloads:
        try:
            hit = Hit.from_dict(payload)
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("dropping a malformed hit: %s", exc)
            continue
        if hit.message_id not in contexts:
            contexts[hit.message_id] = store.get_context(hit.message_id)  # one read on Firestore
        loaded = contexts[hit.message_id]
        if loaded is None:
            log.info("hit for unknown message %s ignored", hit.message_id)
            continue
        owner = loaded.message.owner
        kept = retention_for(owner) if retention_for else retention
        event = classify_hit(hit, loaded, classifier, kept)
        if all(e.id != event.id for e in loaded.earlier):
            earlier = (*loaded.earlier, event)[-CONTEXT_EVENTS:]
            contexts[hit.message_id] = replace(loaded, earlier=earlier)
        messages[event.message_id] = loaded.message
        events.append(event)
    for event in events:
        message = messages[event.message_id]
        if store.add_event(event) and stored is not None:
            stored(message, event)
        if event.verdict is Verdict.HUMAN:
            handoff = {"event_id": event.id, "message_id": event.message_id}
            bus.publish(NOTIFY, {**handoff, "owner": message.owner})
    return events


def classify_hit(
    hit: Hit, context: MessageContext, classifier: Classifier, retention: timedelta
) -> Event:
    """The event a hit becomes, given its message's context (pure: nothing is stored)."""
    context = replace(context, earlier=tuple(e for e in context.earlier if e.id != hit.id))
    verdict = classifier(hit, context)
    return Event(
        id=hit.id,
        message_id=context.message.id,
        kind=hit.kind,
        at=hit.at,
        verdict=verdict.verdict,
        reasons=verdict.reasons,
        client=verdict.client,
        link_index=hit.link_index,
        url=hit.url,
        ip_hash=hit.ip_hash,
        network=hit.network,
        user_agent=hit.user_agent[:512],
        expires_at=hit.at + retention,
    )


def get_stats_with_pending(
    store: MessageEvents,
    classifier: Classifier,
    message_id: str,
    pending: Sequence[dict[str, Any]],
    *,
    owner: str | None = None,
    retention: timedelta = DEFAULT_RETENTION,
) -> dict[str, Any]:
    """Stats that count hits answered but not yet processed, classified here and not stored:
    a reader never waits for the pipeline, and is never behind what was served."""
    mine = [p for p in pending if p.get("message_id") == message_id]
    if not mine:
        return get_stats(store, message_id, owner)
    message = owned_message(store, message_id, owner)
    context = store.get_context(message_id)
    stored = store.list_events(message_id)
    if context is None:
        return message_stats(message, stored)
    seen = {e.id for e in stored}
    for payload in mine:
        try:
            hit = Hit.from_dict(payload)
        except (KeyError, TypeError, ValueError):
            continue
        if hit.id in seen:
            continue
        event = classify_hit(hit, context, classifier, retention)
        stored.append(event)
        seen.add(event.id)
        context = replace(context, earlier=(*context.earlier, event)[-CONTEXT_EVENTS:])
    stored.sort(key=lambda e: e.at)
    return message_stats(message, stored)
