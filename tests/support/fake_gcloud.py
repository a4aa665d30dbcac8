#!/usr/bin/env python3
"""A stand-in for the gcloud command, to run a deploy plan for real on this machine.

Every call is appended as a JSON argv list to $FAKE_GCLOUD_LOG. Resources come into being
when a ``create`` runs and ``describe`` finds them afterwards (state in $FAKE_GCLOUD_STATE),
so running a plan twice shows what a redeploy changes. Outputs the plan reads are canned:
the project number and the add-on's authorization (``get-authorization``).
"""

import json
import os
import sys
from pathlib import Path

PROJECT_NUMBER = "123456789012"
ADDON_SA = f"service-{PROJECT_NUMBER}@gcp-sa-gsuiteaddons.iam.gserviceaccount.com"
ADDON_CLIENT_ID = "112233445566778899000"


def main() -> int:
    argv = sys.argv[1:]
    with open(os.environ["FAKE_GCLOUD_LOG"], "a") as log:
        log.write(json.dumps(argv) + "\n")
    state_path = Path(os.environ["FAKE_GCLOUD_STATE"])
    state = json.loads(state_path.read_text()) if state_path.exists() else {}
    # Resources are known by their id: an account's email and its id are one resource.
    words = [a.split("@")[0] for a in argv if not a.startswith("-")]
    if words[:1] == ["scheduler"]:
        words = [w for w in words if w != "pubsub"]  # "jobs create pubsub NAME" makes job NAME
    fmt = next((a for a in argv if a.startswith("--format=")), "")
    if words[:2] == ["projects", "describe"]:
        print(PROJECT_NUMBER)
    elif words[:2] == ["workspace-add-ons", "get-authorization"]:
        print(ADDON_SA if "serviceAccountEmail" in fmt else ADDON_CLIENT_ID)
    elif "describe" in words:
        i = words.index("describe")
        key = " ".join([*words[:i], *words[i + 1 :]])
        if words[:2] == ["secrets", "versions"]:
            key = "secret-version " + next(a for a in argv if a.startswith("--secret="))[9:]
        return 0 if key in state else 1
    elif "create" in words:
        i = words.index("create")
        state[" ".join([*words[:i], *words[i + 1 :]])] = ""
        if words[0] == "secrets" and "--data-file=-" in argv:
            state[f"secret-version {words[2]}"] = sys.stdin.read()
    elif words[:3] == ["secrets", "versions", "add"]:
        state[f"secret-version {words[3]}"] = sys.stdin.read()
    elif words[:3] == ["secrets", "versions", "access"]:
        key = "secret-version " + next(a for a in argv if a.startswith("--secret="))[9:]
        if key not in state:
            return 1
        sys.stdout.write(state[key])
    state_path.write_text(json.dumps(state))
    return 0


if __name__ == "__main__":
    sys.exit(main())
