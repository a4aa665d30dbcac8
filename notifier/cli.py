"""`mailbeacon digest --user EMAIL`: build and deliver one digest now, in this process."""

from __future__ import annotations

import json

from mailbeacon.bootstrap import bootstrap
from mailbeacon.bus import HITS, NOTIFY
from mailbeacon.clock import iso
from mailbeacon.config import Config
from mailbeacon.services import check_email


def send_digest_now(config: Config, user: str, *, as_json: bool = False) -> int:
    """Process pending hits first (so the digest is current), then send; prints the outcome."""
    email = check_email(user)
    app = bootstrap(config)
    try:
        if app.worker is not None:
            app.worker.drain([HITS, NOTIFY])
        outcome = app.notifier.send_digest(email, key=f"digest-now-{iso(app.clock.now())}")
        settings = app.store.get_settings(email)
    finally:
        app.close()
    if as_json:
        print(json.dumps({"user": email, "outcome": outcome, "problems": list(settings.problems)}))
    else:
        print(f"digest for {email}: {outcome}")
        for problem in settings.problems:
            print(f"  problem: {problem}")
    return 0
