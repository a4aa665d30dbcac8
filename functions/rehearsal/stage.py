"""The planned deployment, started on this machine: the emulators, Google's and Slack's
stand-ins, every function under functions-framework with the plan's environment, the push
relays and the front; and requests made as Google makes them."""

from __future__ import annotations

import os
import secrets
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..deploy import FUNCTIONS, RETRY, SUBSCRIBERS, TOPIC_IDS, DeployConfig, assemble_source
from ..standins.emulators import firestore_command, pubsub_command
from ..standins.google_chat import Chat
from ..standins.google_tokens import TokenIssuer as Signer
from ..standins.pubsub_admin import PubsubAdmin
from ..standins.slack import Slack
from .local import Front, Process, PushRelay

PROJECT_NUMBER = "123456789012"
ADDON_CLIENT_ID = "1088000000000-rehearsal.apps.googleusercontent.com"
USER_SUB = "107691503500061507150"


class Rehearsal:
    """The deployment's parts, running here, and how to reach them."""

    def __init__(self, config: DeployConfig, source_dir: Path, work: Path) -> None:
        self.declared = config
        # The journey crosses Slack, so Slack is configured for the rehearsal if it is not.
        settings = dict(config.settings)
        settings.setdefault("MAILBEACON_SLACK_CLIENT_ID", "1111.rehearsal")
        settings.setdefault("MAILBEACON_WORKSPACE_DOMAINS", "example.com")
        added = sorted(set(settings) - {k for k, _ in config.settings})
        if added:
            print(f"  ....  declared for the rehearsal (unset here): {', '.join(added)}")
        self.config = replace(config, settings=tuple(settings.items()))
        self.source_dir = source_dir
        self.work = work
        self.processes: list[Process] = []
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
        self._emulators(firestore_cmd, pubsub_cmd)
        self._clouds()
        self._topics()
        self._functions()
        self._relays_and_front()
        # The rehearsal reads Firestore as `mailbeacon stats` would.
        os.environ.update(self.emulator_env)
        from mailbeacon.store.firestore import FirestoreStore

        self.store = FirestoreStore(project=self.config.project, timeout=20)

    def _emulators(self, firestore_cmd: list[str], pubsub_cmd: list[str]) -> None:
        logs = self.work
        for name, log, command in (
            ("Firestore emulator", "firestore.log", firestore_cmd),
            ("Pub/Sub emulator", "pubsub.log", pubsub_cmd),
        ):
            emulator = Process(name, [*command, "--host=127.0.0.1", "--port={port}"], logs / log)
            self.processes.append(emulator)
            emulator.start("/", lambda status, body: status == 200 and body.strip() == b"Ok", 90)
        firestore, pubsub = self.processes[0], self.processes[1]
        self.emulator_env = {
            "FIRESTORE_EMULATOR_HOST": f"127.0.0.1:{firestore.port}",
            "PUBSUB_EMULATOR_HOST": f"127.0.0.1:{pubsub.port}",
        }
        print(f"  ....  emulators: Firestore {firestore.url}, Pub/Sub {pubsub.url}")

    def _clouds(self) -> None:
        """Google's and Slack's clouds, and Secret Manager's values."""
        self.google = Signer("rehearsal-google")
        self.chat_key = Signer("rehearsal-chat")
        self.secret_manager = {
            "mailbeacon-secret": "1:" + secrets.token_hex(32),
            "mailbeacon-slack-client-secret": secrets.token_urlsafe(24),
            "mailbeacon-slack-signing-secret": secrets.token_hex(16),
            "mailbeacon-smtp-password": secrets.token_urlsafe(12),
            "mailbeacon-signin-client-secret": secrets.token_urlsafe(12),
            "mailbeacon-vapid": _vapid_pem(),
        }
        client_id = dict(self.config.settings)["MAILBEACON_SLACK_CLIENT_ID"]
        self.slack = Slack(client_id, self.secret_manager["mailbeacon-slack-client-secret"])
        self.chat = Chat()
        self.servers += [
            self.google.server,
            self.chat_key.server,
            self.slack.server,
            self.chat.server,
        ]
        self.addon_sa = f"service-{PROJECT_NUMBER}@gcp-sa-gsuiteaddons.iam.gserviceaccount.com"

    def _topics(self) -> None:
        """Pub/Sub: the plan's topics and dead-letter topics."""
        self.admin = PubsubAdmin(self.emulator_env["PUBSUB_EMULATOR_HOST"], self.config.project)
        for topic in SUBSCRIBERS:
            self.admin.topic(TOPIC_IDS[topic])
            self.admin.topic(f"{TOPIC_IDS[topic]}-dead")

    def _functions(self) -> None:
        """Every function under functions-framework, with the plan's environment."""
        logs = self.work
        refs = {
            "PROJECT_NUMBER": PROJECT_NUMBER,
            "ADDON_SA": self.addon_sa,
            "ADDON_CLIENT_ID": ADDON_CLIENT_ID,
        }
        planned = self.config.resolved_environment(refs)
        mounted = {s.env: self.secret_manager[s.name] for s in self.config.secrets()}
        self.boundary = {
            # Where Google's and Slack's services are, for this rehearsal only.
            **self.emulator_env,
            "MAILBEACON_GOOGLE_CERTS_URL": self.google.certs_url,
            "MAILBEACON_CHAT_CERTS_URL": self.chat_key.certs_url,
            "MAILBEACON_SLACK_API_URL": self.slack.api_url,
            "MAILBEACON_CHAT_API_URL": self.chat.server.url + "/",
            "MAILBEACON_WEBHOOK_ALLOW_HOSTS": "127.0.0.1",
        }
        print(
            f"  ....  {len(planned)} planned variables and {len(mounted)} secrets "
            f"({', '.join(sorted(mounted))}) from the Secret Manager stand-in; pointed at local "
            f"stand-ins: {', '.join(sorted(self.boundary))}"
        )
        base = {k: v for k, v in os.environ.items() if not k.startswith("MAILBEACON_")}
        base.pop("GOOGLE_CLOUD_PROJECT", None)
        functions: dict[str, Process] = {}
        for fn in FUNCTIONS:
            env = {
                **base,
                **planned,
                "THREADS": str(fn.concurrency),
                **mounted,
                **self.boundary,
                "PYTHONDONTWRITEBYTECODE": "1",
            }
            command = [
                sys.executable, "-m", "functions_framework",
                "--source", str(self.source_dir / "main.py"),
                "--target", fn.name, "--host", "127.0.0.1", "--port", "{port}",
            ]  # fmt: skip
            process = Process(fn.name, command, logs / f"{fn.name}.log", env, self.source_dir)
            functions[fn.name] = process
            self.processes.append(process)
            process.start("/healthz", lambda status, body: status > 0, 120)
        self.functions = functions
        print(
            f"  ....  {len(functions)} functions under functions-framework: {', '.join(functions)}"
        )

    def _relays_and_front(self) -> None:
        """Push subscriptions through the relay (retry and dead letters as planned), and the
        front that answers the plan's URLs."""
        functions = self.functions
        for topic, fn_name in SUBSCRIBERS.items():
            sub = f"{TOPIC_IDS[topic]}-{fn_name.replace('_', '-')}"
            self.admin.subscription(sub, TOPIC_IDS[topic], RETRY["ack_deadline"])
            relay = PushRelay(
                self.admin,
                sub,
                functions[fn_name].url + "/",
                f"{TOPIC_IDS[topic]}-dead",
                min_delay=int(RETRY["min"].rstrip("s")),
                max_delay=int(RETRY["max"].rstrip("s")),
                max_attempts=int(RETRY["attempts"]),
            )
            self.relays.append(relay.start())
        http = {f.name: functions[f.name].port for f in FUNCTIONS if f.public}
        self.front = Front(self.config.functions_host, self.config.public_url, http)
        served = self.config.public_url or self.config.functions_host
        print(f"  ....  the front for {served}: {self.front.url}")

    def stop(self) -> None:
        for relay in self.relays:
            relay.stop()
        if self.front is not None:
            self.front.stop()
        for process in reversed(self.processes):
            process.stop()
        for server in self.servers:
            server.stop()
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
        token for the endpoint URL in the header, the user's ID token (audience: the add-on's
        OAuth client) in ``authorizationEventObject``."""
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


def _vapid_pem() -> str:
    """A P-256 key as PKCS#8 PEM: what the plan's openssl command stores in Secret Manager."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
