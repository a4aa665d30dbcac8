"""Privacy: a user's own data, all of it, as one JSON download."""

from __future__ import annotations

import json

from flask import Response, g

from mailbeacon.privacy import export_user

from ..site import Site, Views, page

views = Views()


@views.get("/dashboard/export")
@page
def export(site: Site) -> Response:
    data = export_user(site.deps.store, g.user)
    response = Response(json.dumps(data, indent=2), mimetype="application/json")
    response.headers["Content-Disposition"] = 'attachment; filename="mailbeacon-export.json"'
    return response
