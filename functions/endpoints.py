"""Which HTTP entry point serves which paths: the one table behind the functions' own routing
(functions/main.py), the URLs the deployment hands to every part of the product, and the
custom-domain front (functions/front.py). A path served by nobody cannot be emitted."""

from __future__ import annotations

MOUNTS: dict[str, tuple[str, ...]] = {
    "pixel": ("/p/", "/healthz"),
    "click": ("/c/",),
    "addon": ("/addon",),
    "chat": ("/chat",),
    "slack": ("/slack",),
    "dashboard": ("/dashboard", "/api"),  # the pages and /api/v1
}
"""HTTP function -> the path prefixes it answers (``/addon`` covers ``/addon/...``)."""

SERVICE_OF_URL = {"addon": "addon", "chat": "chat", "slack": "slack", "dashboard": "dashboard"}
"""The MAILBEACON_<NAME>_URL variables, each the base of the function serving ``/<name>``."""


def function_for(path: str) -> str | None:
    """The HTTP function that serves ``path`` on one shared domain, or None."""
    for name, prefixes in MOUNTS.items():
        for prefix in prefixes:
            bare = prefix.rstrip("/")
            if path == bare or path.startswith(bare + "/"):
                return name
    return None
