"""An in-process Mailbeacon (SQLite store, local bus drained by hand) behind Flask's test client,
with the notifier pointed at loopback fakes through the same variables as production, read by
the same ``load_config`` (from a dict, never from the process environment)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from functions.bootstrap import App, bootstrap
from functions.config import load_config
from functions.dashboard.signin import SignInConfig
from functions.standins.google_signin import GoogleSignIn
from functions.standins.webhooks import LOOPBACK_WEBHOOKS
from mailbeacon.bus import HITS, NOTIFY
from mailbeacon.clock import FixedClock
from mailbeacon.tracking import TrackedMessage, track_message
from tests.support.processes import TEST_DEFAULTS

# Today at 09:00 UTC: stored events expire after the retention period counted from real time.
START = datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0)
CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0"


@dataclass
class Rig:
    app: App
    clock: FixedClock
    sleeps: list[float] = field(default_factory=list)

    @property
    def web(self) -> Any:
        from functions.app import create_app

        if not hasattr(self, "_web"):
            self._web = create_app(self.app).test_client()
        return self._web

    def track(
        self, subject: str = "Quarterly plan", owner: str = "ana@example.com", **kw: Any
    ) -> TrackedMessage:
        return track_message(
            self.app.store,
            self.app.urls,
            self.clock,
            records=self.app.store,
            sender=owner,
            recipients=kw.pop("to", ["bo@example.org"]),
            subject=subject,
            sent_at=kw.pop("sent_at", self.clock.now() - timedelta(days=1)),
            **kw,
        )

    def open(self, tracked: TrackedMessage, user_agent: str = CHROME) -> int:
        path = tracked.pixel_url.removeprefix(self.app.urls.base_url)
        return self.web.get(path, headers={"User-Agent": user_agent}).status_code

    def click(self, tracked: TrackedMessage, index: int = 0, user_agent: str = CHROME) -> int:
        path = tracked.links[index][1].removeprefix(self.app.urls.base_url)
        return self.web.get(path, headers={"User-Agent": user_agent}).status_code

    def settle(self) -> int:
        """Run the pipeline and the notifier until nothing is ready."""
        assert self.app.worker is not None
        return self.app.worker.drain([HITS, NOTIFY])

    def settings(self, user: str = "ana@example.com", **changes: Any) -> None:
        from dataclasses import replace

        store = self.app.store
        store.put_settings(replace(store.get_settings(user), **changes))

    def problems(self, user: str = "ana@example.com") -> tuple[str, ...]:
        return self.app.store.get_settings(user).problems


def signin_config(google: GoogleSignIn, domains: str = "acme.test") -> SignInConfig:
    """The dashboard's sign-in settings pointing at ``google``, as ``load_config`` reads them."""
    return load_config(google.env(domains)).dashboard


@pytest.fixture
def make_rig(tmp_path: Path) -> Iterator[Any]:
    apps: list[App] = []

    def make(**env: str) -> Rig:
        clock = FixedClock(START)
        data = tmp_path / f"data{len(apps)}"
        data.mkdir()
        variables = {
            **LOOPBACK_WEBHOOKS,
            **TEST_DEFAULTS,
            **{f"MAILBEACON_{k.upper()}": v for k, v in env.items()},
        }
        config = load_config(variables, data_dir=data, public_url="http://mb.test")
        app = bootstrap(config, clock=clock)
        rig = Rig(app, clock)
        app.notifier.policy.sleep = rig.sleeps.append
        apps.append(app)
        return rig

    yield make
    for app in apps:
        app.close()
