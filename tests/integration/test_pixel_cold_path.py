"""The pixel's cold path stays light: it answers and publishes without loading Firestore's
client, gRPC or google-cloud-pubsub (each costs hundreds of milliseconds at cold start), nor
the rest of the product (the store, the notifier, the add-on, the web app's views)."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys

import pytest

from functions.standins.pubsub_admin import PubsubAdmin
from mailbeacon.tokens import Keyring, TokenSigner, new_message_id
from tests.support.cloud import ROOT
from tests.support.emulators import Emulators
from tests.support.processes import wait_until

pytestmark = pytest.mark.emulators

PROBE = """
import json, sys
import functions_framework
app = functions_framework.create_app("pixel", "functions/main.py")
response = app.test_client().get(sys.argv[1], headers={"User-Agent": "Mozilla/5.0"})
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("grpc", "requests", "notifier")
               or m.split(".")[0] == "addon"
               or m.startswith(("google.cloud.firestore", "google.cloud.pubsub", "functions.app",
                                "functions.bootstrap", "functions.dashboard.views",
                                "mailbeacon.store.firestore", "mailbeacon.classify")))
print(json.dumps({"status": response.status_code, "bytes": len(response.data), "heavy": heavy}))
"""


def test_the_pixel_publishes_without_loading_firestore_grpc_or_requests(
    emulators: Emulators,
) -> None:
    prefix = f"c{secrets.token_hex(3)}-"
    admin = PubsubAdmin(emulators.pubsub_host, emulators.project)
    admin.topic(prefix + "hits")
    admin.subscription(prefix + "hits-check", prefix + "hits")
    secret = f"1:{secrets.token_hex(32)}"
    message_id = new_message_id()
    token = TokenSigner(Keyring.parse(secret)).pixel(message_id)
    env = {
        **os.environ,
        **emulators.env,
        "MAILBEACON_STORE": "firestore",
        "MAILBEACON_BUS": "pubsub",
        "MAILBEACON_TOPIC_PREFIX": prefix,
        "MAILBEACON_SECRET": secret,
        "MAILBEACON_PUBLIC_URL": "http://127.0.0.1",
    }
    result = subprocess.run(
        [sys.executable, "-c", PROBE, f"/p/{token}.gif"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    probe = json.loads(result.stdout.splitlines()[-1])
    assert probe == {"status": 200, "bytes": 43, "heavy": []}
    (received,) = wait_until(lambda: admin.pull(prefix + "hits-check", immediately=True))
    assert received["message"]["attributes"] == {"kind": "open", "message_id": message_id}
