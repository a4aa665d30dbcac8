"""The planned deployment, started on this machine: first the plan's script itself, run against
a stand-in of Google's control plane with the rules of a new project in a strict organisation;
then, from what that left, the emulators, Google's and Slack's stand-ins, every function under
functions-framework with the environment its deploy received, the push relays and the front;
and requests made as Google makes them."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..deploy import FUNCTIONS, RETRY, DeployConfig, assemble_source, plan
from ..standins.cloud_project import CloudProject
from ..standins.emulators import firestore_command, pubsub_command
from ..standins.gcloud import Gcloud
from ..standins.google_chat import Chat
from ..standins.google_signin import GoogleSignIn
from ..standins.google_tokens import TokenIssuer as Signer
from ..standins.pubsub_admin import PubsubAdmin
from ..standins.slack import Slack
from .deployed import Deployed
from .local import Front, Process, PushRelay

PROJECT_NUMBER = "123456789012"
ADDON_CLIENT_ID = "1088000000000-rehearsal.apps.googleusercontent.com"
USER_SUB = "107691503500061507150"
SIGNIN_CLIENT_ID = "1088000000001-dashboard.apps.googleusercontent.com"


class Rehearsal:
    """The deployment's parts, running here, and how to reach them."""

    def __init__(self, config: DeployConfig, source_dir: Path, work: Path) -> None:
        self.declared = config
        # The journey crosses Slack and the dashboard's sign-in, so they are configured for
        # the rehearsal when they are not.
        settings = dict(config.settings)
        settings.setdefault("MAILBEACON_SLACK_CLIENT_ID", "1111.rehearsal")
        settings.setdefault("MAILBEACON_WORKSPACE_DOMAINS", "example.com")
        settings.setdefault("MAILBEACON_SIGNIN_CLIENT_ID", SIGNIN_CLIENT_ID)
        added = sorted(set(settings) - {k for k, _ in config.settings})
        if added:
            print(f"  ....  declared for the rehearsal (unset here): {', '.join(added)}")
        self.config = replace(config, settings=tuple(settings.items()))
        self.source_dir = source_dir.absolute()
        self.work = work
        self.emulators: list[Process] = []
        self.processes: list[Process] = []
        """The functions' processes, as launched (``functions`` once all answer)."""
        self.relays: list[PushRelay] = []
        self.front: Front | None = None
        self.servers: list[Any] = []
        domains = dict(self.config.settings)["MAILBEACON_WORKSPACE_DOMAINS"]
        self.domain = domains.split(",")[0].strip().lower()
        self.user = f"ana@{self.domain}"

    # Start ------------------------------------------------------------------------------------

    def start(self) -> None:
        """Every part, in the order the plan creates them; NotAvailable when an emulator is
        missing (before anything is written)."""
        firestore_cmd, pubsub_cmd = firestore_command(), pubsub_command()
        print(f"  ....  assembling the functions' source folder in {self.source_dir}")
        assemble_source(self.source_dir)
        self._clouds()
        self._plan()
        self._emulators(firestore_cmd, pubsub_cmd)
        self._pubsub()
        self._functions()
        self._relays_and_front()
        # The rehearsal reads Firestore as `mailbeacon stats` would.
        os.environ.update(self.emulator_env)
        from mailbeacon.store.firestore import FirestoreStore

        self.store = FirestoreStore(project=self.config.project, timeout=20)

    def _clouds(self) -> None:
        """Google's and Slack's clouds, and the credentials the deployer would export."""
        self.google = Signer("rehearsal-google")
        self.chat_key = Signer("rehearsal-chat")
        self.signin = GoogleSignIn(SIGNIN_CLIENT_ID, issuer=self.google)
        self.exported = {
            "MAILBEACON_SLACK_CLIENT_SECRET": secrets.token_urlsafe(24),
            "MAILBEACON_SLACK_SIGNING_SECRET": secrets.token_hex(16),
            "MAILBEACON_SMTP_PASSWORD": secrets.token_urlsafe(12),
            "MAILBEACON_SIGNIN_CLIENT_SECRET": self.signin.client_secret,
        }
        client_id = dict(self.config.settings)["MAILBEACON_SLACK_CLIENT_ID"]
        self.slack = Slack(client_id, self.exported["MAILBEACON_SLACK_CLIENT_SECRET"])
        self.chat = Chat()
        self.servers += [
            self.google.server,
            self.chat_key.server,
            self.signin.server,
            self.slack.server,
            self.chat.server,
        ]
        self.addon_sa = f"service-{PROJECT_NUMBER}@gcp-sa-gsuiteaddons.iam.gserviceaccount.com"

    def _plan(self) -> None:
        """The plan's very script, against Google's rules for a new project created today in
        an organisation that enforces the secure-by-default policies; it must pass as is."""
        project = CloudProject.secure_by_default(
            id=self.config.project, number=PROJECT_NUMBER, addon_client_id=ADDON_CLIENT_ID
        )
        self.cloud = Gcloud(self.work / "bin", project)
        script = plan(self.config, source=self.source_dir)
        base = {k: v for k, v in os.environ.items() if not k.startswith("MAILBEACON_")}
        ran = subprocess.run(
            ["bash", "-c", script],
            env={**base, **self.cloud.env(), **self.exported},
            cwd=self.work,
            capture_output=True,
            text=True,
            timeout=300,
        )
        (self.work / "plan.log").write_text(ran.stdout + ran.stderr)
        if ran.returncode != 0:
            raise RuntimeError(f"the plan failed against Google's rules:\n{ran.stderr[-1500:]}")
        self.deployed = Deployed.read(project, self.work / "secrets")
        print(
            f"  ....  the plan ran against Google's rules (a new project, domain-restricted"
            f" sharing, no API enabled, a default build account without roles):"
            f" {len(self.cloud.calls)} gcloud and {len(self.cloud.firebase_calls)} firebase"
            " calls, all accepted"
        )

    def _emulators(self, firestore_cmd: list[str], pubsub_cmd: list[str]) -> None:
        logs = self.work
        for name, log, command in (
            ("Firestore emulator", "firestore.log", firestore_cmd),
            ("Pub/Sub emulator", "pubsub.log", pubsub_cmd),
        ):
            emulator = Process(name, [*command, "--host=127.0.0.1", "--port={port}"], logs / log)
            self.emulators.append(emulator)
            emulator.launch()
        for emulator in self.emulators:
            emulator.wait_ready(
                "/", lambda status, body: status == 200 and body.strip() == b"Ok", 90
            )
        firestore, pubsub = self.emulators
        self.emulator_env = {
            "FIRESTORE_EMULATOR_HOST": f"127.0.0.1:{firestore.port}",
            "PUBSUB_EMULATOR_HOST": f"127.0.0.1:{pubsub.port}",
        }
        print(f"  ....  emulators: Firestore {firestore.url}, Pub/Sub {pubsub.url}")

    def _pubsub(self) -> None:
        """The topics and subscriptions the plan created (a topic without a subscription
        drops what it receives, on the emulator as on Pub/Sub)."""
        self.admin = PubsubAdmin(self.emulator_env["PUBSUB_EMULATOR_HOST"], self.config.project)
        for topic in self.deployed.topics:
            self.admin.topic(topic)
        for name, flags in self.deployed.subscriptions.items():
            self.admin.subscription(name, flags["topic"], int(flags.get("ack-deadline") or 10))

    def _functions(self) -> None:
        """Every function under functions-framework, with the environment and secrets its
        deploy received; only where Google's and Slack's services are is changed."""
        logs = self.work
        self.boundary = {
            # Where Google's and Slack's services are, for this rehearsal only.
            **self.emulator_env,
            "MAILBEACON_GOOGLE_CERTS_URL": self.google.certs_url,
            "MAILBEACON_CHAT_CERTS_URL": self.chat_key.certs_url,
            "MAILBEACON_GOOGLE_AUTH_URL": self.signin.server.url + "/o/oauth2/v2/auth",
            "MAILBEACON_GOOGLE_TOKEN_URL": self.signin.server.url + "/token",
            "MAILBEACON_SLACK_API_URL": self.slack.api_url,
            "MAILBEACON_CHAT_API_URL": self.chat.server.url + "/",
            "MAILBEACON_WEBHOOK_ALLOW_HOSTS": "127.0.0.1",
            # The journey's alerts wait 2 s for hindsight, not the deployment's 30 s: the same
            # code path (the notifier asks Pub/Sub to redeliver), a minute less of waiting.
            "MAILBEACON_ALERT_SETTLE_SECONDS": "2",
        }
        deployed = self.deployed.functions
        print(
            f"  ....  {len(next(iter(deployed.values())))} variables per function as deployed"
            f" (secrets from the Secret Manager stand-in); pointed at local stand-ins:"
            f" {', '.join(sorted(self.boundary))}"
        )
        base = {k: v for k, v in os.environ.items() if not k.startswith("MAILBEACON_")}
        base.pop("GOOGLE_CLOUD_PROJECT", None)
        functions: dict[str, Process] = {}
        for fn in FUNCTIONS:
            env = {**base, **deployed[fn.name], **self.boundary, "PYTHONDONTWRITEBYTECODE": "1"}
            command = [
                sys.executable, "-m", "functions_framework",
                "--source", str(self.source_dir / "main.py"),
                "--target", fn.name, "--host", "127.0.0.1", "--port", "{port}",
            ]  # fmt: skip
            process = Process(fn.name, command, logs / f"{fn.name}.log", env, self.source_dir)
            functions[fn.name] = process
            self.processes.append(process)
            process.launch()
        for process in functions.values():
            process.wait_ready("/healthz", lambda status, body: status > 0, 120)
        self.functions = functions
        print(
            f"  ....  {len(functions)} functions under functions-framework: {', '.join(functions)}"
        )

    def _relays_and_front(self) -> None:
        """Push subscriptions through the relay (retry and dead letters as planned), and the
        front that answers the plan's URLs as Google's front end and Hosting would."""
        for name, flags in self.deployed.subscriptions.items():
            function = self.deployed.pushed_to(name)
            if function is None:
                continue
            relay = PushRelay(
                self.admin,
                name,
                self.functions[function].url + "/",
                flags["dead-letter-topic"],
                min_delay=int(flags.get("min-retry-delay", RETRY["min"]).rstrip("s")),
                max_delay=int(flags.get("max-retry-delay", RETRY["max"]).rstrip("s")),
                max_attempts=int(flags.get("max-delivery-attempts", RETRY["attempts"])),
            )
            self.relays.append(relay.start())
        http = {f.name: self.functions[f.name].port for f in FUNCTIONS}
        invokers = {f.name: self.deployed.invokers(f.name) for f in FUNCTIONS}
        self.front = Front(
            self.config.functions_host,
            self.config.public_url,
            http,
            invokers=invokers,
            rewrites=self.deployed.rewrites(),
            certs_url=self.google.certs_url,
        )
        served = self.config.public_url or self.config.functions_host
        print(f"  ....  the front for {served}: {self.front.url}")

    def stop(self) -> None:
        for relay in self.relays:
            relay.stop()
        if self.front is not None:
            self.front.stop()
        # The functions first (all at once), then the emulators they were using.
        for group in (self.processes, self.emulators):
            for process in group:
                process.terminate()
            for process in group:
                process.stop()
        for server in self.servers:
            server.stop()
        if hasattr(self, "cloud"):
            self.cloud.stop()
        for key in ("FIRESTORE_EMULATOR_HOST", "PUBSUB_EMULATOR_HOST"):
            os.environ.pop(key, None)

    # Requests as Google and Slack make them ------------------------------------------------

    def http(self, method: str, url: str, **kwargs: Any) -> Any:
        import requests

        assert self.front is not None
        kwargs.setdefault("timeout", 120)
        kwargs.setdefault("allow_redirects", False)
        return requests.request(method, self.front.local(url), **kwargs)

    def addon(self, route: str, event: dict[str, Any]) -> dict[str, Any]:
        """POST an add-on event as Google's HTTP runtime does: the add-on service agent's ID
        token for the endpoint URL in the header (Cloud Run's IAM checks it at the front), the
        user's ID token (audience: the add-on's OAuth client) in ``authorizationEventObject``."""
        url = f"{self.config.base('addon')}/addon/{route}"
        system = self.google.id_token(url, self.addon_sa, "1" + PROJECT_NUMBER)
        user = self.google.id_token(ADDON_CLIENT_ID, self.user, USER_SUB, hd=self.domain)
        event = {
            **event,
            "authorizationEventObject": {"systemIdToken": system, "userIdToken": user},
        }
        response = self.http("POST", url, json=event, headers={"Authorization": f"Bearer {system}"})
        if response.status_code != 200:
            raise AssertionError(f"{route}: HTTP {response.status_code} {response.text[:200]}")
        return response.json()
