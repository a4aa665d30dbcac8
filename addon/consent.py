"""Granular OAuth consent: a user may grant the add-on only some of its scopes.

With ``httpOptions.granularOauthPermissionSupport: OPT_IN`` in the deployment (as in Google's
sample add-ons-samples/python/travel-adk-ai-agent/deployment.json), each event carries the
scopes the user granted in ``authorizationEventObject.authorizedScopes``. A route that needs a
scope the user has not granted answers ``{"requesting_google_scopes": {"scopes": [...]}}``,
and Google asks the user for exactly those, then sends the event again. Both field names are
Google's: https://developers.google.com/workspace/add-ons/guides/alternate-runtimes ("Manage
granular permissions": ``{"requesting_google_scopes": {"scopes": [...]}}``, or ``all_scopes``)
and https://developers.google.com/workspace/chat/authenticate-authorize-granular-oauth-permissions
("check the authorizationEventObject.authorizedScopes field. If a required scope is missing,
return a requesting_google_scopes action"). An event without ``authorizedScopes`` comes from an
all-or-nothing consent and needs no check; if a call is then refused for a scope, the endpoint
asks for it all the same.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .config import COMPOSE, INSERT_LINK, MESSAGE, TRACK

EXECUTE = "https://www.googleapis.com/auth/gmail.addons.execute"
COMPOSE_ACTION = "https://www.googleapis.com/auth/gmail.addons.current.action.compose"
METADATA = "https://www.googleapis.com/auth/gmail.addons.current.message.metadata"
READ_MESSAGE = "https://www.googleapis.com/auth/gmail.addons.current.message.readonly"
EMAIL = "https://www.googleapis.com/auth/userinfo.email"

BASE = (EXECUTE, EMAIL)  # run at all, and know who the user is (userIdToken's email)
NEEDS: dict[str, tuple[str, ...]] = {
    COMPOSE: (*BASE, COMPOSE_ACTION, METADATA),
    TRACK: (*BASE, COMPOSE_ACTION, METADATA),
    INSERT_LINK: (*BASE, COMPOSE_ACTION, METADATA),
    MESSAGE: (*BASE, READ_MESSAGE),
}


def missing_scopes(route: str | None, authorized: Iterable[str] | None) -> list[str]:
    """The scopes ``route`` needs that the user has not granted (none when not reported)."""
    if authorized is None:
        return []
    granted = set(authorized)
    return [scope for scope in NEEDS.get(route or "", BASE) if scope not in granted]


def request_scopes(scopes: Iterable[str]) -> dict[str, Any]:
    """The response that makes Google ask the user for ``scopes``."""
    return {"requesting_google_scopes": {"scopes": list(scopes)}}
