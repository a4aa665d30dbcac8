"""The dashboard's pages: sign-in, the list, one email, the overview, settings, CSV export,
and what keeps open pages live (an event stream or polls, the Web Push service worker).

Every page reads through mailbeacon.reporting with the signed-in user, so another user's
message is a 404 whichever URL is tried. Every form carries a CSRF token bound to the session
(or, before sign-in, to a random cookie of the browser); so does the one script request that
writes (a push subscription, in a header). Every answer carries a CSP that allows only our own
static scripts (no inline script, no eval) and ``frame-ancestors 'none'``.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from datetime import timedelta
from typing import Any

from flask import Blueprint, Response, g, jsonify, redirect, render_template, request
from werkzeug.datastructures import MultiDict

from mailbeacon import access_tokens, live, push, reporting
from mailbeacon.clock import parse_time
from mailbeacon.errors import (
    InvalidInput,
    InvalidToken,
    StoreUnavailable,
    Unauthorized,
    UnknownMessage,
)
from mailbeacon.policy import (
    CHANNELS,
    KEEP,
    Policy,
    PolicyChange,
    audit_log,
    domain_senders,
    enforce_retention,
    policy_for,
    update_policy,
)
from mailbeacon.privacy import export_user
from mailbeacon.records import Namespace
from mailbeacon.sentwatch import set_label_opt_in

from ..bootstrap import App
from . import charts
from .live import POLL_SECONDS, stream
from .signin import FLOW_COOKIE, SESSION_COOKIE, Gate

log = logging.getLogger(__name__)

CSP = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; worker-src 'self'; "
    "style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
HEADERS = {
    "Cache-Control": "private, no-store",
    "Referrer-Policy": "no-referrer",  # keyed alert links must not leak through Referer
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
}


CHOICES = {
    "notify": (("first-open", "the first open"), ("every-open", "every open"),
               ("clicks", "clicks only"), ("off", "nothing")),
    "strictness": (("lenient", "lenient"), ("balanced", "balanced"), ("strict", "strict")),
}  # fmt: skip


def _form_values(settings: Any) -> dict[str, Any]:
    """What the settings form shows for saved settings."""
    quiet = settings.quiet_hours
    return {
        "notify": settings.notify.value,
        "slack_webhook": settings.slack_webhook or "",
        "slack_app_dm": settings.slack_app_dm,
        "chat_webhook": settings.chat_webhook or "",
        "chat_app_dm": settings.chat_app_dm,
        "email_to": settings.email_to or "",
        "quiet_hours": f"{quiet.start}-{quiet.end}" if quiet else "",
        "timezone": settings.timezone,
        "strictness": settings.strictness.value,
    }


def not_found() -> Response:
    return Response("not found\n", 404, mimetype="text/plain")


def _page_args(args: Any) -> MultiDict[str, str]:
    """The list's form fields as the API's parameters: a date-only ``until`` includes that day."""
    out: MultiDict[str, str] = MultiDict(args)
    until = out.get("until") or ""
    if len(until) == 10:
        with contextlib.suppress(ValueError, OverflowError):  # reporting reports it
            out["until"] = (parse_time(until) + timedelta(days=1)).isoformat()
    return out


def blueprint(app: App, gate: Gate) -> Blueprint:
    bp = Blueprint(
        "dashboard",
        __name__,
        template_folder="templates",
        static_folder="static",
        static_url_path="/dashboard/static",
    )

    @bp.app_template_filter("pager_args")
    def pager_args(args: Any, cursor: str | None) -> str:
        """The list's query string with the cursor replaced (None: the first page)."""
        from urllib.parse import urlencode

        kept = [(k, v) for k, v in args.items(multi=True) if k != "cursor" and v]
        return urlencode(kept + ([("cursor", cursor)] if cursor else []))

    @bp.app_template_filter("duration")
    def duration(seconds: float) -> str:
        if seconds < 90:
            return f"{seconds:.0f} s"
        if seconds < 5400:
            return f"{seconds / 60:.0f} min"
        if seconds < 129600:
            return f"{seconds / 3600:.1f} h"
        return f"{seconds / 86400:.1f} days"

    @bp.before_request
    def who() -> None:
        g.user, g.sid = None, None
        try:
            found = gate.session(request.cookies.get(SESSION_COOKIE), app.clock.now())
        except StoreUnavailable as exc:
            log.error("session lookup failed: %s", exc)
            found = None
        if found:
            g.user, g.sid = found

    @bp.after_request
    def headers(response: Response) -> Response:
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    def admin_policy() -> Policy | None:
        """The signed-in user's domain policy if they are one of its admins."""
        if not g.user:
            return None
        policy = policy_for(app.records, g.user)
        return policy if policy.is_admin(g.user) else None

    def render(template: str, status: int = 200, **context: Any) -> Response:
        html = render_template(
            template,
            user=g.user,
            is_admin=admin_policy() is not None,
            csrf=gate.csrf(g.sid) if g.sid else "",
            dev=gate.dev,
            live_mode=("stream" if app.streams_live else "poll") if g.user else "",
            live_cursor=live.cursor_now(app.clock.now()),
            **context,
        )
        return Response(html, status, mimetype="text/html")

    def signed_out() -> Response:
        return redirect("/dashboard/signin", 303)  # type: ignore[return-value]

    def form_ok() -> bool:
        return gate.csrf_ok(g.sid, request.form.get("csrf"))

    # sign-in and out
    @bp.get("/dashboard/")
    @bp.get("/dashboard")
    def home() -> Response:
        return redirect("/dashboard/messages" if g.user else "/dashboard/signin", 303)  # type: ignore[return-value]

    @bp.get("/dashboard/signin")
    def signin_page() -> Response:
        flow = request.cookies.get(FLOW_COOKIE + "_csrf") or secrets.token_urlsafe(24)
        response = render(
            "signin.html",
            google=gate.config.google_enabled,
            flow_csrf=gate.csrf("flow:" + flow),
            problem=request.args.get("problem"),
        )
        response.set_cookie(
            FLOW_COOKIE + "_csrf",
            flow,
            max_age=3600,
            path="/dashboard/signin",
            httponly=True,
            samesite="Lax",
            secure=gate.secure,
        )
        return response

    def signed_in(user: str) -> Response:
        response = redirect("/dashboard/messages", 303)
        response.set_cookie(
            SESSION_COOKIE,
            gate.start_session(user, app.clock.now()),
            max_age=int(gate.config.session_lifetime.total_seconds()),
            path="/dashboard",
            httponly=True,
            samesite="Lax",
            secure=gate.secure,
        )
        log.info("dashboard sign-in: %s", user)
        return response  # type: ignore[return-value]

    @bp.post("/dashboard/signin/dev")
    def signin_dev() -> Response:
        if not gate.dev:
            return not_found()
        flow = request.cookies.get(FLOW_COOKIE + "_csrf")
        if not flow or not gate.csrf_ok("flow:" + flow, request.form.get("csrf")):
            return Response(
                "the form expired: reload the sign-in page\n", 403, mimetype="text/plain"
            )
        from mailbeacon.services import check_email

        try:
            user = check_email(request.form.get("email", ""))
        except InvalidInput as exc:
            return render("signin.html", 400, google=gate.config.google_enabled,
                          flow_csrf=gate.csrf("flow:" + flow), problem=str(exc))  # fmt: skip
        return signed_in(user)

    def redirect_uri() -> str:
        return f"{app.urls.service('dashboard')}/dashboard/signin/callback"

    @bp.get("/dashboard/signin/google")
    def signin_google() -> Response:
        if not gate.config.google_enabled:
            return not_found()
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        response = redirect(gate.authorization_url(redirect_uri(), state, nonce), 303)
        response.set_cookie(
            FLOW_COOKIE,
            gate.cookies.dumps({"state": state, "nonce": nonce}),
            max_age=600,
            path="/dashboard/signin",
            httponly=True,
            samesite="Lax",  # Google's redirect back is a top-level GET: Lax cookies go along
            secure=gate.secure,
        )
        return response  # type: ignore[return-value]

    @bp.get("/dashboard/signin/callback")
    def signin_callback() -> Response:
        from itsdangerous import BadData

        def refuse(why: str) -> Response:
            log.info("dashboard sign-in refused: %s", why)
            page = render("signin.html", 401, google=gate.config.google_enabled,
                          flow_csrf="", problem="Sign-in failed: " + why)  # fmt: skip
            page.delete_cookie(FLOW_COOKIE, path="/dashboard/signin")
            return page

        if not gate.config.google_enabled:
            return not_found()
        try:
            flow = gate.cookies.loads(request.cookies.get(FLOW_COOKIE, ""), max_age=600)
        except BadData:
            return refuse("the sign-in took too long or started elsewhere; try again")
        if not secrets.compare_digest(str(flow.get("state")), request.args.get("state", "")):
            return refuse("the answer does not belong to this sign-in")
        if request.args.get("error") or not request.args.get("code"):
            return refuse(request.args.get("error") or "no authorization code")
        try:
            token = gate.exchange(request.args["code"], redirect_uri())
            user = gate.user_from_id_token(token, nonce=str(flow.get("nonce")))
        except Unauthorized as exc:
            return refuse(str(exc))
        response = signed_in(user)
        response.delete_cookie(FLOW_COOKIE, path="/dashboard/signin")
        return response

    @bp.post("/dashboard/signout")
    def signout() -> Response:
        if g.sid and not form_ok():
            return Response("the form expired: reload the page\n", 403, mimetype="text/plain")
        if g.sid:
            gate.end_session(g.sid)
        response = redirect("/dashboard/signin", 303)
        response.delete_cookie(SESSION_COOKIE, path="/dashboard")
        return response  # type: ignore[return-value]

    # the list
    @bp.get("/dashboard/messages")
    def messages() -> Response:
        if not g.user:
            return signed_out()
        args = _page_args(request.args)
        try:
            query = reporting.parse_message_query(args)
            rows, cursor = reporting.list_messages(app.store, g.user, query)
        except InvalidInput as exc:
            return render(
                "list.html", 400, rows=[], cursor=None, args=request.args, problem=str(exc)
            )
        return render("list.html", rows=[reporting.row_public(r) for r in rows],
                      cursor=cursor, args=request.args, problem=None)  # fmt: skip

    @bp.get("/dashboard/messages.csv")
    def messages_csv() -> Response:
        from ..api import csv_response

        if not g.user:
            return signed_out()
        try:
            query = reporting.parse_message_query(_page_args(request.args))
        except InvalidInput as exc:
            return Response(str(exc) + "\n", 400, mimetype="text/plain")
        return csv_response(
            reporting.MESSAGE_CSV_HEADER,
            (
                reporting.message_csv_row(r)
                for r in reporting.all_messages(app.store, g.user, query)
            ),
            "mailbeacon-messages.csv",
        )

    # one email
    @bp.get("/dashboard/messages/<message_id>")
    def message_page(message_id: str) -> Response:
        key = request.args.get("key")
        owner: str | None = g.user
        if key is not None:
            try:
                claims = app.signer.verify(key)
                if claims.kind != "view" or claims.message_id != message_id:
                    raise InvalidToken("key is for something else")
                if (claims.expires or 0) < app.clock.now().timestamp():
                    raise InvalidToken("key expired")
            except InvalidToken as exc:
                log.info("dashboard refused a key: %s", exc)
                return not_found()
            owner = None  # the key is the owner's: alerts reach only them
        elif not g.user:
            return signed_out()
        try:
            detail = reporting.message_detail(app.store, owner, message_id)
            events, cursor = detail["events"], detail["events_next_cursor"]
            if request.args.get("cursor"):
                page = reporting.events_page(app.store, owner, message_id, request.args)
                events, cursor = page["events"], page["next_cursor"]
        except UnknownMessage:
            return not_found()
        except InvalidInput as exc:
            return Response(str(exc) + "\n", 400, mimetype="text/plain")
        return render("message.html", stats=detail, events=events, cursor=cursor, key=key,
                      paged=bool(request.args.get("cursor")))  # fmt: skip

    @bp.get("/dashboard/messages/<message_id>/events.csv")
    def events_csv(message_id: str) -> Response:
        from ..api import csv_response

        if not g.user:
            return signed_out()
        rows = reporting.all_events(app.store, g.user, message_id)
        try:
            first = next(rows, None)
        except UnknownMessage:
            return not_found()
        head = [first] if first is not None else []
        return csv_response(
            reporting.EVENT_CSV_HEADER,
            (reporting.event_csv_row(e) for part in (head, rows) for e in part),
            f"{message_id}-events.csv",
        )

    # the overview
    @bp.get("/dashboard/overview")
    def overview() -> Response:
        if not g.user:
            return signed_out()
        args, now = _page_args(request.args), app.clock.now()
        try:
            data = reporting.overview(app.store, g.user, args, now)
        except InvalidInput as exc:
            return render("overview.html", 400, data=None, args=request.args, problem=str(exc))
        domain = None
        if (policy := admin_policy()) is not None:
            senders = domain_senders(app.records, policy.domain)
            domain = reporting.domain_overview(app.store, senders, policy.domain, args, now)
        return render(
            "overview.html",
            data=data,
            domain=domain,
            args=request.args,
            problem=None,
            by_day_svg=charts.activity_by_day(data["by_day"]),
            hours_svg=charts.hour_of_week(data["opens_by_hour_of_week"]),
            clients_svg=charts.horizontal_bars(
                "chart-clients", "Opens by people, by email client", data["clients"], charts.HUMAN
            ),
            machine_svg=charts.horizontal_bars(
                "chart-machine",
                "Machine hits by verdict (not counted as opens)",
                {k: v for k, v in data["machine_hits"]["by_verdict"].items() if v},
                charts.MACHINE,
            ),
            days=charts.DAYS,
        )

    # live pages
    def json_answer(status: int, message: str) -> Response:
        response = jsonify({"error": message})
        response.status_code = status
        return response

    @bp.get("/dashboard/live/stream")
    def live_stream() -> Response:
        if not g.user:
            return json_answer(401, "signed out")
        if not app.streams_live:
            return json_answer(503, "this server does not stream: poll /dashboard/live/poll")
        cursor = request.headers.get("Last-Event-ID") or request.args.get("cursor")
        try:
            live.since(app.records, g.user, cursor, app.clock.now())  # refuse a bad cursor now
        except InvalidInput as exc:
            return json_answer(400, str(exc))
        if not app.live.acquire():
            return json_answer(503, "too many live pages open: poll /dashboard/live/poll")
        body = stream(app.records, app.live, g.user, cursor, app.clock.now)
        response = Response(
            body,
            200,
            {"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
            mimetype="text/event-stream",
        )
        response.call_on_close(app.live.release)  # also when the body never started
        return response

    @bp.get("/dashboard/live/poll")
    def live_poll() -> Response:
        if not g.user:
            return json_answer(401, "signed out")
        try:
            events, cursor = live.since(
                app.records, g.user, request.args.get("cursor"), app.clock.now()
            )
        except InvalidInput as exc:
            return json_answer(400, str(exc))
        return jsonify({"events": events, "cursor": cursor, "poll_seconds": POLL_SECONDS})

    @bp.get("/dashboard/sw.js")
    def service_worker() -> Response:
        """At /dashboard/ so its scope covers the dashboard (a worker's scope is its folder)."""
        response = bp.send_static_file("sw.js")
        response.headers["Content-Type"] = "text/javascript; charset=utf-8"
        response.headers["Cache-Control"] = "no-cache"
        return response

    @bp.get("/dashboard/push/key")
    def push_key() -> Response:
        if not g.user:
            return json_answer(401, "signed out")
        keys = app.vapid.get()
        if keys is None:
            return json_answer(503, "Web Push is not configured on this server")
        return jsonify({"vapid_public_key": keys.public_key})

    @bp.post("/dashboard/push/subscriptions")
    def push_subscribe() -> Response:
        """The page's "Turn on desktop notifications": the browser's PushSubscription."""
        if not g.user:
            return json_answer(401, "signed out")
        if not gate.csrf_ok(g.sid, request.headers.get("X-CSRF-Token")):
            return json_answer(403, "the page expired: reload it")
        try:
            sub = push.add_subscription(
                app.records, g.user, request.get_json(silent=True), app.push_rules, app.clock.now()
            )
        except InvalidInput as exc:
            return json_answer(400, str(exc))
        response = jsonify({"id": sub.id})
        response.status_code = 201
        return response

    # the domain: policy and audit log, for its admins only
    def domain_page(policy: Policy, status: int = 200, **extra: Any) -> Response:
        entries = audit_log(app.records, policy.domain)[::-1]
        return render(
            "domain.html", status, policy=policy, entries=entries, channels=CHANNELS, **extra
        )

    @bp.get("/dashboard/domain")
    def domain() -> Response:
        if not g.user:
            return signed_out()
        policy = admin_policy()
        return domain_page(policy) if policy else not_found()

    @bp.post("/dashboard/domain")
    def save_domain() -> Response:
        if not g.user:
            return signed_out()
        policy = admin_policy()
        if policy is None:
            return not_found()
        if not form_ok():
            return Response("the form expired: reload the page\n", 403, mimetype="text/plain")
        form = request.form
        try:
            days = form.get("retention_days", "").strip()
            if days and not days.isdigit():
                raise InvalidInput(f"retention days must be a whole number, not {days[:20]!r}")
            admins = [a for a in form.get("admins", "").replace(",", " ").split() if a]
            if g.user not in [a.lower() for a in admins]:
                raise InvalidInput("keep yourself among the admins (another admin can remove you)")
            change = PolicyChange(
                tracking=form.get("tracking") == "on",
                track_internal=form.get("track_internal") == "on",
                retention_days=int(days) if days else None,
                channels=[c for c in CHANNELS if form.get(f"channel_{c}") == "on"],
                disclosure=form.get("disclosure", ""),
                admins=admins if admins else KEEP,
            )
            now = app.clock.now()
            updated = update_policy(app.records, policy.domain, change, actor=g.user, at=now)
            enforce_retention(app.store, updated, now)
        except InvalidInput as exc:
            return domain_page(policy, 400, problem=str(exc))
        return domain_page(updated, saved=True)

    # Gmail labels: the user's own opt-in (the operator set up gmail.modify delegation)
    @bp.post("/dashboard/settings/gmail-labels")
    def gmail_labels() -> Response:
        if not g.user:
            return signed_out()
        if not form_ok():
            return Response("the form expired: reload the page\n", 403, mimetype="text/plain")
        if not app.config.sentwatch.labels:
            return not_found()
        set_label_opt_in(app.records, g.user, request.form.get("labels") == "on", app.clock.now())
        return redirect("/dashboard/settings", 303)  # type: ignore[return-value]

    # privacy: a user's own data, all of it
    @bp.get("/dashboard/export")
    def export() -> Response:
        if not g.user:
            return signed_out()
        import json

        data = export_user(app.store, g.user)
        response = Response(json.dumps(data, indent=2), mimetype="application/json")
        response.headers["Content-Disposition"] = 'attachment; filename="mailbeacon-export.json"'
        return response

    # settings: channels (through mailbeacon.settings, as the CLI and the add-on) and tokens
    def settings_page(status: int = 200, **extra: Any) -> Response:
        tokens = access_tokens.list_tokens(app.store, g.user)
        settings = app.store.get_settings(g.user)
        extra.setdefault("values", _form_values(settings))
        extra.setdefault("errors", {})
        extra["settings"] = settings
        if app.config.sentwatch.labels:  # offered only when the operator turned labels on
            labels = app.records.get_record(Namespace.LABEL_OPT_IN, g.user.lower())
            extra["gmail_labels"] = labels is not None
        browsers = [s.to_public() for s in push.list_subscriptions(app.records, g.user)]
        return render(
            "settings.html",
            status,
            tokens=tokens,
            choices=CHOICES,
            browsers=browsers,
            push_ready=app.vapid.available,
            **extra,
        )

    @bp.post("/dashboard/settings")
    def save_settings() -> Response:
        from mailbeacon.settings import InvalidSettings, SettingsChange

        if not g.user:
            return signed_out()
        if not form_ok():
            return Response("the form expired: reload the page\n", 403, mimetype="text/plain")
        form = request.form
        change = SettingsChange(
            notify=form.get("notify", ""),
            slack_webhook=form.get("slack_webhook", ""),
            slack_app_dm=form.get("slack_app_dm") == "on",
            chat_webhook=form.get("chat_webhook", ""),
            chat_app_dm=form.get("chat_app_dm") == "on",
            email_to=form.get("email_to", ""),
            quiet_hours=form.get("quiet_hours", ""),
            timezone=form.get("timezone", "") or "UTC",
            strictness=form.get("strictness", ""),
            clear_problems=form.get("clear_problems") == "on",
        )
        try:
            app.settings.update(g.user, change)
        except InvalidSettings as exc:
            return settings_page(
                400,
                errors=exc.errors,
                values={**form.to_dict(), "slack_app_dm": "slack_app_dm" in form,
                        "chat_app_dm": "chat_app_dm" in form},
                problem="Nothing was saved: " + str(exc),
            )  # fmt: skip
        return settings_page(saved=True)

    @bp.post("/dashboard/settings/push/<sub_id>/remove")
    def remove_browser(sub_id: str) -> Response:
        if not g.user:
            return signed_out()
        if not form_ok():
            return Response("the form expired: reload the page\n", 403, mimetype="text/plain")
        if not push.delete_subscription(app.records, g.user, sub_id):
            return not_found()
        return redirect("/dashboard/settings", 303)  # type: ignore[return-value]

    @bp.get("/dashboard/settings")
    def settings() -> Response:
        if not g.user:
            return signed_out()
        return settings_page()

    @bp.post("/dashboard/settings/tokens")
    def create_token() -> Response:
        if not g.user:
            return signed_out()
        if not form_ok():
            return Response("the form expired: reload the page\n", 403, mimetype="text/plain")
        try:
            token, secret = access_tokens.create_token(
                app.store, g.user, request.form.get("name", ""), app.clock.now()
            )
        except InvalidInput as exc:
            return settings_page(400, problem=str(exc))
        return settings_page(created=token, secret=secret)

    @bp.post("/dashboard/settings/tokens/<token_id>/revoke")
    def revoke_token(token_id: str) -> Response:
        if not g.user:
            return signed_out()
        if not form_ok():
            return Response("the form expired: reload the page\n", 403, mimetype="text/plain")
        if not access_tokens.revoke_token(app.store, g.user, token_id):
            return not_found()
        return redirect("/dashboard/settings", 303)  # type: ignore[return-value]

    return bp
