"""Signing in (Google's authorization-code flow, or the dev form) and out."""

from __future__ import annotations

import logging
import secrets

from flask import Response, g, redirect, request

from mailbeacon.errors import InvalidInput, Unauthorized

from ...loopback import local_request
from ..signin import FLOW_COOKIE, SESSION_COOKIE
from ..site import Site, Views, form_expired, not_found, plain, see

log = logging.getLogger(__name__)

views = Views()
FLOW_CSRF_COOKIE = FLOW_COOKIE + "_csrf"
SIGNIN_PATH = "/dashboard/signin"


@views.get("/dashboard/", "/dashboard", "/")
def home(site: Site) -> Response:
    return see("/dashboard/messages" if g.user else SIGNIN_PATH)


def local_signin(site: Site) -> bool:
    """The dev form is offered, and accepted, only to this computer (functions/loopback)."""
    return site.gate.dev and local_request(request.environ)


@views.get("/dashboard/signin")
def signin_page(site: Site) -> Response:
    flow = request.cookies.get(FLOW_CSRF_COOKIE) or secrets.token_urlsafe(24)
    response = site.render(
        "signin.html",
        google=site.gate.config.google_enabled,
        flow_csrf=site.gate.csrf("flow:" + flow),
        problem=request.args.get("problem"),
        local=local_signin(site),
    )
    response.set_cookie(
        FLOW_CSRF_COOKIE,
        flow,
        max_age=3600,
        path=SIGNIN_PATH,
        httponly=True,
        samesite="Lax",
        secure=site.gate.secure,
    )
    return response


def signed_in(site: Site, user: str) -> Response:
    """The session cookie for ``user``, and on to their list."""
    gate = site.gate
    response = see("/dashboard/messages")
    response.set_cookie(
        SESSION_COOKIE,
        gate.start_session(user, site.deps.clock.now()),
        max_age=int(gate.config.session_lifetime.total_seconds()),
        path="/dashboard",
        httponly=True,
        samesite="Lax",
        secure=gate.secure,
    )
    log.info("dashboard sign-in: %s", user)
    return response


@views.post("/dashboard/signin/dev")
def signin_dev(site: Site) -> Response:
    gate = site.gate
    if not gate.dev:
        return not_found()
    if not local_request(request.environ):
        log.warning("local sign-in refused: not from this computer (%s)", request.remote_addr)
        return plain(403, "Local sign-in works only on this computer (127.0.0.1)")
    flow = request.cookies.get(FLOW_CSRF_COOKIE)
    if not flow or not gate.csrf_ok("flow:" + flow, request.form.get("csrf")):
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
    response = redirect(gate.authorization_url(redirect_uri(site), state, nonce), 303)
    response.set_cookie(
        FLOW_COOKIE,
        gate.cookies.dumps({"state": state, "nonce": nonce}),
        max_age=600,
        path=SIGNIN_PATH,
        httponly=True,
        samesite="Lax",  # Google's redirect back is a top-level GET: Lax cookies go along
        secure=gate.secure,
    )
    return response  # type: ignore[return-value]


def refuse(site: Site, why: str) -> Response:
    """The sign-in page again, saying why Google's answer was not accepted."""
    log.info("dashboard sign-in refused: %s", why)
    page = site.render("signin.html", 401, google=site.gate.config.google_enabled,
                       flow_csrf="", problem="Sign-in failed: " + why,
                       local=local_signin(site))  # fmt: skip
    page.delete_cookie(FLOW_COOKIE, path=SIGNIN_PATH)
    return page


@views.get("/dashboard/signin/callback")
def signin_callback(site: Site) -> Response:
    from itsdangerous import BadData

    gate = site.gate
    if not gate.config.google_enabled:
        return not_found()
    try:
        flow = gate.cookies.loads(request.cookies.get(FLOW_COOKIE, ""), max_age=600)
    except BadData:
        return refuse(site, "the sign-in took too long or started elsewhere; try again")
    if not secrets.compare_digest(str(flow.get("state")), request.args.get("state", "")):
        return refuse(site, "the answer does not belong to this sign-in")
    if request.args.get("error") or not request.args.get("code"):
        return refuse(site, request.args.get("error") or "no authorization code")
    try:
        token = gate.exchange(request.args["code"], redirect_uri(site))
        user = gate.user_from_id_token(token, nonce=str(flow.get("nonce")))
    except Unauthorized as exc:
        return refuse(site, str(exc))
    response = signed_in(site, user)
    response.delete_cookie(FLOW_COOKIE, path=SIGNIN_PATH)
    return response


@views.post("/dashboard/signout")
def signout(site: Site) -> Response:
    if g.sid and not site.form_ok():
        return form_expired()
    if g.sid:
        site.gate.end_session(g.sid)
    response = see(SIGNIN_PATH)
    response.delete_cookie(SESSION_COOKIE, path="/dashboard")
    return response
