"""Each Cloud Function answers only its own paths of the one WSGI app, whether or not the
function's name leads the path (cloudfunctions.net URL or the function's own URL)."""

from __future__ import annotations

import pytest

from functions.main import _path_for


@pytest.mark.parametrize(
    ("function", "path", "expected"),
    [
        ("pixel", "/p/TOKEN.gif", "/p/TOKEN.gif"),
        ("pixel", "/pixel/p/TOKEN.gif", "/p/TOKEN.gif"),
        ("pixel", "/c/TOKEN", "/c/TOKEN"),  # the public URL may send clicks to the pixel
        ("pixel", "/addon/home", None),
        ("click", "/click/c/TOKEN", "/c/TOKEN"),
        ("click", "/p/TOKEN.gif", None),
        ("addon", "/addon/compose", "/addon/compose"),
        ("addon", "/compose", "/addon/compose"),
        ("addon", "/", "/addon"),
        ("slack", "/slack/events", "/slack/events"),
        ("chat", "/chat", "/chat"),
        ("dashboard", "/dashboard/", "/dashboard/"),
    ],
)
def test_paths(function: str, path: str, expected: str | None) -> None:
    assert _path_for(function, path) == expected
