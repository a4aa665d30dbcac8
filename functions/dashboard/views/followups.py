"""Replies and follow-ups on the dashboard: an email's reminder (set, clear) and the user's
reply alerts, default reminder and events-out webhook (mailbeacon.reminders, the SettingsBook).

Kept apart from the list, the email page and the main settings form, whose templates include
this module's partials (``followups_*.html``).
"""

from __future__ import annotations

from flask import Response, g, request

from mailbeacon import reminders
from mailbeacon.errors import InvalidInput, UnknownMessage
from mailbeacon.settings import InvalidSettings, SettingsChange
from mailbeacon.tracking import owned_message
from mailbeacon.validation import whole_number

from ..site import Site, Views, form, not_found, plain, see
from .settings import settings_page

views = Views()


@views.post("/dashboard/messages/<message_id>/reminder")
@form
def set_reminder(site: Site, message_id: str) -> Response:
    """``days`` (1, 2, 3 or 7 after sending) sets the reminder; ``clear`` removes it."""
    deps = site.deps
    try:
        message = owned_message(deps.store, message_id, g.user)
    except UnknownMessage:
        return not_found()
    if request.form.get("clear"):
        reminders.clear_reminder(deps.records, message_id)
        return see(f"/dashboard/messages/{message_id}")
    days = whole_number(request.form.get("days", ""))
    try:
        if days is None:
            raise InvalidInput("choose after how many days to be reminded")
        now = deps.clock.now()
        due = reminders.due_in_days(message, days, now)
        summary = deps.store.get_summary(message_id)
        reminders.remind(deps.records, message, due, now, summary)
    except InvalidInput as exc:
        return plain(400, str(exc))
    return see(f"/dashboard/messages/{message_id}")


@views.post("/dashboard/settings/followups")
@form
def save_followups(site: Site) -> Response:
    posted = request.form
    change = SettingsChange(
        reply_alerts=posted.get("reply_alerts") == "on",
        remind_days=posted.get("remind_days", "off"),
        webhook_url=posted.get("webhook_url", ""),
        rotate_webhook_secret=posted.get("rotate_webhook_secret") == "on",
    )
    try:
        site.deps.settings.update(g.user, change)
    except InvalidSettings as exc:
        return settings_page(site, 400, followup_errors=exc.errors, problem=str(exc))
    return see("/dashboard/settings#followups")
