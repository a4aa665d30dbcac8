"""Pixel throughput: our endpoint recording durably on the embedded store, against a no-op.

Both run in the server `mailbeacon serve` uses (functions.server.make_server); the no-op is
Mailbeacon's own Flask app with one extra route that answers the same 43-byte GIF with the same
headers and records nothing, so the difference is exactly what the pixel does. Ours is
`mailbeacon serve` with its outbox worker classifying and storing every hit in the same process.
The load comes from `wrk` when installed (apt-get install wrk), else from a Python generator,
which is slower and flatters both sides equally; the script says which it used.

Run: .venv/bin/python bench/pixel.py [--seconds 10] [--connections 16]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.processes import free_port, wait_until  # noqa: E402

BROWSER_UA = (
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
)


def serve_noop(port: int, data_dir: str) -> None:
    """Mailbeacon's own app and server settings, plus one route that only answers the GIF."""
    from flask import Response

    from functions.app import GIF, NO_STORE, create_app
    from functions.bootstrap import bootstrap
    from functions.config import load_config
    from functions.server import make_server

    web = create_app(bootstrap(load_config(data_dir=Path(data_dir))))

    @web.route("/noop/<token>.gif", methods=["GET", "HEAD"])
    def noop(token: str) -> Response:
        return Response(GIF, 200, {"Cache-Control": NO_STORE, "Expires": "0"}, mimetype="image/gif")

    make_server(web, "127.0.0.1", port).serve()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process: a cost per request that other load cannot skew."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def up(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except OSError:
        return False


def run_wrk(url: str, seconds: int, connections: int) -> dict[str, float]:
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-H",
            f"User-Agent: {BROWSER_UA}",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    def ms(label: str) -> float:
        match = re.search(rf"{label}%\s+([\d.]+)(us|ms|s)", out)
        assert match, out
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": rps,
        "p50_ms": ms("50"),
        "p99_ms": ms("99"),
        "errors": int(errors.group(1)) if errors else 0,
    }


def run_python(url: str, seconds: int, connections: int) -> dict[str, float]:
    parts = urlsplit(url)
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def worker() -> None:
        conn = HTTPConnection(parts.hostname, parts.port, timeout=10)
        mine = []
        while time.monotonic() < deadline:
            start = time.perf_counter()
            conn.request("GET", parts.path, headers={"User-Agent": BROWSER_UA})
            response = conn.getresponse()
            response.read()
            mine.append(time.perf_counter() - start)
            if response.status != 200:
                errors[0] += 1
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    latencies.sort()
    return {
        "rps": len(latencies) / seconds,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
        "errors": errors[0],
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--serve-noop", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--noop-data", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_noop:
        serve_noop(args.serve_noop, args.noop_data)
        return 0

    load = run_wrk if shutil.which("wrk") else run_python
    data = Path(tempfile.mkdtemp(prefix="mb-bench-"))
    env = {**os.environ, "MAILBEACON_DATA_DIR": str(data)}
    ours_port, noop_port = free_port(), free_port()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "functions.cli", "serve", "--port", str(ours_port)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--serve-noop",
                str(noop_port),
                "--noop-data",
                str(data / "noop"),
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
    ]
    try:
        wait_until(
            lambda: (
                up(f"http://127.0.0.1:{ours_port}/healthz")
                and up(f"http://127.0.0.1:{noop_port}/healthz")
            )
        )
        tracked = json.loads(
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "functions.cli",
                    "track",
                    "--sender",
                    "bench@example.com",
                    "--to",
                    "r@example.org",
                    "--sent-at",
                    "2026-01-01T00:00:00Z",
                    "--json",
                ],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        path = urlsplit(tracked["pixel_url"]).path
        results: dict[str, list[dict[str, float]]] = {}
        pids = {"noop": procs[1].pid, "ours": procs[0].pid}
        for name, port in (("noop", noop_port), ("ours", ours_port)) * 2:
            before = cpu_seconds(pids[name])
            url_path = path if name == "ours" else path.replace("/p/", "/noop/", 1)
            result = load(f"http://127.0.0.1:{port}{url_path}", args.seconds, args.connections)
            spent = cpu_seconds(pids[name]) - before
            result["cpu_us"] = spent / (result["rps"] * args.seconds) * 1e6
            results.setdefault(name, []).append(result)
        best = {name: max(runs, key=lambda r: r["rps"]) for name, runs in results.items()}
        # `stats` processes whatever the worker has not reached yet, so every hit is counted.
        stats = json.loads(
            subprocess.run(
                [sys.executable, "-m", "functions.cli", "stats", tracked["message_id"], "--json"],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                check=True,
                timeout=1800,
            ).stdout
        )
        events = len(stats["events"])
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait()
    print(
        f"load generator: {'wrk' if load is run_wrk else 'python threads'},"
        f" {args.connections} connections, best of 2 x {args.seconds}s"
    )
    for name in ("noop", "ours"):
        r = best[name]
        print(
            f"{name:>5}: {r['rps']:8.0f} req/s   p50 {r['p50_ms']:6.2f} ms"
            f"   p99 {r['p99_ms']:6.2f} ms   server CPU {r['cpu_us']:5.0f} us/request"
            f"   non-200 {r['errors']}"
        )
    ratio = best["ours"]["rps"] / best["noop"]["rps"]
    print(f"ratio (ours / no-op throughput): {ratio:.2f}   (goal >= 0.90)")
    print(f"events recorded after the run: {events} (every answered hit, none lost)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
