"""What every dashboard view shares: the security headers, rendering, the CSRF check, the
signed-in guards, and the table views are declared in.

Every answer carries a CSP that allows only our own static scripts (no inline script, no eval)
and ``frame-ancestors 'none'``. Every form carries a CSRF token bound to the session (or, before
sign-in, to a random cookie of the browser); so does the one script request that writes (a push
subscription, in a header).
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import unquote

from flask import Response, g, jsonify, redirect, render_template, request
from werkzeug.datastructures import MultiDict

from mailbeacon import live, localtime, words
from mailbeacon.errors import FieldError, InvalidInput, StoreUnavailable
from mailbeacon.policy import Policy, policy_for

from .ports import DashboardDeps
from .signin import SESSION_COOKIE, Gate

log = logging.getLogger(__name__)

ZONE_COOKIE = "mb_tz"
"""The browser's time zone, set by static/zone.js: the pages' zone when none is saved."""

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


@dataclass(frozen=True)
class Site:
    """The dependencies and the sign-in gate, handed to every view as its first argument."""

    deps: DashboardDeps
    gate: Gate

    def admin_policy(self) -> Policy | None:
        """The signed-in user's domain policy if they are one of its admins."""
        if not g.user:
            return None
        policy = policy_for(self.deps.records, g.user)
        return policy if policy.is_admin(g.user) else None

    def zone(self, saved: str | None = None) -> str:
        """The zone pages show times in: the user's saved one, else their browser's (the
        cookie zone.js sets), else UTC. Read once per request; ``saved`` is the user's saved
        zone when the caller has already read their settings (no second read)."""
        if getattr(g, "zone", None) is None:
            if saved is None:
                saved = ""
                if g.user:
                    try:
                        saved = self.deps.store.get_settings(g.user).timezone
                    except StoreUnavailable as exc:
                        log.error("settings lookup failed: %s", exc)
            # zone.js writes it with encodeURIComponent: "America%2FNew_York"
            browser = unquote(request.cookies.get(ZONE_COOKIE, ""))
            g.zone = localtime.pick(saved, browser)
            g.zone_source = (
                "saved"
                if saved and g.zone == saved
                else "browser"
                if browser and g.zone == browser
                else "default"
            )
        return str(g.zone)

    def render(self, template: str, status: int = 200, **context: Any) -> Response:
        """A page: the template with who is signed in, their CSRF token, the live mode and the
        zone its times are shown in."""
        tz = self.zone()
        html = render_template(
            template,
            user=g.user,
            is_admin=self.admin_policy() is not None,
            csrf=self.gate.csrf(g.sid) if g.sid else "",
            dev=self.gate.dev,
            live_mode=("stream" if self.deps.streams_live else "poll") if g.user else "",
            live_cursor=live.cursor_now(self.deps.clock.now()),
            tz=tz,
            zone_source=g.zone_source,
            zone_name=localtime.abbreviation(self.deps.clock.now(), tz),
            words=words,
            **context,
        )
        return Response(html, status, mimetype="text/html")

    def form_ok(self) -> bool:
        """Whether the posted form carries this session's CSRF token."""
        return self.gate.csrf_ok(g.sid, request.form.get("csrf"))

    def who(self) -> None:
        """Before every request: the signed-in user and session id in ``g``, or None."""
        g.user, g.sid, g.site, g.zone = None, None, self, None
        try:
            found = self.gate.session(request.cookies.get(SESSION_COOKIE), self.deps.clock.now())
        except StoreUnavailable as exc:
            log.error("session lookup failed: %s", exc)
            found = None
        if found:
            g.user, g.sid = found


def add_headers(response: Response) -> Response:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    return response


# Answers --------------------------------------------------------------------------------------


def not_found() -> Response:
    """The styled page, with the navigation, saying what can be done instead."""
    site: Site | None = getattr(g, "site", None)
    if site is None:
        return Response("not found\n", 404, mimetype="text/plain")
    return site.render("notfound.html", 404)


def signed_out() -> Response:
    return redirect("/dashboard/signin", 303)  # type: ignore[return-value]


def see(path: str) -> Response:
    """After a form: the page to show next (303, so a reload does not post again)."""
    return redirect(path, 303)  # type: ignore[return-value]


def form_expired() -> Response:
    return Response("the form expired: reload the page\n", 403, mimetype="text/plain")


def plain(status: int, text: str) -> Response:
    return Response(text + "\n", status, mimetype="text/plain")


def json_answer(status: int, message: str) -> Response:
    response = jsonify({"error": message})
    response.status_code = status
    return response


def page_args(args: Mapping[str, str], tz: str = "UTC") -> MultiDict[str, str]:
    """The forms' fields as the API's parameters: a From or To date is a day in the user's
    zone (To includes that whole day)."""
    out: MultiDict[str, str] = MultiDict(args)
    for name, extra in (("since", 0), ("until", 1)):
        value = out.get(name) or ""
        if len(value) == 10:
            with contextlib.suppress(ValueError, OverflowError):  # reporting reports it
                day = datetime.fromisoformat(value) + timedelta(days=extra)
                out[name] = localtime.day_start(day, tz).isoformat()
    return out


def problem_text(exc: InvalidInput) -> str:
    """An error as a page shows it: led by the field's label ("From: must be ...")."""
    if isinstance(exc, FieldError):
        return f"{words.field(exc.field)}: {exc.reason}"
    return str(exc)


# Guards ---------------------------------------------------------------------------------------

View = Callable[..., Response]
"""``view(site, **path arguments)``."""


def page(view: View) -> View:
    """Signed-in users only; anyone else is sent to the sign-in page."""

    @functools.wraps(view)
    def guarded(site: Site, **kwargs: Any) -> Response:
        return view(site, **kwargs) if g.user else signed_out()

    return guarded


def form(view: View) -> View:
    """A form post of a signed-in user, with this session's CSRF token."""

    @functools.wraps(view)
    def guarded(site: Site, **kwargs: Any) -> Response:
        if not g.user:
            return signed_out()
        return view(site, **kwargs) if site.form_ok() else form_expired()

    return guarded


def script(view: View) -> View:
    """A script's request (live updates, push): signed out is a 401 in JSON, not a redirect."""

    @functools.wraps(view)
    def guarded(site: Site, **kwargs: Any) -> Response:
        return view(site, **kwargs) if g.user else json_answer(401, "signed out")

    return guarded


# Where views are declared ---------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    method: str
    rules: tuple[str, ...]
    view: View


@dataclass
class Views:
    """One view module's routes, bound to a Site when the blueprint is made (pages.py)."""

    routes: list[Route] = field(default_factory=list)

    def get(self, *rules: str) -> Callable[[View], View]:
        return self._add("GET", rules)

    def post(self, *rules: str) -> Callable[[View], View]:
        return self._add("POST", rules)

    def _add(self, method: str, rules: tuple[str, ...]) -> Callable[[View], View]:
        def add(view: View) -> View:
            self.routes.append(Route(method, rules, view))
            return view

        return add
