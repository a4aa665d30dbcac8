"""``GET|HEAD /p/{token}.gif`` and ``/c/{token}`` as bare WSGI, for Cloud Functions.

`mailbeacon serve` answers these on its event loop (functions/edge); the pixel and click
functions answer them here, before any web framework: the Flask app (functions/app.py) puts
this in front of its own dispatch, and functions/main.py calls it straight from the entry
point with parts built for tracking alone (functions/tracking_root.py).
"""

from __future__ import annotations

from typing import Any

from werkzeug.urls import iri_to_uri

from mailbeacon.errors import MailbeaconError
from mailbeacon.pipeline import record_hit

from .edge.ports import Tracking
from .edge.tracking import FORWARDED_FOR, GIF, HIT_HEADERS, NO_STORE, Tracker, route

PLAIN = [("Content-Type", "text/plain; charset=utf-8"), ("Cache-Control", NO_STORE)]
NOT_FOUND_HEADERS = [*PLAIN, ("Content-Length", "10")]
ENVIRON_KEYS = tuple(
    (name, "HTTP_" + name.upper().replace("-", "_")) for name in (*HIT_HEADERS, FORWARDED_FOR)
)
"""The request headers a hit reads, and their WSGI environ keys."""
GIF_HEADERS = [
    ("Content-Type", "image/gif"),
    ("Content-Length", str(len(GIF))),
    ("Cache-Control", NO_STORE),
    ("Expires", "0"),
]


class TrackingEdge:
    """``GET|HEAD /p/{token}.gif`` and ``/c/{token}`` as bare WSGI, in front of Flask.

    Cloud Functions enter here (`mailbeacon serve` answers these on its event loop,
    functions/edge). They skip Flask's request context, routing and response objects (which
    cost more than everything the pixel itself does) and read the few headers they need
    straight from the WSGI environ. Anything that is not exactly one of them falls through
    to the Flask app, which answers as before.
    """

    def __init__(self, tracking: Tracking) -> None:
        self.tracker = Tracker(tracking)
        self.bus = tracking.bus

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes] | None:
        """WSGI: answer a tracking request, or None for the next app to answer."""
        answer = self.answer(environ)
        if answer is None:
            return None
        status, headers, body = answer
        start_response(status, headers)
        return [] if environ["REQUEST_METHOD"] == "HEAD" else [body]

    def answer(self, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes] | None:
        """(status, headers, body) for a tracking path, else None."""
        found = route(environ.get("PATH_INFO", ""))
        if found is None:
            return None
        get = environ.get
        headers = {name: value for name, key in ENVIRON_KEYS if (value := get(key)) is not None}
        outcome = self.tracker.outcome(
            *found, get("REQUEST_METHOD", ""), headers, get("REMOTE_ADDR")
        )
        if outcome.hit is not None:
            try:
                record_hit(self.bus, outcome.hit)
                self.tracker.recorded()
            except MailbeaconError as exc:
                self.tracker.failed(outcome.hit, str(exc))
        if outcome.status == 200:
            return "200 OK", GIF_HEADERS, GIF
        if outcome.status == 302:
            headers_out = [
                ("Content-Type", "text/html; charset=utf-8"),
                ("Content-Length", "0"),
                ("Location", iri_to_uri(outcome.location)),  # type: ignore[arg-type]
                ("Cache-Control", NO_STORE),
                ("Referrer-Policy", "no-referrer"),
            ]
            return "302 FOUND", headers_out, b""
        if outcome.status == 405:
            return "405 METHOD NOT ALLOWED", [*PLAIN, ("Allow", "GET, HEAD")], b""
        return "404 NOT FOUND", NOT_FOUND_HEADERS, b"not found\n"
