"""The web dashboard under /dashboard/ and the JSON API under /api/v1.

Pages are rendered on the server (Jinja, autoescaped) with server-drawn SVG charts and one
stylesheet from our own static folder: the Content-Security-Policy allows no script at all and
no framing. Alert links (`/dashboard/messages/<id>?key=`) open one message without a session.
"""

from __future__ import annotations

from flask import Flask

from mailbeacon.bootstrap import App

from .signin import Gate, SignInConfig


def register(web: Flask, app: App, config: SignInConfig | None = None) -> None:
    from .. import api
    from .pages import blueprint

    gate = Gate(app, config or SignInConfig.from_env())
    web.register_blueprint(blueprint(app, gate))
    api.register(web, app, gate)
