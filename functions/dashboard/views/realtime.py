"""What keeps open pages live: the event stream (or its short polls), the Web Push service
worker and the browser's push subscription."""

from __future__ import annotations

from pathlib import Path

from flask import Response, current_app, g, jsonify, request, send_from_directory

from mailbeacon import live, push
from mailbeacon.errors import InvalidInput

from ...json_body import json_body
from ..live import POLL_SECONDS, shown, stream
from ..site import Site, Views, json_answer, script

views = Views()
STATIC = Path(__file__).resolve().parents[1] / "static"


@views.get("/dashboard/live/stream")
@script
def live_stream(site: Site) -> Response:
    deps = site.deps
    if not deps.streams_live:
        return json_answer(503, "this server does not stream: poll /dashboard/live/poll")
    cursor = request.headers.get("Last-Event-ID") or request.args.get("cursor")
    try:
        live.since(deps.records, g.user, cursor, deps.clock.now())  # refuse a bad cursor now
    except InvalidInput as exc:
        return json_answer(400, str(exc))
    if not deps.live.acquire():
        return json_answer(503, "too many live pages open: poll /dashboard/live/poll")
    body = stream(deps.records, deps.live, g.user, cursor, deps.clock.now)
    response = Response(
        body,
        200,
        {"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        mimetype="text/event-stream",
    )
    response.call_on_close(deps.live.release)  # also when the body never started
    return response


@views.get("/dashboard/live/poll")
@script
def live_poll(site: Site) -> Response:
    deps = site.deps
    try:
        events, cursor = live.since(
            deps.records, g.user, request.args.get("cursor"), deps.clock.now()
        )
    except InvalidInput as exc:
        return json_answer(400, str(exc))
    found = [shown(item) for item in events]
    return jsonify({"events": found, "cursor": cursor, "poll_seconds": POLL_SECONDS})


@views.get("/dashboard/sw.js")
def service_worker(site: Site) -> Response:
    """At /dashboard/ so its scope covers the dashboard (a worker's scope is its folder)."""
    max_age = current_app.get_send_file_max_age("sw.js")
    response = send_from_directory(STATIC, "sw.js", max_age=max_age)
    response.headers["Content-Type"] = "text/javascript; charset=utf-8"
    response.headers["Cache-Control"] = "no-cache"
    return response


@views.get("/dashboard/push/key")
@script
def push_key(site: Site) -> Response:
    keys = site.deps.vapid.get()
    if keys is None:
        return json_answer(503, "Web Push is not configured on this server")
    return jsonify({"vapid_public_key": keys.public_key})


@views.post("/dashboard/push/subscriptions")
@script
def push_subscribe(site: Site) -> Response:
    """The page's "Turn on desktop notifications": the browser's PushSubscription."""
    deps = site.deps
    if not site.gate.csrf_ok(g.sid, request.headers.get("X-CSRF-Token")):
        return json_answer(403, "the page expired: reload it")
    try:
        sub = push.add_subscription(
            deps.records, g.user, json_body(request), deps.push_rules, deps.clock.now()
        )
    except InvalidInput as exc:
        return json_answer(400, str(exc))
    response = jsonify({"id": sub.id})
    response.status_code = 201
    return response
