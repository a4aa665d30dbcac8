"""Cold start of the pixel: process start to the first 200 from /p, under functions-framework.

Ours: the `pixel` entry point of the folder `mailbeacon deploy` uploads (functions/deploy/
assembly.py: main.py, our packages and their bytecode), run from that folder as Cloud Functions
runs it, bootstrapping on first request and publishing the hit to the Pub/Sub emulator before it
answers. Baseline: a functions-framework function that returns the same GIF and does nothing
else. Also, for comparison, ours from the same folder without its bytecode (as uploaded before
the deployment compiled it). No run writes bytecode (an instance's disk starts empty each
time). Goal: ours <= 1.5x the baseline.

Run: .venv/bin/python bench/coldstart.py [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from functions.deploy import assemble_source  # noqa: E402
from functions.standins.emulators import Emulator, pubsub_command  # noqa: E402
from functions.standins.loopback import free_port  # noqa: E402
from functions.standins.pubsub_admin import PubsubAdmin  # noqa: E402
from mailbeacon.tokens import Keyring, TokenSigner, new_message_id  # noqa: E402

NOOP = """
import base64

import functions_framework

GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==")
NO_STORE = "no-store, no-cache, must-revalidate, private, max-age=0"


@functions_framework.http
def pixel(request):
    return GIF, 200, {"Content-Type": "image/gif", "Cache-Control": NO_STORE}
"""


def first_200(source: Path, path: str, env: dict[str, str], log: Path, cwd: Path = ROOT) -> float:
    """Seconds from spawning functions-framework to the first 200 on ``path``."""
    port = free_port()
    url = f"http://127.0.0.1:{port}{path}"
    started = time.perf_counter()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "functions_framework",
            "--source",
            str(source),
            "--target",
            "pixel",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env={**os.environ, **env, "PYTHONDONTWRITEBYTECODE": "1"},
        cwd=cwd,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    try:
        while True:
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    if response.status == 200 and len(response.read()) == 43:
                        return time.perf_counter() - started
            except (urllib.error.URLError, ConnectionError):
                pass
            if proc.poll() is not None:
                raise RuntimeError(f"{source} exited; see {log}")
            if time.perf_counter() - started > 60:
                raise RuntimeError(f"no 200 from {source} in 60 s; see {log}")
            time.sleep(0.005)  # polling a port, not synchronising threads
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mailbeacon-coldstart-"))
    emulator = Emulator("Pub/Sub", pubsub_command(), work / "pubsub.log").start()
    try:
        project, prefix = "bench-coldstart", f"b{secrets.token_hex(3)}-"
        admin = PubsubAdmin(emulator.host, project)
        admin.topic(prefix + "hits")
        admin.subscription(prefix + "hits-check", prefix + "hits")
        secret = f"1:{secrets.token_hex(32)}"
        token = TokenSigner(Keyring.parse(secret)).pixel(new_message_id())
        noop = work / "noop_main.py"
        noop.write_text(NOOP)
        ours_env = {
            "PUBSUB_EMULATOR_HOST": emulator.host,
            "GOOGLE_CLOUD_PROJECT": project,
            "MAILBEACON_STORE": "firestore",
            "MAILBEACON_BUS": "pubsub",
            "MAILBEACON_TOPIC_PREFIX": prefix,
            "MAILBEACON_SECRET": secret,
            "MAILBEACON_PUBLIC_URL": "http://127.0.0.1",
        }
        deployed = assemble_source(work / "source")  # as `mailbeacon deploy` uploads it
        bare = work / "source-without-bytecode"
        shutil.copytree(deployed, bare, ignore=shutil.ignore_patterns("__pycache__"))
        ours: list[float] = []
        without: list[float] = []
        base: list[float] = []
        first_200(noop, "/p/x.gif", {}, work / "warmup.log")  # warm the OS file cache
        for _ in range(args.runs):  # interleaved, so machine load hits all alike
            base.append(first_200(noop, f"/p/{token}.gif", {}, work / "noop.log"))
            for folder, times in ((deployed, ours), (bare, without)):
                times.append(
                    first_200(
                        folder / "main.py",
                        f"/p/{token}.gif",
                        ours_env,
                        work / f"{folder.name}.log",
                        cwd=folder,
                    )
                )
        published = 0
        while batch := admin.pull(prefix + "hits-check", 100, immediately=True):
            admin.ack(prefix + "hits-check", *[m["ackId"] for m in batch])
            published += len(batch)
        o, w, b = (statistics.median(t) for t in (ours, without, base))
        print(f"cold start to first 200 from /p ({args.runs} runs, median)")
        print(f"  baseline (no-op GIF function): {b * 1000:7.0f} ms")
        print(f"  mailbeacon pixel (publishes):  {o * 1000:7.0f} ms   hits published: {published}")
        print(f"    the same without bytecode:   {w * 1000:7.0f} ms   ({w / b:.2f}x)")
        print(f"  ratio: {o / b:.2f}x (goal <= 1.5x)")
        if published != 2 * args.runs:
            raise SystemExit(f"expected {2 * args.runs} published hits, found {published}")
    finally:
        emulator.stop()


if __name__ == "__main__":
    main()
