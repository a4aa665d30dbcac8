"""`mailbeacon deploy --project P --region R --rehearse`: the planned deployment, run here.

What runs is what the plan deploys: the assembled source folder, every function under
functions-framework in its own process with the environment the plan sets (secrets from a
local stand-in for Secret Manager), behind a front that answers the plan's URLs; Firestore and
Pub/Sub are Google's emulators with the plan's topics and subscriptions, pushed by a relay that
keeps the plan's retry and dead-letter policy; Cloud Scheduler is a publish to the digest
topic. Only Google's and Slack's own services are stand-ins (functions/standins/), and
the few variables that point the functions at them are printed as such.

Then it walks a user's journey through the plan's URLs with requests signed the way Google and
Slack sign them (local keys), prints each step with PASS or FAIL, stops everything it started,
and exits non-zero if any step failed.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from ..deploy import DeployConfig
from ..standins.emulators import NotAvailable
from .journey import walk_journey
from .stage import Rehearsal


def rehearse(config: DeployConfig, *, source_dir: Path) -> int:
    """Run the deployment locally, walk the journey, stop everything; 0 only if all passed."""
    print(f"Rehearsing the deployment of project {config.project} in {config.region}")
    work = Path(tempfile.mkdtemp(prefix="mailbeacon-rehearsal-"))
    rehearsal = Rehearsal(config, source_dir, work)
    try:
        rehearsal.start()
    except NotAvailable as exc:
        print(f"mailbeacon: cannot rehearse here: {exc}", file=sys.stderr)
        rehearsal.stop()
        return 2
    except Exception as exc:
        print(f"  FAIL  start the deployment: {exc}", flush=True)
        rehearsal.stop()
        print(f"Logs: {work}")
        return 1
    try:
        journey = walk_journey(rehearsal)
    finally:
        rehearsal.stop()
    failed = [s.name for s in journey.steps if not s.ok]
    if failed:
        print(
            f"Rehearsal FAILED: {len(failed)} of {len(journey.steps)} steps ({', '.join(failed)})"
        )
        print(f"Logs of every process: {work}")
        return 1
    shutil.rmtree(work, ignore_errors=True)  # the logs are kept only when something failed
    print(f"Rehearsal passed: {len(journey.steps)} steps. Everything started here was stopped.")
    return 0


__all__ = ["rehearse"]
