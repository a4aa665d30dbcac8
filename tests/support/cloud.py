"""The cloud shape on loopback: Pub/Sub emulator administration over REST, and our Cloud
Functions entry points served by functions-framework as subprocesses."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from tests.support.processes import free_port, stop_process, wait_until

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS_FRAMEWORK = [sys.executable, "-m", "functions_framework"]


@dataclass
class PubsubAdmin:
    """Topics, subscriptions, pulls and acks on the emulator, through its REST API."""

    host: str
    project: str

    def _url(self, path: str) -> str:
        return f"http://{self.host}/v1/projects/{self.project}/{path}"

    def create_topic(self, topic_id: str) -> None:
        requests.put(self._url(f"topics/{topic_id}"), timeout=10).raise_for_status()

    def create_subscription(
        self, sub_id: str, topic_id: str, *, push_endpoint: str | None = None
    ) -> None:
        body: dict[str, Any] = {
            "topic": f"projects/{self.project}/topics/{topic_id}",
            "ackDeadlineSeconds": 10,
        }
        if push_endpoint:
            body["pushConfig"] = {"pushEndpoint": push_endpoint}
        requests.put(self._url(f"subscriptions/{sub_id}"), json=body, timeout=10).raise_for_status()

    def publish(self, topic_id: str, data: bytes, attributes: dict[str, str] | None = None) -> str:
        message: dict[str, Any] = {"data": base64.b64encode(data).decode()}
        if attributes:
            message["attributes"] = attributes
        response = requests.post(
            self._url(f"topics/{topic_id}:publish"), json={"messages": [message]}, timeout=10
        )
        response.raise_for_status()
        return response.json()["messageIds"][0]

    def pull(self, sub_id: str, max_messages: int = 10) -> list[dict[str, Any]]:
        response = requests.post(
            self._url(f"subscriptions/{sub_id}:pull"),
            json={"maxMessages": max_messages, "returnImmediately": True},
            timeout=30,
        )
        response.raise_for_status()
        return response.json().get("receivedMessages", [])

    def ack(self, sub_id: str, ack_ids: list[str]) -> None:
        requests.post(
            self._url(f"subscriptions/{sub_id}:acknowledge"), json={"ackIds": ack_ids}, timeout=10
        ).raise_for_status()

    def nack(self, sub_id: str, ack_ids: list[str]) -> None:
        """Ask for redelivery now, as a failed push would."""
        requests.post(
            self._url(f"subscriptions/{sub_id}:modifyAckDeadline"),
            json={"ackIds": ack_ids, "ackDeadlineSeconds": 0},
            timeout=10,
        ).raise_for_status()


def push_envelope(received: dict[str, Any], subscription: str) -> dict[str, Any]:
    """The JSON body Pub/Sub's push delivery POSTs for one received message."""
    return {"message": received["message"], "subscription": subscription}


@dataclass
class FunctionProcess:
    """One entry point of functions/main.py under functions-framework, on a free port."""

    target: str
    env: dict[str, str]
    log_dir: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> str:
        return (self.log_dir / f"{self.target}-{self.port}.log").read_text()

    def _answers(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"{self.target} exited:\n{self.log}")
        try:
            urllib.request.urlopen(self.url + "/healthz", timeout=1).close()
        except urllib.error.HTTPError:
            return True  # any HTTP answer means it is serving
        except OSError:
            return False
        return True

    def start(self) -> FunctionProcess:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [
                *FUNCTIONS_FRAMEWORK,
                "--source",
                str(ROOT / "functions" / "main.py"),
                "--target",
                self.target,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            cwd=ROOT,
            env={**os.environ, **self.env},
            stdout=(self.log_dir / f"{self.target}-{self.port}.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        wait_until(self._answers, timeout=30)
        return self

    def post_json(self, body: dict[str, Any]) -> requests.Response:
        return requests.post(
            self.url + "/",
            data=json.dumps(body),
            timeout=60,
            headers={"Content-Type": "application/json"},
        )

    def stop(self) -> None:
        stop_process(self.proc)
        self.proc = None
