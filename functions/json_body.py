"""A Flask request's JSON body, read by the one reader (mailbeacon/json_input.py).

Flask's ``get_json(silent=True)`` lets ``RecursionError`` through (a 500) and accepts lone
surrogates and ``NaN``; every view that reads a JSON body reads it here instead.
"""

from __future__ import annotations

from typing import Any

from flask import Request

from mailbeacon.json_input import read_json


def json_body(request: Request) -> Any:
    """The body as JSON (InvalidInput when it is not), or None when not sent as JSON."""
    if not request.is_json:
        return None
    return read_json(request.get_data(cache=True))
