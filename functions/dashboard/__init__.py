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
    """The pages and /api/v1, sharing one sign-in gate."""
    from .. import api
    from .pages import blueprint

    gate = sign_in_gate(deps)
    web.register_blueprint(blueprint(deps, gate))
    api.register(web, deps, gate)
