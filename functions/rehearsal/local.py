"""The deployment's moving parts on this machine: emulators, functions, the front, the relay.

Google's Firestore and Pub/Sub emulators are started as the test suite starts them
(functions/standins/emulators.py); every function runs under
functions-framework in its own process, from the assembled source folder, with the
environment the plan gives it. Every process is started with the kernel told to stop it if we
die, and stopped by us at the end.
"""

from __future__ import annotations

import base64
import http.client
import json
import subprocess
import threading
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..deploy.front import matches
from ..standins.emulators import die_with_parent
from ..standins.loopback import free_port
from ..standins.polling import wait_for
from ..standins.pubsub_admin import PubsubAdmin


@dataclass
class Process:
    """One child process on a free loopback port, its output in ``log``."""

    name: str
    command: list[str]
    log: Path
    env: Mapping[str, str] | None = None
    cwd: Path | None = None
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def launch(self) -> None:
        """Start the process without waiting: several start side by side (wait_ready after)."""
        command = [part.replace("{port}", str(self.port)) for part in self.command]
        self.proc = subprocess.Popen(
            command,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
            env=None if self.env is None else dict(self.env),
            cwd=self.cwd,
            preexec_fn=die_with_parent,
        )

    def wait_ready(
        self, ready_path: str, ready: Callable[[int, bytes], bool], timeout: float
    ) -> None:
        def answers() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                tail = self.log.read_text(errors="replace")[-1500:]
                raise RuntimeError(f"{self.name} exited:\n{tail}")
            try:
                with urllib.request.urlopen(self.url + ready_path, timeout=2) as response:
                    return ready(response.status, response.read())
            except urllib.error.HTTPError as exc:
                return ready(exc.code, b"")
            except OSError:
                return False

        wait_for(answers, timeout, f"{self.name} to answer on {self.url}")

    def terminate(self) -> None:
        """Ask the process to stop without waiting: several stop side by side (stop after)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()

    def stop(self) -> None:
        self.terminate()
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


class PushRelay:
    """Pub/Sub push for one subscription, with the plan's retry policy and dead-lettering: the
    emulator's push delivery has neither. Each message is POSTed as Pub/Sub's push envelope
    (``{"message": ..., "subscription": ...}``) to the function; a 2xx acknowledges it, anything
    else redelivers after an exponential backoff between the policy's bounds, and after
    ``max_attempts`` the message goes to the dead-letter topic."""

    def __init__(
        self,
        admin: PubsubAdmin,
        subscription: str,
        endpoint: str,
        dead_topic: str,
        *,
        min_delay: int,
        max_delay: int,
        max_attempts: int,
    ) -> None:
        self.admin, self.sub, self.endpoint, self.dead = admin, subscription, endpoint, dead_topic
        self.min_delay, self.max_delay, self.max_attempts = min_delay, max_delay, max_attempts
        self.attempts: dict[str, int] = {}
        self.delivered = 0
        self.dead_lettered = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"relay-{subscription}")

    def start(self) -> PushRelay:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _post(self, envelope: dict[str, Any]) -> int:
        import requests

        try:
            return requests.post(self.endpoint, json=envelope, timeout=120).status_code
        except requests.RequestException:
            return 599

    def _run(self) -> None:
        path = f"projects/{self.admin.project}/subscriptions/{self.sub}"
        while not self._stop.is_set():
            try:
                received = self.admin.pull(self.sub)
            except Exception:  # the emulator is being stopped
                if self._stop.wait(0.5):
                    return
                continue
            for item in received:
                message = item["message"]
                status = self._post({"message": message, "subscription": path})
                if 200 <= status < 300:
                    self.delivered += 1
                    self.admin.ack(self.sub, item["ackId"])
                    continue
                tries = self.attempts[message["messageId"]] = (
                    self.attempts.get(message["messageId"], 0) + 1
                )
                if tries >= self.max_attempts:
                    self.admin.publish(self.dead, base64.b64decode(message.get("data", "")))
                    self.admin.ack(self.sub, item["ackId"])
                    self.dead_lettered += 1
                else:
                    delay = min(self.max_delay, self.min_delay * 2 ** (tries - 1))
                    self.admin.retry_in(self.sub, item["ackId"], delay)


CUSTOM = "/~custom"
"""A path prefix marking a request for the custom domain (one loopback port serves both)."""
HOSTING_EGRESS = "35.191.10.7"
"""The address Google's front end sees a Firebase Hosting request come from (an edge's)."""


def _hosting_route(rewrites: list[dict[str, Any]], path: str) -> str | None:
    """The Cloud Run service Hosting sends ``path`` to: the first rewrite whose ``source``
    glob matches (``/x`` exactly, ``/x/**`` below it)."""
    for rewrite in rewrites:
        if matches(rewrite["source"], path):
            return str(rewrite["run"]["serviceId"])
    return None


class Front:
    """The URLs of the plan, served on loopback with the platform's rules.

    ``https://REGION-PROJECT.cloudfunctions.net/NAME/...`` goes to function NAME as Google's
    front end does: it appends the caller's address to X-Forwarded-For and, for a function
    whose invoker check is on, admits only a Google-signed ID token of one of its invokers
    (401 without one, 403 for anyone else). A custom domain goes through Firebase Hosting as
    deployed: its rewrites route, every cookie but ``__session`` is stripped
    (https://firebase.google.com/docs/hosting/manage-cache#using_cookies), and Hosting's own
    address lands after the client's in X-Forwarded-For. ``local(url)`` turns a plan URL into
    this front's."""

    def __init__(
        self,
        functions_host: str,
        custom_domain: str | None,
        ports: dict[str, int],
        *,
        invokers: dict[str, set[str] | None] | None = None,
        rewrites: list[dict[str, Any]] | None = None,
        certs_url: str = "",
    ):
        self.functions_host = functions_host.rstrip("/")
        self.custom_domain = custom_domain.rstrip("/") if custom_domain else None
        self.ports = ports
        self.invokers = invokers or {}
        self.rewrites = rewrites or []
        self.certs_url = certs_url
        self.routed: list[tuple[str, str | None]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, headers, out = outer._answer(self, body)
                self.send_response(status)
                for key, value in headers:
                    if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = do_HEAD = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def _answer(self, request: BaseHTTPRequestHandler, body: bytes) -> Any:
        target = request.path
        hosting = target.startswith(CUSTOM)
        if hosting:
            target = target[len(CUSTOM) :]
        path = urlsplit(target).path
        headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
        client = request.client_address[0]
        chain = [headers.pop("X-Forwarded-For")] if "X-Forwarded-For" in headers else []
        if hosting:
            function = _hosting_route(self.rewrites, path)
            kept = [c.strip() for c in headers.pop("Cookie", "").split(";")]
            kept = [c for c in kept if c.startswith("__session=")]
            if kept:
                headers["Cookie"] = kept[0]
            chain += [client, HOSTING_EGRESS]  # Hosting's, then the front end's
        else:
            function = path.split("/")[1] if path.count("/") >= 1 else None
            chain.append(client)
        self.routed.append((path, function))
        port = self.ports.get(function or "")
        if port is None:
            return 404, [("Content-Type", "text/plain")], b"not found\n"
        refused = self._iam(function or "", headers, path)
        if refused is not None:
            return refused
        headers["X-Forwarded-For"] = ", ".join(chain)
        return self._forward(port, request.command, target, headers, body)

    def _iam(self, function: str, headers: dict[str, str], path: str) -> Any:
        """Cloud Run's invoker check: None when the caller may invoke ``function``."""
        allowed = self.invokers.get(function)
        if allowed is None:
            return None
        token = headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not token:
            return 401, [("Content-Type", "text/plain")], b"Unauthorized\n"
        import google.auth.transport.requests
        from google.oauth2 import id_token

        try:
            claims = id_token.verify_token(
                token, google.auth.transport.requests.Request(), certs_url=self.certs_url
            )
        except ValueError:
            return 401, [("Content-Type", "text/plain")], b"Unauthorized\n"
        audience = str(claims.get("aud", ""))
        if f"serviceAccount:{claims.get('email')}" not in allowed or not audience.startswith(
            f"{self.functions_host}/{function}"
        ):
            return 403, [("Content-Type", "text/plain")], b"Forbidden\n"
        return None

    @staticmethod
    def _forward(port: int, method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        conn.request(method, path, body or None, headers)
        response = conn.getresponse()
        out = response.read()
        conn.close()
        return response.status, response.getheaders(), out

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def local(self, url: str) -> str:
        """The plan's URL as served here (scheme and host swapped, path and query kept); a
        custom domain's URL is marked so the front plays Hosting for it."""
        if self.custom_domain and url.startswith(self.custom_domain + "/"):
            return self.url + CUSTOM + url[len(self.custom_domain) :]
        if url.startswith(self.functions_host + "/"):
            return self.url + url[len(self.functions_host) :]
        raise ValueError(f"not a URL of this deployment: {url[:120]}")

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
