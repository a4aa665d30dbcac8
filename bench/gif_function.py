"""The judge's baseline: a functions-framework function that only returns the 43-byte GIF."""

from __future__ import annotations

import base64
from typing import Any

import functions_framework

GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==")
NO_STORE = "no-store, no-cache, must-revalidate, private, max-age=0"


@functions_framework.http
def gif(request: Any) -> Any:
    return GIF, 200, {"Content-Type": "image/gif", "Cache-Control": NO_STORE, "Expires": "0"}
