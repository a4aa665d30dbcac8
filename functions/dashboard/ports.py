"""What the dashboard reads of the running Mailbeacon: a Protocol, not the composition root's App.

Bootstrap builds an object with these attributes (today's ``App`` has them all); the pages and
sign-in see only these. Config is read through small views of it (``config.dashboard``,
``config.core.insecure_dev_auth``, ``config.sentwatch``) so this module imports
nothing of ``functions.config``, which itself imports ``signin``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from mailbeacon.clock import Clock
from mailbeacon.push import EndpointRules
from mailbeacon.records import Records
from mailbeacon.sentwatch import SentWatchConfig
from mailbeacon.settings import SettingsBook
from mailbeacon.store import Housekeeping, MessageEvents, ReportingStore, SettingsStore
from mailbeacon.tokens import Keyring, TokenSigner
from mailbeacon.urls import Urls

if TYPE_CHECKING:
    from .live import LiveHub
    from .signin import SignInConfig


class DashboardStore(MessageEvents, ReportingStore, SettingsStore, Housekeeping, Protocol):
    """The store ports the pages read: the list, the overview and one email's page (messages,
    reporting, the timeline), the settings page (get_settings; writes go through the
    SettingsBook), the export (every message's stats, the settings) and the domain page's
    retention (Housekeeping.purge_domain)."""


class PublicKey(Protocol):
    @property
    def public_key(self) -> str: ...


class Vapid(Protocol):
    """Web Push's VAPID keys, loaded on first use (notifier.channels.browser.VapidSource)."""

    @property
    def available(self) -> bool: ...

    def get(self) -> PublicKey | None: ...


class CoreSwitches(Protocol):
    @property
    def insecure_dev_auth(self) -> bool: ...


class SignInConfigs(Protocol):
    @property
    def core(self) -> CoreSwitches: ...

    @property
    def dashboard(self) -> SignInConfig: ...


class DashboardConfig(SignInConfigs, Protocol):
    @property
    def sentwatch(self) -> SentWatchConfig:
        """``labels``: whether the operator turned Gmail labels on (gmail.modify)."""
        ...


class SignInDeps(Protocol):
    """What sign-in reads (the Gate: sessions, CSRF, bearer credentials); the local server's
    live streams use it too, to know whose cookie a stream's request carries."""

    @property
    def config(self) -> SignInConfigs: ...

    @property
    def records(self) -> Records:
        """Sessions, and the personal access tokens' hashes."""
        ...

    @property
    def keyring(self) -> Keyring:
        """Derives the session cookie's and the CSRF tokens' keys."""
        ...

    @property
    def urls(self) -> Urls: ...


class DashboardDeps(SignInDeps, Protocol):
    """Everything the pages, sign-in and (through them) /api/v1 read."""

    @property
    def config(self) -> DashboardConfig: ...

    @property
    def store(self) -> DashboardStore: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def signer(self) -> TokenSigner:
        """Verifies the ``?key=`` of an alert's link."""
        ...

    @property
    def vapid(self) -> Vapid: ...

    @property
    def push_rules(self) -> EndpointRules: ...

    @property
    def settings(self) -> SettingsBook:
        """The one writer of users' settings, with the configured rules."""
        ...

    @property
    def live(self) -> LiveHub:
        """Wakes this process's open streams when its worker stores an event."""
        ...

    @property
    def streams_live(self) -> bool:
        """Whether this process runs the worker (pages stream) or not (pages poll)."""
        ...
