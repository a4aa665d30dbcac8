"""One function per route: take the verified user and the event, call the use cases, answer
with card JSON. Nothing here knows about HTTP; ``endpoint`` does that."""

from __future__ import annotations

import html
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from mailbeacon import reminders
from mailbeacon.clock import Clock, iso, time_from_input
from mailbeacon.errors import InvalidInput, InvalidToken, UnknownMessage
from mailbeacon.google.gmail import GmailMessage, GmailReader, GmailUnavailable, pixel_tokens
from mailbeacon.model import Message
from mailbeacon.policy import Policy, PolicyRefused, policy_for
from mailbeacon.records import Records
from mailbeacon.rollup import Summary
from mailbeacon.settings import InvalidSettings, SettingsBook
from mailbeacon.store import Store
from mailbeacon.threads import ReplyBook, learn_thread
from mailbeacon.tokens import TokenSigner
from mailbeacon.tracking import TrackedMessage, add_link, owned_message, pixel_insert, track_message
from mailbeacon.urls import Urls
from mailbeacon.validation import check_link, whole_number

from . import cards as c
from . import config as r
from . import views
from .config import AddonConfig
from .events import AddonEvent
from .identity import User
from .settings_card import settings_card
from .settings_form import parse_settings

log = logging.getLogger(__name__)
PAGE_SIZE = 10
Handler = Callable[["Handlers", AddonEvent, User], c.Json]


class Core(Protocol):
    """What the add-on needs of the running Mailbeacon (the composition root's App has it)."""

    store: Store
    records: Records
    urls: Urls
    clock: Clock
    signer: TokenSigner
    settings: SettingsBook
    replies: ReplyBook


@dataclass
class Handlers:
    """The add-on's behaviour over the running Mailbeacon ``app``."""

    app: Core
    cfg: AddonConfig
    gmail: GmailReader

    @property
    def store(self) -> Store:
        """The app's store."""
        return self.app.store

    def tz(self, event: AddonEvent, user: User) -> str:
        """The zone times are shown in: Gmail's, else the saved one."""
        return event.timezone or self.store.get_settings(user.email).timezone

    # homepage ------------------------------------------------------------------------------
    def _home(self, event: AddonEvent, user: User) -> c.Json:
        before = None
        if raw := event.parameters.get("before"):
            try:
                before = time_from_input(raw)
            except ValueError as exc:
                raise InvalidInput(f"bad paging cursor {raw[:40]!r}") from exc
        page = event.parameters.get("page", "1")
        messages = self.store.list_messages(user.email, limit=PAGE_SIZE + 1, before=before)
        more = len(messages) > PAGE_SIZE
        rows = [
            (m, self.store.get_summary(m.id) or Summary()) for m in messages[:PAGE_SIZE]
        ]  # the stored summaries: the same figures as every other view
        older = iso(messages[PAGE_SIZE - 1].created_at) if more else None
        return views.home_card(
            self.cfg,
            rows,
            self.tz(event, user),
            older=older,
            page=int(page) if re.fullmatch(r"[0-9]{1,4}", page) else 1,
        )

    def homepage(self, event: AddonEvent, user: User) -> c.Json:
        """Homepage trigger: the first page of tracked emails."""
        return c.push_card(self._home(event, user))

    def refresh(self, event: AddonEvent, user: User) -> c.Json:
        """Refresh button: the first page again, in place."""
        return c.render(self._home(event, user))

    def older(self, event: AddonEvent, user: User) -> c.Json:
        """Older button: the next page, pushed over this one."""
        return c.render(self._home(event, user), push=True)

    def _detail(self, message: Message, event: AddonEvent, user: User, note: str = "") -> c.Json:
        events = self.store.list_events(message.id, limit=views.MAX_TIMELINE + 1)
        summary = self.store.get_summary(message.id) or Summary()
        reminder = reminders.get_reminder(self.app.records, message.id)
        return views.detail_card(
            self.cfg, message, events, summary, self.tz(event, user), note=note, reminder=reminder
        )

    def detail(self, event: AddonEvent, user: User) -> c.Json:
        """Tap on an email: its detail card, if it is the user's."""
        message_id = event.parameters.get("message_id", "")
        try:
            message = owned_message(self.store, message_id, user.email)
        except UnknownMessage:
            return c.render(views.error_card("That email is not one of your tracked emails."))
        return c.render(self._detail(message, event, user), push=True)

    # compose -------------------------------------------------------------------------------
    @staticmethod
    def draft(event: AddonEvent) -> str:
        """The compose window's random key from the parameters, if well formed."""
        key = event.parameters.get("draft", "")
        return key if key.replace("-", "").replace("_", "").isalnum() and len(key) <= 32 else ""

    def _state(self, event: AddonEvent, user: User) -> tuple[Message | None, bool]:
        """The message this compose card already tracks (from the action's parameters)."""
        message_id = event.parameters.get("message_id")
        if not message_id:
            return None, False
        message = owned_message(self.store, message_id, user.email)
        return message, event.parameters.get("pixel") == "yes"

    def _compose(
        self, event: AddonEvent, policy: Policy, message: Message | None, **kwargs: Any
    ) -> c.Json:
        remind = kwargs.pop("remind", None)
        if remind is None:
            remind = whole_number(event.value("remind_days"))
        return views.compose_card(
            self.cfg,
            event.recipients,
            message,
            draft=self.draft(event),
            policy=policy,
            remind=remind,
            **kwargs,
        )

    def _refused(
        self, event: AddonEvent, user: User, policy: Policy, message: Message | None, pixel: bool
    ) -> c.Json | None:
        """The compose card with the domain policy's reason, when it forbids tracking this."""
        try:
            policy.check_track(user.email, event.recipients)
        except PolicyRefused as exc:
            return c.render(self._compose(event, policy, message, pixel=pixel, error=str(exc)))
        return None

    def compose(self, event: AddonEvent, user: User) -> c.Json:
        """Compose trigger: the card for a fresh draft."""
        draft = secrets.token_urlsafe(12)
        policy = policy_for(self.app.records, user.email)
        remind = self.store.get_settings(user.email).remind_days  # the user's default
        card = views.compose_card(
            self.cfg, event.recipients, None, pixel=False, draft=draft, policy=policy, remind=remind
        )
        return c.push_card(card)

    def _remind(self, event: AddonEvent, message: Message) -> str:
        """The compose card's "remind me if no reply in N days", set with the tracking."""
        days = event.value("remind_days")
        if not (days.isascii() and days.isdigit()) or int(days) not in reminders.CHOICES:
            return ""
        now = self.app.clock.now()
        due = reminders.due_in_days(message, int(days), now)
        reminders.set_reminder(self.app.records, message, due, now)
        return f" You will be reminded in {days} day{'s' if days != '1' else ''} if nobody replies."

    def _register(self, event: AddonEvent, user: User, policy: Policy) -> TrackedMessage:
        return track_message(
            self.store,
            self.app.urls,
            self.app.clock,
            records=self.app.records,
            sender=user.email,
            recipients=event.recipients,
            subject=event.value("subject"),
            policy=policy,
        )

    def track(self, event: AddonEvent, user: User) -> c.Json:
        """Track opens: register the message (once) and insert the pixel at the end."""
        message, pixel = self._state(event, user)
        policy = policy_for(self.app.records, user.email)  # read once for the whole answer
        if refused := self._refused(event, user, policy, message, pixel):
            return refused
        if message and pixel:
            card = self._compose(
                event,
                policy,
                message,
                pixel=True,
                notice="Opens are already tracked in this draft.",
            )
            return c.render(card)
        if message is None:
            try:
                message = self._register(event, user, policy).message
            except InvalidInput as exc:
                error = (
                    "Add at least one recipient to the draft, then press Track opens again."
                    if not event.recipients
                    else str(exc)
                )
                card = self._compose(
                    event,
                    policy,
                    None,
                    pixel=False,
                    error=error,
                    label=event.value("subject"),
                )
                return c.render(card)
        reminded = self._remind(event, message)
        card = self._compose(
            event,
            policy,
            message,
            pixel=True,
            notice="Open tracking is on: a 1x1 image was added at the end of the draft." + reminded,
        )
        return c.update_draft(
            pixel_insert(self.app.urls.pixel(message.id), policy.disclosure),
            "INSERT_AT_END",
            content_type="IMMUTABLE_HTML",
            then=card,
            notify="Open tracking added to this draft",
        )

    def insert_link(self, event: AddonEvent, user: User) -> c.Json:
        """Insert tracked link: add it to the same message, insert the anchor in place."""
        message, pixel = self._state(event, user)
        policy = policy_for(self.app.records, user.email)  # read once for the whole answer
        if refused := self._refused(event, user, policy, message, pixel):
            return refused
        raw_url, text = event.value("link_url"), event.value("link_text")
        try:
            url = check_link(raw_url)
        except InvalidInput:
            error = (
                "Type the link's address first."
                if not raw_url
                else (f"Not a web link: {raw_url[:200]}. Use an address starting with https://")
            )
            card = self._compose(event, policy, message, pixel=pixel, error=error)
            return c.render(card)
        if message is None:
            try:
                message = self._register(event, user, policy).message
            except InvalidInput as exc:
                card = self._compose(
                    event,
                    policy,
                    None,
                    pixel=False,
                    error=f"Add a recipient first ({exc}).",
                )
                return c.render(card)
        urls = self.app.urls
        tracked = add_link(self.store, urls, owner=user.email, message_id=message.id, url=url)
        message = owned_message(self.store, message.id, user.email)
        anchor = f'<a href="{html.escape(tracked)}">{html.escape(text or url)}</a>'
        card = self._compose(
            event,
            policy,
            message,
            pixel=pixel,
            notice=f"Tracked link inserted at the cursor: {url}",
        )
        return c.update_draft(
            anchor,
            "IN_PLACE_INSERT",
            content_type="MUTABLE_HTML",
            then=card,
            notify="Tracked link inserted",
        )

    # contextual (an opened email) ----------------------------------------------------------
    def message(self, event: AddonEvent, user: User) -> c.Json:
        """Contextual trigger: the detail card of the user's own tracked email, else not tracked."""
        try:
            mail = self.gmail.fetch(
                event.message_id, event.user_oauth_token, event.gmail_access_token
            )
        except GmailUnavailable as exc:
            log.info("could not read message %s: %s", event.message_id[:40], exc)
            return c.push_card(
                views.message_card(
                    "Not available",
                    "Mailbeacon could not read this email from Gmail, so it cannot"
                    " tell whether it is tracked. Try reopening it.",
                )
            )
        own = mail.is_sent or not mail.sender or mail.sender == user.email
        tracked = self._quoted_tracked(mail, user)
        if own and tracked is not None:
            self.store.add_self_view(tracked.id, self.app.clock.now())
            rfc_id = mail.headers.get("message-id", "")
            learn_thread(
                self.app.records,
                user.email,
                tracked.id,
                thread_id=mail.thread_id,
                rfc_message_id=rfc_id,
            )
            note = "You are viewing your own copy: the open this causes is not counted."
            return c.push_card(self._detail(tracked, event, user, note=note))
        if not own and (answered := self._reply(mail, user, tracked)) is not None:
            found, note = answered
            return c.push_card(self._detail(found, event, user, note=note))
        return c.push_card(
            views.message_card("Not tracked", "This email is not one you tracked with Mailbeacon.")
        )

    def _quoted_tracked(self, mail: GmailMessage, user: User) -> Message | None:
        """The user's tracked email whose pixel this message carries: the user's own sent copy,
        or someone's reply quoting it (a pixel of another sender's email is never ours)."""
        for token in pixel_tokens(mail.html):
            try:
                claims = self.app.signer.verify(token)
            except InvalidToken:
                continue
            if claims.kind != "open":
                continue
            try:
                return owned_message(self.store, claims.message_id, user.email)
            except UnknownMessage:
                continue
        return None

    def _reply(
        self, mail: GmailMessage, user: User, quoting: Message | None
    ) -> tuple[Message, str] | None:
        """The add-on's reply detection (no delegation needed): someone else's message in a
        tracked email's thread (or answering its Message-ID, or quoting its pixel) is recorded,
        once, as a reply or, for an auto-reply or a bounce, as a machine answer."""
        thread = mail.thread_mail()
        tracked = self.app.replies.tracked_for(user.email, thread) or quoting
        if tracked is None:
            return None
        recorded = self.app.replies.record(tracked, thread)
        if recorded is None:
            return None  # nobody's answer: a colleague's, or the user's own
        if recorded.is_human:
            return tracked, f"{recorded.sender or 'Someone'} replied: recorded as a reply."
        what = "a bounce" if recorded.client == "bounce" else "an automatic reply"
        return tracked, f"This is {what}: recorded, never counted as a reply."

    # settings ------------------------------------------------------------------------------
    def settings(self, event: AddonEvent, user: User) -> c.Json:
        """Settings button: the form, filled with the saved settings."""
        current = self.store.get_settings(user.email)
        card = settings_card(
            self.cfg,
            current,
            event.timezone or current.timezone,
            browsers=self._browsers(user),
            dashboard_url=self.app.urls.service("dashboard"),
        )
        return c.render(card, push=True)

    def _browsers(self, user: User) -> int:
        """How many browsers get this user's alerts by Web Push (shown, not set, here)."""
        from mailbeacon.push import list_subscriptions

        return len(list_subscriptions(self.app.records, user.email))

    def save_settings(self, event: AddonEvent, user: User) -> c.Json:
        """Save: validate every field, then save all or nothing."""
        book = self.app.settings
        current = book.get(user.email)
        change, _, errors = parse_settings(current, event, book.rules)
        if not errors:
            try:
                updated = book.update(user.email, change)
            except InvalidSettings as exc:
                errors = exc.errors
        if errors:
            form = {name: event.value(name) for name in event.form}
            card = settings_card(
                self.cfg,
                current,
                event.timezone or current.timezone,
                errors=errors,
                form=form,
                browsers=self._browsers(user),
                dashboard_url=self.app.urls.service("dashboard"),
            )
            return c.render(card, notify="Not saved: please fix the fields marked in red")
        card = settings_card(
            self.cfg,
            updated,
            updated.timezone,
            saved=True,
            browsers=self._browsers(user),
            dashboard_url=self.app.urls.service("dashboard"),
        )
        return c.render(card, notify="Settings saved")


ROUTES: dict[str, Handler] = {
    r.HOMEPAGE: Handlers.homepage,
    r.REFRESH: Handlers.refresh,
    r.OLDER: Handlers.older,
    r.DETAIL: Handlers.detail,
    r.COMPOSE: Handlers.compose,
    r.TRACK: Handlers.track,
    r.INSERT_LINK: Handlers.insert_link,
    r.MESSAGE: Handlers.message,
    r.SETTINGS: Handlers.settings,
    r.SAVE_SETTINGS: Handlers.save_settings,
}
