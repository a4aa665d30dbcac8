"""Which HTTP entry point serves which paths: the one table behind the functions' own routing
(functions/main.py), the URLs the deployment hands to every part of the product, and the
custom-domain front (functions/deploy/front.py). A path served by nobody cannot be emitted."""

from __future__ import annotations

MOUNTS: dict[str, tuple[str, ...]] = {
    "pixel": ("/p/", "/healthz"),
    "click": ("/c/",),
    "addon": ("/addon",),
    "chat": ("/chat",),
    "slack": ("/slack",),
    # the pages, /api/v1, the Pub/Sub push of Gmail's notifications, reminders' action links
    "dashboard": ("/dashboard", "/api", "/gmail", "/reminders"),
}
"""HTTP function -> the path prefixes it answers (``/addon`` covers ``/addon/...``)."""
