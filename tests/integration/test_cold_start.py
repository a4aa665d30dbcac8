"""The edge's cold start: what importing the WSGI app loads."""

from __future__ import annotations

import subprocess
import sys


def test_the_edge_imports_no_user_agent_parser() -> None:
    """The pixel's cold start pays for neither ua-parser's rules nor any catalogue."""
    code = (
        "import sys, functions.app, functions.bootstrap;"
        "assert 'ua_parser' not in sys.modules, 'ua_parser imported'"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
