"""Who is calling: a verified Google request and the verified user behind it, or Unauthorized.

Two callers are accepted:
- Google's add-on runtime (HTTP deployment): the ``Authorization`` header holds an ID token of
  the project's add-on service account (audience = the endpoint URL), and the body's
  ``authorizationEventObject.userIdToken`` is the user's ID token (audience = the add-on's OAuth
  client id). Both are verified; the user is the second token's ``email``.
- The Apps Script variant: the header holds ``ScriptApp.getIdentityToken()``, the user's own ID
  token with the script's OAuth client id as audience (listed in MAILBEACON_ADDON_CLIENT_ID).
With ``--insecure-dev-auth`` only, ``Bearer dev:<email>`` stands in for both.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mailbeacon.errors import Unauthorized
from mailbeacon.google.identity import (
    GoogleTokenVerifier,
    bearer,
    dev_identity,
    workspace_email,
)

from .config import AddonConfig
from .consent import missing_scopes
from .events import AddonEvent

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class User:
    """The verified person: ``email`` is lower-cased, ``sub`` is Google's stable user id."""

    email: str
    sub: str = ""


class ScopesMissing(Unauthorized):
    """Google vouched for the request, but the user has not granted what identifies them."""

    def __init__(self, scopes: list[str]) -> None:
        super().__init__(f"the user has not granted {', '.join(scopes)}")
        self.scopes = scopes


class Authenticator:
    """Holds the two verifiers (and their certificate caches) for the life of the process."""

    def __init__(self, config: AddonConfig) -> None:
        self.config = config
        self.system = GoogleTokenVerifier(
            audiences=config.endpoint_audiences,
            emails=config.service_accounts,
            certs_url=config.certs_url,
        )
        self.user = GoogleTokenVerifier(audiences=config.client_ids, certs_url=config.certs_url)

    def authenticate(self, headers: Mapping[str, str], event: AddonEvent) -> User:
        """The verified user behind a request, or Unauthorized."""
        token = bearer(headers)
        if not token:
            raise Unauthorized("no bearer token")
        dev = dev_identity(token, self.config.insecure_dev_auth)
        if dev is not None:
            return User(email=dev, sub=f"dev:{dev}")
        if token.startswith("dev:"):
            raise Unauthorized("dev tokens need `mailbeacon serve --insecure-dev-auth`")
        problems = []
        if self.config.service_accounts:
            try:
                self.system.verify(token)
            except Unauthorized as exc:
                problems.append(f"as the add-on service account: {exc}")
            else:
                if not event.user_id_token:
                    missing = missing_scopes(None, event.authorized_scopes)
                    if missing:  # a partial grant without the email scope: ask for it
                        raise ScopesMissing(missing)
                    raise Unauthorized("no authorizationEventObject.userIdToken in the event")
                return self._user(self.user.verify(event.user_id_token))
        else:
            problems.append("MAILBEACON_ADDON_SERVICE_ACCOUNT is not set")
        if self.config.client_ids:
            try:
                claims = self.user.verify(token)
            except Unauthorized as exc:
                problems.append(f"as a user token: {exc}")
            else:
                return self._user(claims)
        else:
            problems.append("MAILBEACON_ADDON_CLIENT_ID is not set")
        raise Unauthorized("; ".join(problems))

    def _user(self, claims: Mapping[str, Any]) -> User:
        email = workspace_email(claims, self.config.workspace_domains)
        return User(email=email, sub=str(claims.get("sub") or ""))
