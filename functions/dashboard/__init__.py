"""The web dashboard under /dashboard/ and the JSON API under /api/v1.

Pages are rendered on the server (Jinja, autoescaped) with server-drawn SVG charts and one
stylesheet from our own static folder; the only scripts are our own static files (live.js keeps
open pages live, sw.js is the Web Push service worker): the Content-Security-Policy allows no
inline script, nothing from another origin and no framing. Alert links
(`/dashboard/messages/<id>?key=`) open one message without a session.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # Flask only when the web app is built: the CLI reads our config from here
    from flask import Flask

    from .ports import DashboardDeps, SignInDeps
    from .signin import Gate


def sign_in_gate(deps: SignInDeps) -> Gate:
    """The gate (sessions, CSRF, bearer credentials) over what sign-in reads."""
    from .signin import Gate

    return Gate(
        deps.config.dashboard,
        deps.records,
        deps.keyring,
        deps.urls,
        dev=bool(deps.config.core.insecure_dev_auth),
    )


def register(web: Flask, deps: DashboardDeps) -> None:
    """The pages and /api/v1, sharing one sign-in gate; a path nobody serves is the API's JSON
    404 under /api/ and the dashboard's own page (with its navigation) elsewhere."""
    from typing import Any

    from flask import request

    from .. import api
    from .pages import blueprint
    from .site import Site, add_headers, not_found

    gate = sign_in_gate(deps)
    web.register_blueprint(blueprint(deps, gate))
    api.register(web, deps, gate)
    site = Site(deps, gate)

    def missing(exc: Any) -> Any:
        if request.path.startswith("/api/"):
            return api.json_errors(exc)
        if exc.code != 404:
            return exc
        site.who()
        return add_headers(not_found())

    for code in (404, 405):
        web.register_error_handler(code, missing)
