"""The HTTP deployment descriptor for `gcloud workspace-add-ons deployments create`.

Generated from the same route table the server answers, so the triggers Google calls and the
URLs the server serves cannot drift apart. Field names follow the gsuiteaddons v1 Deployment
(lowerCamelCase; ``composeTrigger.actions[]`` with ``label``/``runFunction``, not the Apps Script
manifest's ``selectActions``/``text``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mailbeacon.errors import InvalidInput

from .config import COMPOSE, HOMEPAGE, MESSAGE

DEFAULT_LOGO = (
    "https://www.gstatic.com/images/icons/material/system/1x/mark_email_read_black_48dp.png"
)

# Minimal scopes, each with why it is needed and how Google classes it (docs/addon.md).
SCOPES: dict[str, str] = {
    "https://www.googleapis.com/auth/gmail.addons.execute": (
        "run as a Gmail add-on at all (non-sensitive)"
    ),
    "https://www.googleapis.com/auth/gmail.addons.current.action.compose": (
        "insert the pixel and tracked links into the open draft; every compose add-on needs it"
        " (non-sensitive)"
    ),
    "https://www.googleapis.com/auth/gmail.addons.current.message.metadata": (
        "see the open draft's recipients (draftAccess METADATA) (sensitive)"
    ),
    "https://www.googleapis.com/auth/gmail.addons.current.message.readonly": (
        "read only the message the user has open, to find our pixel in it (sensitive)"
    ),
    "https://www.googleapis.com/auth/userinfo.email": (
        "the user's verified email in userIdToken, which scopes every read (non-sensitive)"
    ),
}


def check_base_url(base_url: str) -> str:
    """Google calls HTTPS endpoints only; a path is fine, a query or fragment is not."""
    parts = urlsplit(base_url.strip())
    if parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment:
        raise InvalidInput(f"--base-url must be an https:// URL without a query: {base_url!r}")
    return base_url.strip().rstrip("/")


def build_deployment(
    base_url: str,
    *,
    name: str = "Mailbeacon",
    logo_url: str = DEFAULT_LOGO,
    link_prefixes: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The descriptor as a dict. ``base_url`` is the add-on function's base; ``link_prefixes``
    are the other bases its cards open (the dashboard, the Slack install), when they differ."""
    base = check_base_url(base_url)

    def url(route: str) -> str:
        return f"{base}/addon/{route}"

    descriptor: dict[str, Any] = {
        "oauthScopes": list(SCOPES),
        "addOns": {
            "common": {
                "name": name,
                "logoUrl": logo_url,
                "layoutProperties": {"primaryColor": "#1a73e8", "secondaryColor": "#188038"},
                "homepageTrigger": {"runFunction": url(HOMEPAGE), "enabled": True},
                "openLinkUrlPrefixes": list(dict.fromkeys((f"{base}/", *link_prefixes))),
            },
            "gmail": {
                "contextualTriggers": [{"unconditional": {}, "onTriggerFunction": url(MESSAGE)}],
                "composeTrigger": {
                    "actions": [{"runFunction": url(COMPOSE), "label": name, "logoUrl": logo_url}],
                    "draftAccess": "METADATA",
                },
            },
            # OPT_IN as in Google's sample python/travel-adk-ai-agent/deployment.json: users may
            # grant some scopes; the endpoint asks for what a route lacks (addon/consent.py).
            "httpOptions": {
                "authorizationHeader": "SYSTEM_ID_TOKEN",
                "granularOauthPermissionSupport": "OPT_IN",
            },
        },
    }
    return descriptor


def write_deployment(path: Path | None, base_url: str, **kwargs: str) -> str:
    """Write (or, for ``None``, just return) the descriptor as stable, indented JSON."""
    text = json.dumps(build_deployment(base_url, **kwargs), indent=2) + "\n"
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(path)
    return text
