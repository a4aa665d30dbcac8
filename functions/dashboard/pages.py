"""The dashboard's blueprint: every view module's routes, bound to one Site.

The views themselves are in ``views/`` (sign-in, the list and one email, the overview, live
pages and push, the domain page, settings and tokens, export); what they share (headers and
CSP, rendering, the CSRF check, the signed-in guards) is ``site.py``.
"""

from __future__ import annotations

from functools import partial

from flask import Blueprint

from .filters import FILTERS
from .ports import DashboardDeps
from .signin import Gate
from .site import Site, add_headers
from .views import domain, export, followups, messages, overview, realtime, session, settings

VIEW_MODULES = (session, messages, overview, realtime, domain, settings, export, followups)


def blueprint(deps: DashboardDeps, gate: Gate) -> Blueprint:
    bp = Blueprint(
        "dashboard",
        __name__,
        template_folder="templates",
        static_folder="static",
        static_url_path="/dashboard/static",
    )
    site = Site(deps, gate)
    for name, function in FILTERS.items():
        bp.add_app_template_filter(function, name)
    bp.before_request(site.who)
    bp.after_request(add_headers)
    for module in VIEW_MODULES:
        for route in module.views.routes:
            bound = partial(route.view, site)  # one object per endpoint, however many rules
            for rule in route.rules:
                bp.add_url_rule(rule, route.view.__name__, bound, methods=[route.method])
    return bp
