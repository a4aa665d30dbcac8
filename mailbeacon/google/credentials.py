"""The identities Mailbeacon calls Google's APIs with, made in one place.

- a domain-wide-delegated service account acting as a user (the sent-mail watch, Gmail labels,
  email alerts sent as the user): a key file named by MAILBEACON_GMAIL_CREDENTIALS;
- the Chat app's own identity: a key file, or the runtime's default credentials;
- a user's OAuth token handed over by the add-on runtime for one event.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=8)
def _service_account(path: str, scopes: tuple[str, ...]) -> Any:
    """The key file, read once per process and scope set (it does not change while we run)."""
    from google.oauth2 import service_account

    return service_account.Credentials.from_service_account_file(path, scopes=list(scopes))


def delegated(path: str, scopes: Sequence[str], user: str) -> Any:
    """Credentials of the service account in ``path`` acting as ``user``."""
    return _service_account(path, tuple(scopes)).with_subject(user)


def app_identity(path: str | None, scopes: Sequence[str], *, anonymous: bool = False) -> Any:
    """An app's own credentials: its key file if configured; none for a loopback stand-in
    (``anonymous``); else Application Default Credentials (the runtime's service account)."""
    if path:
        return _service_account(path, tuple(scopes))
    if anonymous:
        from google.auth.credentials import AnonymousCredentials

        return AnonymousCredentials()
    import google.auth

    credentials, _project = google.auth.default(scopes=list(scopes))
    return credentials


def user_token(access_token: str) -> Any:
    """A user's OAuth access token as google-auth credentials (no refresh: it is per event)."""
    from google.oauth2.credentials import Credentials

    return Credentials(access_token)
