"""Signing in (Google's authorization-code flow, or the dev form) and out.

Every piece of state a browser keeps is an entry of the one ``__session`` cookie jar
(mailbeacon.session_cookie): the signed-out browser's form binding (FLOW), the flow's state and
nonce while Google is asked (SIGNIN), the session (SESSION). Behind Firebase Hosting no other
cookie reaches the function.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from flask import Response, g, redirect, request

from mailbeacon.errors import InvalidInput, Unauthorized
from mailbeacon.tokens import same_secret

from ...loopback import local_request
from ..signin import FLOW, SESSION, SESSION_COOKIE, SIGNIN
from ..site import Site, Views, form_expired, not_found, plain, see

log = logging.getLogger(__name__)

views = Views()
SIGNIN_PATH = "/dashboard/signin"
FLOW_SECONDS, SIGNIN_SECONDS = 3600, 600


def jar(site: Site) -> Any:
    return site.gate.jar


def raw() -> str | None:
    return request.cookies.get(SESSION_COOKIE)


def keep(site: Site, response: Response, entries: Any) -> Response:
    response.headers.add("Set-Cookie", jar(site).set_cookie(entries, secure=site.gate.secure))
    return response


@views.get("/dashboard/", "/dashboard", "/")
def home(site: Site) -> Response:
    return see("/dashboard/messages" if g.user else SIGNIN_PATH)


def local_signin(site: Site) -> bool:
    """The dev form is offered, and accepted, only to this computer (functions/loopback)."""
    return site.gate.dev and local_request(request.environ)


@views.get("/dashboard/signin")
def signin_page(site: Site) -> Response:
    flow = jar(site).get(raw(), FLOW) or secrets.token_urlsafe(24)
    response = site.render(
        "signin.html",
        google=site.gate.config.google_enabled,
        flow_csrf=site.gate.csrf("flow:" + flow),
        problem=request.args.get("problem"),
        local=local_signin(site),
    )
    return keep(site, response, jar(site).put(raw(), FLOW, flow, FLOW_SECONDS))


def signed_in(site: Site, user: str) -> Response:
    """The session in the jar (the flow's entries dropped), and on to their list."""
    gate = site.gate
    sid = gate.start_session(user, site.deps.clock.now())
    lifetime = gate.config.session_lifetime.total_seconds()
    entries = {**jar(site).drop(raw(), SIGNIN, FLOW), **jar(site).put(None, SESSION, sid, lifetime)}
    log.info("dashboard sign-in: %s", user)
    return keep(site, see("/dashboard/messages"), entries)


@views.post("/dashboard/signin/dev")
def signin_dev(site: Site) -> Response:
    gate = site.gate
    if not gate.dev:
        return not_found()
    if not local_request(request.environ):
        log.warning("local sign-in refused: not from this computer (%s)", request.remote_addr)
        return plain(403, "Local sign-in works only on this computer (127.0.0.1)")
    flow = jar(site).get(raw(), FLOW)
    if not isinstance(flow, str) or not gate.csrf_ok("flow:" + flow, request.form.get("csrf")):
        return plain(403, "the form expired: reload the sign-in page")
    from mailbeacon.validation import check_email

    try:
        user = check_email(request.form.get("email", ""))
    except InvalidInput as exc:
        return site.render("signin.html", 400, google=gate.config.google_enabled, local=True,
                           flow_csrf=gate.csrf("flow:" + flow), problem=str(exc))  # fmt: skip
    return signed_in(site, user)


def redirect_uri(site: Site) -> str:
    return f"{site.deps.urls.service('dashboard')}/dashboard/signin/callback"


@views.get("/dashboard/signin/google")
def signin_google(site: Site) -> Response:
    gate = site.gate
    if not gate.config.google_enabled:
        return not_found()
    state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    response: Response = redirect(gate.authorization_url(redirect_uri(site), state, nonce), 303)  # type: ignore[assignment]
    # Google's redirect back is a top-level GET: the jar (SameSite=Lax) goes along.
    flow = {"state": state, "nonce": nonce}
    return keep(site, response, jar(site).put(raw(), SIGNIN, flow, SIGNIN_SECONDS))


def refuse(site: Site, why: str) -> Response:
    """The sign-in page again, saying why Google's answer was not accepted."""
    log.info("dashboard sign-in refused: %s", why)
    page = site.render("signin.html", 401, google=site.gate.config.google_enabled,
                       flow_csrf="", problem="Sign-in failed: " + why,
                       local=local_signin(site))  # fmt: skip
    return keep(site, page, jar(site).drop(raw(), SIGNIN))


@views.get("/dashboard/signin/callback")
def signin_callback(site: Site) -> Response:
    gate = site.gate
    if not gate.config.google_enabled:
        return not_found()
    flow = jar(site).get(raw(), SIGNIN)
    if not isinstance(flow, dict):
        return refuse(site, "the sign-in took too long or started elsewhere; try again")
    if not same_secret(str(flow.get("state")), request.args.get("state", "")):
        return refuse(site, "the answer does not belong to this sign-in")
    if request.args.get("error") or not request.args.get("code"):
        return refuse(site, request.args.get("error") or "no authorization code")
    try:
        token = gate.exchange(request.args["code"], redirect_uri(site))
        user = gate.user_from_id_token(token, nonce=str(flow.get("nonce")))
    except Unauthorized as exc:
        return refuse(site, str(exc))
    return signed_in(site, user)


@views.post("/dashboard/signout")
def signout(site: Site) -> Response:
    if g.sid and not site.form_ok():
        return form_expired()
    if g.sid:
        site.gate.end_session(g.sid)
    return keep(site, see(SIGNIN_PATH), jar(site).drop(raw(), SESSION))
