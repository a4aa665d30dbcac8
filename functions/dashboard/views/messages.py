"""The list of tracked emails and one email's page, each with its CSV; deleting one email."""

from __future__ import annotations

import logging

from flask import Response, g, request

from mailbeacon import reminders, reporting
from mailbeacon.errors import InvalidInput, InvalidToken, UnknownMessage
from mailbeacon.privacy import delete_message

from ..downloads import csv_response
from ..site import (
    Site,
    Views,
    form,
    not_found,
    page,
    page_args,
    plain,
    problem_text,
    see,
    signed_out,
)

log = logging.getLogger(__name__)

views = Views()
FILTERS = ("q", "status", "since", "until", "cursor")


@views.get("/dashboard/messages")
@page
def messages(site: Site) -> Response:
    args = page_args(request.args, site.zone())
    filtered = any(request.args.get(name) for name in FILTERS)
    try:
        query = reporting.parse_message_query(args)
        rows, cursor = reporting.list_messages(site.deps.store, g.user, query)
    except InvalidInput as exc:
        return site.render("list.html", 400, rows=[], cursor=None, args=request.args,
                           problem=problem_text(exc), filtered=True)  # fmt: skip
    return site.render("list.html", rows=[reporting.row_public(r) for r in rows], cursor=cursor,
                       args=request.args, problem=None, filtered=filtered)  # fmt: skip


@views.get("/dashboard/messages.csv")
@page
def messages_csv(site: Site) -> Response:
    tz = site.zone()
    try:
        query = reporting.parse_message_query(page_args(request.args, tz))
    except InvalidInput as exc:
        return plain(400, problem_text(exc))
    return csv_response(
        reporting.MESSAGE_CSV_HEADER,
        (
            reporting.message_csv_row(r, tz)
            for r in reporting.all_messages(site.deps.store, g.user, query)
        ),
        "mailbeacon-messages.csv",
    )


def key_is_for(site: Site, key: str, message_id: str) -> bool:
    """Whether an alert's ``?key=`` opens this message now (the key is the owner's)."""
    try:
        claims = site.deps.signer.verify(key)
        if claims.kind != "view" or claims.message_id != message_id:
            raise InvalidToken("key is for something else")
        if (claims.expires or 0) < site.deps.clock.now().timestamp():
            raise InvalidToken("key expired")
    except InvalidToken as exc:
        log.info("dashboard refused a key: %s", exc)
        return False
    return True


@views.get("/dashboard/messages/<message_id>")
def message_page(site: Site, message_id: str) -> Response:
    """The owner's, signed in, or anyone's with the alert's key (alerts reach only the owner)."""
    key = request.args.get("key")
    if key is not None and not key_is_for(site, key, message_id):
        return not_found()
    if key is None and not g.user:
        return signed_out()
    owner = None if key is not None else g.user
    store, paged = site.deps.store, bool(request.args.get("cursor"))
    try:
        detail = reporting.message_detail(store, owner, message_id)
        events, cursor = detail["events"], detail["events_next_cursor"]
        if paged:
            more = reporting.events_page(store, owner, message_id, request.args)
            events, cursor = more["events"], more["next_cursor"]
    except UnknownMessage:
        return not_found()
    except InvalidInput as exc:
        return plain(400, problem_text(exc))
    reminder = reminders.public(site.deps.records, message_id)
    return site.render("message.html", stats=detail, events=events, cursor=cursor, key=key,
                       paged=paged, reminder=reminder)  # fmt: skip


@views.post("/dashboard/messages/<message_id>/delete")
@form
def delete(site: Site, message_id: str) -> Response:
    """Delete one of the user's emails (the form's box must be ticked), then back to the list."""
    if request.form.get("confirm") != "on":
        return plain(400, "Tick the box to confirm: deleting an email cannot be undone")
    try:
        delete_message(site.deps.store, site.deps.records, message_id, owner=g.user)
    except UnknownMessage:
        return not_found()
    return see("/dashboard/messages?deleted=1")


@views.get("/dashboard/messages/<message_id>/events.csv")
@page
def events_csv(site: Site, message_id: str) -> Response:
    tz = site.zone()
    rows = reporting.all_events(site.deps.store, g.user, message_id)
    try:
        first = next(rows, None)
    except UnknownMessage:
        return not_found()
    head = [first] if first is not None else []
    return csv_response(
        reporting.EVENT_CSV_HEADER,
        (reporting.event_csv_row(e, tz) for part in (head, rows) for e in part),
        f"{message_id}-events.csv",
    )
