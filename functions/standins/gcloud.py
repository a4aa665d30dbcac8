"""`gcloud` and `firebase` standing in on a PATH of their own, and the REST methods the
preflight calls, answered from a ``CloudProject`` (cloud_project.py) on loopback.

A bash shim per program hands each call (the program, its working directory, its argv, and
stdin when the plan pipes a secret in with ``--data-file=-``) to this process over a socket;
the answer is the real CLI's exit status and output. A Python CLI started for each of a plan's
~100 calls would cost seconds of CPU per plan.

REST (``MAILBEACON_GOOGLE_APIS_URL`` + ``/{service}/...`` in place of
``https://{service}.googleapis.com/...``): ``projects.testIamPermissions`` of Resource Manager
v1 and ``projects.serviceAccounts.testIamPermissions`` of IAM v1, answering the subset of the
asked permissions the caller holds (``{}`` when none: the API omits an empty list;
https://cloud.google.com/resource-manager/reference/rest/v1/projects/testIamPermissions).
"""

from __future__ import annotations

import json
import socketserver
import threading
from pathlib import Path
from typing import BinaryIO

from .cloud_project import CloudProject
from .gcloud_commands import answer
from .loopback import Answer, LoopbackServer, google_error, json_answer

SHIM = r"""#!/bin/bash
# PROGRAM for Mailbeacon's stand-in: argv (NUL-separated, counted) and stdin go to loopback.
export LC_ALL=C
input=""
if [[ " $* " == *" --data-file=- "* ]]; then input=$(cat; printf .); input=${input%.}; fi
exec 3<>/dev/tcp/127.0.0.1/PORT || exit 99
printf '%s\0' "PROGRAM" "$PWD" "$#" "$@" "${#input}" >&3
printf '%s' "$input" >&3
IFS= read -r -d '' status <&3
output=$(cat <&3; printf .); output=${output%.}
if [[ "$status" == 0 ]]; then printf '%s' "$output"; else printf '%s' "$output" >&2; fi
exit "$status"
"""


def _field(stream: BinaryIO) -> str:
    data = bytearray()
    while (byte := stream.read(1)) not in (b"\0", b""):
        data += byte
    return data.decode()


class Gcloud:
    """The stand-in: ``bin_dir`` holds `gcloud` and `firebase`; ``calls`` is every gcloud argv
    (without the program's name), ``firebase_calls`` every firebase one; ``apis_url`` serves
    the REST methods."""

    def __init__(self, bin_dir: Path, project: CloudProject | None = None) -> None:
        self.project = project or CloudProject(enabled=set())
        self.calls: list[list[str]] = []
        self.firebase_calls: list[list[str]] = []
        self.lock = threading.Lock()
        fake = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                program, cwd = _field(self.rfile), _field(self.rfile)
                argv = [_field(self.rfile) for _ in range(int(_field(self.rfile)))]
                stdin = self.rfile.read(int(_field(self.rfile))).decode()
                status, out = fake.answer(program, argv, stdin, cwd)
                self.wfile.write(f"{status}\0{out}".encode())

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        bin_dir.mkdir(parents=True, exist_ok=True)
        port = str(self._server.server_address[1])
        for program in ("gcloud", "firebase"):
            shim = bin_dir / program
            shim.write_text(SHIM.replace("PORT", port).replace("PROGRAM", program))
            shim.chmod(0o755)
        self.bin_dir = bin_dir
        self.rest = LoopbackServer(self.respond)

    @property
    def apis_url(self) -> str:
        return self.rest.url

    def env(self) -> dict[str, str]:
        """What a process running the plan or the preflight needs to reach this stand-in."""
        import os

        return {
            "PATH": f"{self.bin_dir}:{os.environ['PATH']}",
            "MAILBEACON_GOOGLE_APIS_URL": self.apis_url,
        }

    def answer(self, program: str, argv: list[str], stdin: str, cwd: str) -> tuple[int, str]:
        with self.lock:  # one call at a time, as a script runs them
            (self.calls if program == "gcloud" else self.firebase_calls).append(argv)
            return answer(self.project, [program, *argv], stdin, cwd)

    def respond(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        if headers.get("Authorization") != "Bearer ya29.standin-token":
            return google_error(401, "UNAUTHENTICATED", "Request had invalid authentication")
        asked = json.loads(body or b"{}").get("permissions", [])
        project = self.project
        if path == f"/cloudresourcemanager/v1/projects/{project.id}:testIamPermissions":
            held = [p for p in asked if project.holds(p)]
        elif path.startswith("/iam/v1/projects/-/serviceAccounts/") and path.endswith(
            ":testIamPermissions"
        ):
            email = path.split("/serviceAccounts/")[1].split(":")[0]
            if f"iam service-accounts {email.split('@')[0]}" not in project.state:
                return google_error(404, "NOT_FOUND", f"Unknown service account {email}")
            held = [p for p in asked if project.holds(p)]
        else:
            return google_error(404, "NOT_FOUND", f"no such method: {path}")
        return json_answer(200, {"permissions": held} if held else {})

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self.rest.stop()
