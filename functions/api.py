"""/api/v1: JSON (and CSV) for scripts. Every answer is scoped to the caller.

Bad parameters are a 400 with a message, a missing or wrong credential a 401, another user's
message a 404 (as if it did not exist), a store outage a 503; all as JSON.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request

from mailbeacon import live, push, reporting
from mailbeacon.clock import parse_time
from mailbeacon.errors import InvalidInput, StoreUnavailable, Unauthorized, UnknownMessage
from mailbeacon.policy import domain_senders, policy_for
from mailbeacon.services import track_message

from .bootstrap import App
from .dashboard.live import POLL_SECONDS
from .dashboard.signin import Gate

log = logging.getLogger(__name__)

MAX_LINKS = 100


def error(status: int, message: str) -> tuple[Response, int]:
    response = jsonify({"error": message})
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="mailbeacon"'
    response.headers["Cache-Control"] = "no-store"
    return response, status


def csv_response(header: Iterable[str], rows: Iterable[list[str]], filename: str) -> Response:
    def lines() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(header)
        for row in rows:
            writer.writerow(row)
            if buffer.tell() > 16_384:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    return Response(
        lines(),
        200,
        {
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "private, no-store",
            "X-Content-Type-Options": "nosniff",
        },
        mimetype="text/csv",
    )


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
            sent_at = parse_time(sent_at)
        except ValueError as exc:
            raise InvalidInput('"sent_at" must be an ISO 8601 time') from exc
    return {"recipients": to, "subject": subject, "links": links, "sent_at": sent_at}


def blueprint(app: App, gate: Gate) -> Blueprint:
    api = Blueprint("api_v1", __name__, url_prefix="/api/v1")

    def guarded(view: Callable[..., Any]) -> Callable[..., Any]:
        """The caller's identity first, then the view; our errors become JSON answers."""

        def wrapper(**kwargs: Any) -> Any:
            try:
                user = gate.api_user(request.headers)
            except Unauthorized as exc:
                log.info("api refused: %s", exc)
                return error(401, "unauthorized: " + str(exc))
            except StoreUnavailable as exc:
                return error(503, str(exc))
            try:
                return view(user, **kwargs)
            except InvalidInput as exc:
                return error(400, str(exc))
            except UnknownMessage:
                return error(404, "no such message")
            except StoreUnavailable as exc:
                log.error("api: %s", exc)
                return error(503, "storage unavailable, try again")

        wrapper.__name__ = view.__name__
        return wrapper

    @api.post("/messages")
    @guarded
    def create_message(user: str) -> Any:
        fields = _track_body(request.get_json(silent=True))
        tracked = track_message(
            app.store, app.urls, app.clock, sender=user, records=app.records, **fields
        )
        return jsonify(tracked.to_public()), 201

    @api.get("/messages")
    @guarded
    def list_messages(user: str) -> Any:
        query = reporting.parse_message_query(request.args)
        rows, cursor = reporting.list_messages(app.store, user, query)
        return jsonify({"messages": [reporting.row_public(r) for r in rows], "next_cursor": cursor})

    @api.get("/messages.csv")
    @guarded
    def messages_csv(user: str) -> Any:
        query = reporting.parse_message_query(request.args)
        rows = reporting.all_messages(app.store, user, query)
        return csv_response(
            reporting.MESSAGE_CSV_HEADER,
            (reporting.message_csv_row(r) for r in rows),
            "mailbeacon-messages.csv",
        )

    @api.get("/messages/<message_id>")
    @guarded
    def message(user: str, message_id: str) -> Any:
        return jsonify(reporting.message_detail(app.store, user, message_id))

    @api.get("/messages/<message_id>/events")
    @guarded
    def events(user: str, message_id: str) -> Any:
        return jsonify(reporting.events_page(app.store, user, message_id, request.args))

    @api.get("/messages/<message_id>/events.csv")
    @guarded
    def events_csv(user: str, message_id: str) -> Any:
        rows = reporting.all_events(app.store, user, message_id)
        first = next(rows, None)  # the owner check runs before the answer starts

        def chained() -> Iterator[list[str]]:
            if first is not None:
                yield reporting.event_csv_row(first)
                yield from (reporting.event_csv_row(e) for e in rows)

        return csv_response(reporting.EVENT_CSV_HEADER, chained(), f"{message_id}-events.csv")

    @api.get("/overview")
    @guarded
    def overview(user: str) -> Any:
        """``?scope=domain``: the whole domain's numbers, for its admins only."""
        if request.args.get("scope", "me") == "domain":
            policy = policy_for(app.records, user)
            if not policy.is_admin(user):
                return error(403, f"only {policy.domain}'s admins see its overview")
            senders = domain_senders(app.records, policy.domain)
            data = reporting.domain_overview(
                app.store, senders, policy.domain, request.args, app.clock.now()
            )
            return jsonify(data)
        return jsonify(reporting.overview(app.store, user, request.args, app.clock.now()))

    # live events: the short-poll form of the dashboard's stream (Cloud Functions cannot stream)
    @api.get("/events")
    @guarded
    def live_events(user: str) -> Any:
        events, cursor = live.since(app.records, user, request.args.get("cursor"), app.clock.now())
        return jsonify({"events": events, "cursor": cursor, "poll_seconds": POLL_SECONDS})

    # Web Push
    @api.get("/push/key")
    @guarded
    def push_key(user: str) -> Any:
        keys = app.vapid.get()
        if keys is None:
            return error(503, "Web Push is not configured (MAILBEACON_VAPID_PRIVATE_KEY)")
        return jsonify({"vapid_public_key": keys.public_key})

    @api.post("/push/subscriptions")
    @guarded
    def push_subscribe(user: str) -> Any:
        body = request.get_json(silent=True)
        sub = push.add_subscription(app.records, user, body, app.push_rules, app.clock.now())
        return jsonify({"id": sub.id}), 201

    @api.get("/push/subscriptions")
    @guarded
    def push_subscriptions(user: str) -> Any:
        subs = push.list_subscriptions(app.records, user)
        return jsonify({"subscriptions": [s.to_public() for s in subs]})

    @api.delete("/push/subscriptions/<sub_id>")
    @guarded
    def push_unsubscribe(user: str, sub_id: str) -> Any:
        if not push.delete_subscription(app.records, user, sub_id):
            return error(404, "no such subscription")
        return "", 204

    return api


def register(web: Flask, app: App, gate: Gate) -> None:
    web.register_blueprint(blueprint(app, gate))

    def json_errors(exc: Any) -> Any:
        if request.path.startswith("/api/"):
            return error(exc.code, exc.name.lower())
        return exc

    for code in (404, 405):
        web.register_error_handler(code, json_errors)
