"""What a caller sees while storage is unavailable (a full disk, a locked or lost database,
Firestore down): 503 with Retry-After, never a 500 and never a traceback.

The views map the errors they expect; this is the net under all of them, so a page or an
API call nobody thought of still answers the truth. The dashboard's page is the template
``unavailable.html`` (restyle it there); everything else gets JSON.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, render_template, request

from mailbeacon.errors import BusUnavailable, StoreUnavailable

log = logging.getLogger(__name__)

RETRY_AFTER = "30"


def unavailable(exc: Exception) -> Response:
    """The 503 for ``exc``: a page under /dashboard, JSON elsewhere."""
    log.error("%s %s: storage unavailable: %s", request.method, request.path, exc)
    if request.path.startswith("/dashboard"):
        response = Response(render_template("unavailable.html"), 503, mimetype="text/html")
    else:
        response = jsonify({"error": "storage unavailable, try again"})
        response.status_code = 503
    response.headers["Retry-After"] = RETRY_AFTER
    response.headers["Cache-Control"] = "no-store"
    return response


def register_outage_answers(web: Flask) -> None:
    for error in (StoreUnavailable, BusUnavailable):
        web.register_error_handler(error, unavailable)
