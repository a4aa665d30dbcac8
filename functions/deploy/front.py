"""The front of a custom domain: which function serves each path of ``https://DOMAIN/...``.

On the default URLs every function has its own base (``https://REGION-PROJECT.cloudfunctions.net/
NAME``) and nothing needs routing. A custom domain needs a front that sends ``/p/...`` to the
pixel, ``/addon/...`` to the add-on and so on; this module derives it from the one mount table
(functions/endpoints.py) as Firebase Hosting rewrites to the functions' Cloud Run services
(``rewrites[].run.serviceId/region``: Firebase Hosting REST API v1beta1, ``Rewrite`` and
``CloudRunRewrite``; firebase.json takes the same fields). The rehearsal's local front routes
with :func:`route`, the same table.
"""

from __future__ import annotations

from typing import Any

from ..endpoints import MOUNTS
from .declaration import DeployConfig
from .resources import function as declared


def rules() -> list[tuple[str, str]]:
    """(glob, function) in match order: each public function's mount as itself and as a
    folder. Hosting reaches only public Cloud Run services (it forwards no identity), so the
    add-on, which only Google's add-on runtime may invoke, keeps its own URL."""
    table: list[tuple[str, str]] = []
    for function, prefixes in MOUNTS.items():
        if not declared(function).public:
            continue
        for prefix in prefixes:
            bare = prefix.rstrip("/")
            if not prefix.endswith("/"):
                table.append((bare, function))
            table.append((f"{bare}/**", function))
    return table


def matches(glob: str, path: str) -> bool:
    """Whether a Hosting rewrite's ``source`` glob matches ``path``: ``/x`` exactly, ``/x/**``
    anything below ``/x/``."""
    if glob.endswith("/**"):
        folder = glob[: -len("/**")]
        return path.startswith(folder + "/")
    return path == glob


def route(path: str) -> str | None:
    """The function the front sends ``path`` to; None answers 404 at the front."""
    return next((fn for glob, fn in rules() if matches(glob, path)), None)


def firebase_json(config: DeployConfig) -> dict[str, Any]:
    """firebase.json for Hosting on the custom domain. Nothing is served from ``public``; every
    path we emit is rewritten to its function, anything else is Hosting's 404."""
    return {
        "hosting": {
            "site": config.hosting_site,
            "public": "public",
            "cleanUrls": False,
            "trailingSlash": False,
            "rewrites": [
                {"source": glob, "run": {"serviceId": fn, "region": config.region}}
                for glob, fn in rules()
            ],
        }
    }
