"""/api/v1: JSON (and CSV) for scripts. Every answer is scoped to the caller.

Bad parameters are a 400 with a message, a missing or wrong credential a 401, another user's
message a 404 (as if it did not exist), a store outage a 503; all as JSON.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from flask import Blueprint, Flask, Response, jsonify, request

from mailbeacon import live, localtime, push, reminders, reporting
from mailbeacon.clock import Clock, time_from_input
from mailbeacon.errors import (
    InvalidInput,
    StoreUnavailable,
    Unauthorized,
    UnknownMessage,
)
from mailbeacon.policy import domain_senders, policy_for
from mailbeacon.privacy import delete_message
from mailbeacon.push import EndpointRules
from mailbeacon.records import Records
from mailbeacon.store import Housekeeping, MessageReports, SettingsStore
from mailbeacon.tracking import owned_message, track_message
from mailbeacon.urls import Urls

from .dashboard.downloads import csv_response
from .dashboard.live import POLL_SECONDS
from .dashboard.ports import Vapid
from .dashboard.signin import Gate
from .json_body import json_body
from .loopback import remote_dev_token

log = logging.getLogger(__name__)

MAX_LINKS = 100


class ApiStore(MessageReports, SettingsStore, Housekeeping, Protocol):
    """Tracking (MessageStore.add_message), reporting (the list, the overview, one message's
    page and its timeline), the caller's saved time zone, and deleting one message."""


def zone_of(deps: ApiDeps, user: str) -> str:
    """The zone of ``?tz=`` (IANA), else the caller's saved one, else UTC."""
    return localtime.asked_or_saved(
        request.args.get("tz"),
        lambda: deps.store.get_settings(user).timezone,
        field="tz",
        kind="an IANA time zone",
    )


class ApiDeps(Protocol):
    """What /api/v1 reads of the running Mailbeacon."""

    @property
    def store(self) -> ApiStore: ...

    @property
    def records(self) -> Records: ...

    @property
    def urls(self) -> Urls: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def vapid(self) -> Vapid: ...

    @property
    def push_rules(self) -> EndpointRules: ...


View = Callable[..., Any]
"""``view(deps, user, **path arguments)``: the answer for the signed caller."""
ROUTES: list[tuple[str, str, View]] = []


def route(method: str, rule: str) -> Callable[[View], View]:
    """Declare a view of /api/v1 (bound to the dependencies when the blueprint is made)."""

    def add(view: View) -> View:
        ROUTES.append((method, rule, view))
        return view

    return add


def error(status: int, message: str) -> tuple[Response, int]:
    response = jsonify({"error": message})
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="mailbeacon"'
    response.headers["Cache-Control"] = "no-store"
    return response, status


def _track_body(body: Any) -> dict[str, Any]:
    """The POST body, checked: InvalidInput says which field is wrong."""
    if not isinstance(body, dict):
        raise InvalidInput('send a JSON object: {"to": [..], "subject": "..", "links": [..]}')
    to = body.get("to")
    if isinstance(to, str):
        to = [to]
    if not isinstance(to, list) or not all(isinstance(x, str) for x in to):
        raise InvalidInput('"to" must be a list of email addresses')
    subject = body.get("subject", "")
    if not isinstance(subject, str):
        raise InvalidInput('"subject" must be a string')
    links = body.get("links", [])
    if not isinstance(links, list) or not all(isinstance(x, str) for x in links):
        raise InvalidInput('"links" must be a list of URLs')
    if len(links) > MAX_LINKS:
        raise InvalidInput(f"at most {MAX_LINKS} links")
    sent_at = body.get("sent_at")
    if sent_at is not None:
        if not isinstance(sent_at, str):
            raise InvalidInput('"sent_at" must be an ISO 8601 time')
        try:
            sent_at = time_from_input(sent_at)
        except ValueError as exc:
            raise InvalidInput('"sent_at" must be an ISO 8601 time') from exc
    return {"recipients": to, "subject": subject, "links": links, "sent_at": sent_at}


def guarded(deps: ApiDeps, gate: Gate, view: View) -> Callable[..., Any]:
    """The caller's identity first, then the view; our errors become JSON answers."""

    def wrapper(**kwargs: Any) -> Any:
        if gate.dev and remote_dev_token(request.headers, request.environ):
            return error(401, "unauthorized: dev tokens work only from this computer (loopback)")
        try:
            user = gate.api_user(request.headers)
        except Unauthorized as exc:
            log.info("api refused: %s", exc)
            return error(401, "unauthorized: " + str(exc))
        except StoreUnavailable as exc:
            return error(503, str(exc))
        return answer(view, deps, user, kwargs)

    wrapper.__name__ = view.__name__
    return wrapper


def answer(view: View, deps: ApiDeps, user: str, kwargs: dict[str, Any]) -> Any:
    try:
        return view(deps, user, **kwargs)
    except InvalidInput as exc:
        return error(400, str(exc))
    except UnknownMessage:
        return error(404, "no such message")
    except StoreUnavailable as exc:
        log.error("api: %s", exc)
        return error(503, "storage unavailable, try again")


# messages -------------------------------------------------------------------------------------


@route("POST", "/messages")
def create_message(deps: ApiDeps, user: str) -> Any:
    fields = _track_body(json_body(request))
    tracked = track_message(
        deps.store, deps.urls, deps.clock, sender=user, records=deps.records, **fields
    )
    return jsonify(tracked.to_public()), 201


@route("GET", "/messages")
def list_messages(deps: ApiDeps, user: str) -> Any:
    query = reporting.parse_message_query(request.args)
    rows, cursor = reporting.list_messages(deps.store, user, query)
    return jsonify({"messages": [reporting.row_public(r) for r in rows], "next_cursor": cursor})


@route("GET", "/messages.csv")
def messages_csv(deps: ApiDeps, user: str) -> Any:
    query = reporting.parse_message_query(request.args)
    tz = zone_of(deps, user)
    rows = reporting.all_messages(deps.store, user, query)
    return csv_response(
        reporting.MESSAGE_CSV_HEADER,
        (reporting.message_csv_row(r, tz) for r in rows),
        "mailbeacon-messages.csv",
    )


@route("GET", "/messages/<message_id>")
def message(deps: ApiDeps, user: str, message_id: str) -> Any:
    detail = reporting.message_detail(deps.store, user, message_id)
    return jsonify({**detail, "reminder": reminders.public(deps.records, message_id)})


def reminder_due(body: Any, message: Any, deps: ApiDeps) -> Any:
    """``{"days": N}`` (after the email was sent) or ``{"due_at": ISO 8601}``."""
    now = deps.clock.now()
    if not isinstance(body, dict) or ("days" in body) == ("due_at" in body):
        raise InvalidInput('send {"days": N} or {"due_at": "ISO 8601 time"}')
    if "days" in body:
        return reminders.due_in_days(message, body["days"], now)
    try:
        return time_from_input(str(body["due_at"]))
    except ValueError as exc:
        raise InvalidInput('"due_at" must be an ISO 8601 time') from exc


@route("POST", "/messages/<message_id>/reminder")
def set_reminder(deps: ApiDeps, user: str, message_id: str) -> Any:
    """Remind the owner unless someone replies by then (replaces an earlier reminder)."""
    message = owned_message(deps.store, message_id, user)
    due = reminder_due(json_body(request), message, deps)
    summary = deps.store.get_summary(message_id)
    found = reminders.remind(deps.records, message, due, deps.clock.now(), summary).to_public()
    return jsonify({"message_id": message_id, **found, "reminder": found}), 200


@route("DELETE", "/messages/<message_id>/reminder")
def clear_reminder(deps: ApiDeps, user: str, message_id: str) -> Any:
    owned_message(deps.store, message_id, user)
    reminders.clear_reminder(deps.records, message_id)
    return "", 204


@route("DELETE", "/messages/<message_id>")
def delete(deps: ApiDeps, user: str, message_id: str) -> Any:
    """One of the caller's emails, its events and what it added to the overview: 204."""
    delete_message(deps.store, deps.records, message_id, owner=user)
    return "", 204


@route("GET", "/messages/<message_id>/events")
def events(deps: ApiDeps, user: str, message_id: str) -> Any:
    return jsonify(reporting.events_page(deps.store, user, message_id, request.args))


@route("GET", "/messages/<message_id>/events.csv")
def events_csv(deps: ApiDeps, user: str, message_id: str) -> Any:
    rows = reporting.all_events(deps.store, user, message_id)
    first = next(rows, None)  # the owner check runs before the answer starts
    tz = zone_of(deps, user)

    def chained() -> Iterator[list[str]]:
        if first is not None:
            yield reporting.event_csv_row(first, tz)
            yield from (reporting.event_csv_row(e, tz) for e in rows)

    return csv_response(reporting.EVENT_CSV_HEADER, chained(), f"{message_id}-events.csv")


@route("GET", "/overview")
def overview(deps: ApiDeps, user: str) -> Any:
    """``?scope=domain``: the whole domain's numbers, for its admins only."""
    if request.args.get("scope", "me") == "domain":
        policy = policy_for(deps.records, user)
        if not policy.is_admin(user):
            return error(403, f"only {policy.domain}'s admins see its overview")
        senders = domain_senders(deps.records, policy.domain)
        data = reporting.domain_overview(
            deps.store, senders, policy.domain, request.args, deps.clock.now(), zone_of(deps, user)
        )
        return jsonify(data)
    now, tz = deps.clock.now(), zone_of(deps, user)
    return jsonify(reporting.overview(deps.store, user, request.args, now, tz))


# live events: the short-poll form of the dashboard's stream (Cloud Functions cannot stream) ---


@route("GET", "/events")
def live_events(deps: ApiDeps, user: str) -> Any:
    found, cursor = live.since(deps.records, user, request.args.get("cursor"), deps.clock.now())
    return jsonify({"events": found, "cursor": cursor, "poll_seconds": POLL_SECONDS})


# Web Push -------------------------------------------------------------------------------------


@route("GET", "/push/key")
def push_key(deps: ApiDeps, user: str) -> Any:
    keys = deps.vapid.get()
    if keys is None:
        return error(503, "Web Push is not configured (MAILBEACON_VAPID_PRIVATE_KEY)")
    return jsonify({"vapid_public_key": keys.public_key})


@route("POST", "/push/subscriptions")
def push_subscribe(deps: ApiDeps, user: str) -> Any:
    body = json_body(request)
    sub = push.add_subscription(deps.records, user, body, deps.push_rules, deps.clock.now())
    return jsonify({"id": sub.id}), 201


@route("GET", "/push/subscriptions")
def push_subscriptions(deps: ApiDeps, user: str) -> Any:
    subs = push.list_subscriptions(deps.records, user)
    return jsonify({"subscriptions": [s.to_public() for s in subs]})


@route("DELETE", "/push/subscriptions/<sub_id>")
def push_unsubscribe(deps: ApiDeps, user: str, sub_id: str) -> Any:
    if not push.delete_subscription(deps.records, user, sub_id):
        return error(404, "no such subscription")
    return "", 204


def blueprint(deps: ApiDeps, gate: Gate) -> Blueprint:
    api = Blueprint("api_v1", __name__, url_prefix="/api/v1")
    for method, rule, view in ROUTES:
        api.add_url_rule(rule, view.__name__, guarded(deps, gate, view), methods=[method])
    return api


def json_errors(exc: Any) -> Any:
    """Flask's own 404 and 405 as JSON under /api/."""
    if request.path.startswith("/api/"):
        return error(exc.code, exc.name.lower())
    return exc


def register(web: Flask, deps: ApiDeps, gate: Gate) -> None:
    web.register_blueprint(blueprint(deps, gate))
    for code in (404, 405):
        web.register_error_handler(code, json_errors)
