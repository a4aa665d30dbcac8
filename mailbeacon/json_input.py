"""The one reader of JSON from outside: every body, push, event, cursor and token header.

``json.loads`` alone lets three things through that later break a request or poison what is
stored: nesting deep enough to raise ``RecursionError`` (which Flask's ``get_json(silent=True)``
does not catch) or to make any later recursive walk fail, ``\\ud800``-style escapes that decode
to lone surrogates (valid JSON, but no UTF-8 encoder, SQLite's included, accepts them), and
``NaN``/``Infinity`` (not JSON at all, and written back out as invalid JSON). Here each is
InvalidInput, which every boundary already answers as 400 (or an error card).
"""

from __future__ import annotations

import json
from typing import Any

from .errors import InvalidInput

MAX_DEPTH = 32
"""Deeper than any request we accept (an add-on event is about 6 levels)."""


def read_json(data: bytes | str, *, what: str = "the body", max_depth: int = MAX_DEPTH) -> Any:
    """``data`` as JSON, or InvalidInput naming ``what`` was wrong with it."""
    if isinstance(data, bytes | bytearray):
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput(f"{what} is not UTF-8") from None
    else:
        text = data
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise InvalidInput(f"{what} nests deeper than {max_depth} levels") from None
    except ValueError as exc:
        raise InvalidInput(f"{what} is not JSON ({str(exc)[:80]})") from None
    check_tree(value, what=what, max_depth=max_depth)
    return value


def check_tree(value: Any, *, what: str = "the body", max_depth: int = MAX_DEPTH) -> None:
    """Refuse a decoded tree nested deeper than ``max_depth`` or holding invalid text (keys
    included). Iterative: a hostile tree cannot exhaust the stack here."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if not valid_text(item):
                raise InvalidInput(f"{what} holds text that is not valid Unicode")
        elif isinstance(item, dict | list):
            if depth > max_depth:
                raise InvalidInput(f"{what} nests deeper than {max_depth} levels")
            if isinstance(item, dict):
                stack.extend((key, depth) for key in item)
                stack.extend((child, depth + 1) for child in item.values())
            else:
                stack.extend((child, depth + 1) for child in item)


def valid_text(text: str) -> bool:
    """Whether ``text`` can be written as UTF-8 (no lone surrogates)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")
