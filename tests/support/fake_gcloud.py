"""gcloud, standing in, to run a deploy plan for real on this machine.

A bash `gcloud` on PATH hands each call (its argv, and stdin when the plan pipes a secret in
with ``--data-file=-``) to this process over loopback; ``answer`` replies with gcloud's exit
status and output. Resources come into being when a ``create`` runs and ``describe`` finds them
afterwards, so running a plan twice shows what a redeploy changes. Outputs the plan reads are
canned: the project number and the add-on's authorization (``get-authorization``). (A Python
`gcloud` started for each of a plan's ~80 calls cost seconds of CPU per plan.)
"""

from __future__ import annotations

import socketserver
import threading
from pathlib import Path
from typing import BinaryIO

PROJECT_NUMBER = "123456789012"
ADDON_SA = f"service-{PROJECT_NUMBER}@gcp-sa-gsuiteaddons.iam.gserviceaccount.com"
ADDON_CLIENT_ID = "112233445566778899000"

SHIM = r"""#!/bin/bash
# gcloud for the tests: argv (NUL-separated, counted) and stdin go to the fake on loopback.
export LC_ALL=C
input=""
if [[ " $* " == *" --data-file=- "* ]]; then input=$(cat; printf .); input=${input%.}; fi
exec 3<>/dev/tcp/127.0.0.1/PORT || exit 99
printf '%s\0' "$#" "$@" "${#input}" >&3
printf '%s' "$input" >&3
IFS= read -r -d '' status <&3
cat <&3
exit "$status"
"""


def _field(stream: BinaryIO) -> str:
    data = bytearray()
    while (byte := stream.read(1)) not in (b"\0", b""):
        data += byte
    return data.decode()


class FakeGcloud:
    """``calls``: every argv the plan ran, in order; ``state``: what exists."""

    def __init__(self, bin_dir: Path) -> None:
        self.calls: list[list[str]] = []
        self.state: dict[str, str] = {}
        fake = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                argv = [_field(self.rfile) for _ in range(int(_field(self.rfile)))]
                stdin = self.rfile.read(int(_field(self.rfile))).decode()
                status, out = fake.answer(argv, stdin)
                self.wfile.write(f"{status}\0{out}".encode())

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        bin_dir.mkdir(parents=True, exist_ok=True)
        shim = bin_dir / "gcloud"
        shim.write_text(SHIM.replace("PORT", str(self._server.server_address[1])))
        shim.chmod(0o755)
        self.bin_dir = bin_dir

    def answer(self, argv: list[str], stdin: str) -> tuple[int, str]:
        self.calls.append(argv)
        state = self.state
        # Resources are known by their id: an account's email and its id are one resource.
        words = [a.split("@")[0] for a in argv if not a.startswith("-")]
        if words[:1] == ["scheduler"]:
            words = [w for w in words if w != "pubsub"]  # "jobs create pubsub NAME" makes NAME
        fmt = next((a for a in argv if a.startswith("--format=")), "")
        if words[:2] == ["projects", "describe"]:
            return 0, PROJECT_NUMBER + "\n"
        if words[:2] == ["workspace-add-ons", "get-authorization"]:
            return 0, (ADDON_SA if "serviceAccountEmail" in fmt else ADDON_CLIENT_ID) + "\n"
        if "describe" in words:
            i = words.index("describe")
            key = " ".join([*words[:i], *words[i + 1 :]])
            if words[:2] == ["secrets", "versions"]:
                key = "secret-version " + next(a for a in argv if a.startswith("--secret="))[9:]
            return (0 if key in state else 1), ""
        if "create" in words:
            i = words.index("create")
            state[" ".join([*words[:i], *words[i + 1 :]])] = ""
            if words[0] == "secrets" and "--data-file=-" in argv:
                state[f"secret-version {words[2]}"] = stdin
        elif words[:3] == ["secrets", "versions", "add"]:
            state[f"secret-version {words[3]}"] = stdin
        elif words[:3] == ["secrets", "versions", "access"]:
            key = "secret-version " + next(a for a in argv if a.startswith("--secret="))[9:]
            return (0, state[key]) if key in state else (1, "")
        return 0, ""

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
