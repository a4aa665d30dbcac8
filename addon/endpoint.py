"""The add-on's HTTP boundary without a web framework: (route, headers, body) -> (status, JSON).

``functions/app.py`` hands every ``POST /addon/...`` here. The route comes from the path
(``/addon/compose/track``), else from ``?route=``, else from the event's ``invokedFunction``
(the action's URL). Verification happens before anything else; a request that fails it
answers 401 and changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from mailbeacon.errors import InvalidInput, MailbeaconError, Unauthorized, UnknownMessage
from mailbeacon.google.gmail import GmailReader
from mailbeacon.records import Namespace
from mailbeacon.validation import whole_number

from . import cards as c
from . import views
from .config import TRIGGERS, AddonConfig, resolve_route
from .consent import missing_scopes, request_scopes
from .events import AddonEvent, parse_event
from .handlers import ROUTES, Core, Handlers
from .identity import Authenticator, ScopesMissing, User

log = logging.getLogger(__name__)


def _route_of_url(url: str) -> str | None:
    try:
        parts = urlsplit(url)
    except ValueError:  # "http://[::1": no route of ours
        return None
    query = parse_qs(parts.query).get("route")
    if query:
        return resolve_route(query[0])
    path = parts.path
    return resolve_route(path.split("/addon/", 1)[1]) if "/addon/" in path else None


class AddonEndpoint:
    """Built once per process (it holds the certificate cache)."""

    def __init__(self, app: Core, cfg: AddonConfig) -> None:
        self.cfg = cfg
        self.store = app.store
        self.auth = Authenticator(cfg)
        self.handlers = Handlers(app, cfg, GmailReader(cfg.gmail_api_url))

    def _remember_chat_user(self, user: User) -> None:
        """The verified user's Google id is their Chat user id (``users/{sub}``, as in Google's
        add-ons-samples python/travel-adk-ai-agent): the only name the Chat app may look their
        DM up by. Learned once, so alerts can reach a DM before the user ever writes to it."""
        if whole_number(user.sub, digits=30) is None:
            return  # dev identities and tokens without a numeric subject
        try:
            name = {"name": f"users/{user.sub}"}
            self.store.add_record(Namespace.CHAT_USERS, user.email, name)  # kept if known
        except MailbeaconError as exc:
            log.warning("could not remember the Chat user of %s: %s", user.email, exc)

    def handle(
        self, path: str, query_route: str | None, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, dict[str, Any]]:
        """Verify, route and answer one request: (HTTP status, JSON body)."""
        try:
            event, problem = parse_event(body), ""
        except InvalidInput as exc:
            event, problem = AddonEvent(), str(exc)  # still verify first: 401 beats 400
        try:
            user = self.auth.authenticate(headers, event)
        except ScopesMissing as exc:
            return 200, request_scopes(exc.scopes)
        except Unauthorized as exc:
            log.warning("add-on request refused: %s", exc)
            return 401, {"error": "unauthorized"}
        if problem:
            return 400, {"error": problem}
        self._remember_chat_user(user)
        route = resolve_route(path) if path.strip("/") else None
        if route is None and query_route:
            route = resolve_route(query_route)
        if route is None and event.invoked_function:
            route = _route_of_url(event.invoked_function)
        if route is None:
            return 404, {"error": f"no add-on route {path or query_route or ''!r}"[:200]}
        missing = missing_scopes(route, event.authorized_scopes)
        if missing:
            return 200, request_scopes(missing)
        handler = ROUTES[route]
        try:
            return 200, handler(self.handlers, event, user)
        except (InvalidInput, UnknownMessage) as exc:
            log.info("add-on %s for %s: %s", route, user.email, exc)
            text = (
                "That email is not one of your tracked emails."
                if isinstance(exc, UnknownMessage)
                else f"Mailbeacon could not do that: {exc}"
            )
            card = views.error_card(text)
            return 200, c.push_card(card) if route in TRIGGERS else c.render(card)
        except MailbeaconError as exc:
            log.error("add-on %s failed: %s", route, exc)
            card = views.error_card("Mailbeacon is having trouble right now. Please try again.")
            return 200, c.push_card(card) if route in TRIGGERS else c.render(card)
