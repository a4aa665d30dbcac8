"""The same edge (functions/edge) on Granian's ASGI server and on uvicorn, side by side.

How `mailbeacon serve`'s server was chosen (docs/architecture.md, "Choosing the server"):
the pixel's throughput, the pixel's p99 while 8 connections drip header bytes and 4 bodies
stall, how soon a dripping connection is closed, and how long SIGTERM takes with a stalled
body open. Both run the edge alone (MAILBEACON_WORKER=off), with a 3 s header deadline.

Granian is not a dependency: ``pip install granian==2.8.9`` first.
Run: .venv/bin/python bench/edge_servers.py [--seconds 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.pixel import run_wrk, up  # noqa: E402
from functions.standins.loopback import free_port  # noqa: E402
from functions.standins.polling import wait_for  # noqa: E402

DEADLINE = 3.0


def make() -> Any:
    """Granian's factory: the edge over an App bootstrapped from the environment."""
    from functions.bootstrap import bootstrap
    from functions.config import load_config
    from functions.edge.serving import build_edge

    config = load_config().with_core(pull_subscriptions=True)
    return build_edge(bootstrap(config))


def start(kind: str, port: int, data: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "MAILBEACON_DATA_DIR": str(data),
        "MAILBEACON_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "MAILBEACON_WORKER": "off",
        "MAILBEACON_HEADER_TIMEOUT": str(DEADLINE),
        "MAILBEACON_BODY_TIMEOUT": str(DEADLINE),
    }
    if kind == "granian":
        command = [
            shutil.which("granian") or str(Path(sys.executable).parent / "granian"),
            "--interface", "asgi", "--factory", "--workers", "1", "--http", "1",
            "--port", str(port), "--http1-header-read-timeout", str(int(DEADLINE * 1000)),
            "--workers-kill-timeout", "5", "--log-level", "warning", "bench.edge_servers:make",
        ]  # fmt: skip
    else:
        command = [sys.executable, "-m", "functions.cli", "serve", "--port", str(port)]
    quiet: dict[str, Any] = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    return subprocess.Popen(command, cwd=ROOT, env=env, **quiet)


def drips_and_stalls(port: int) -> list[socket.socket]:
    socks = []
    for _ in range(8):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        socks.append(sock)
    for _ in range(4):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(b"POST /addon/homepage HTTP/1.1\r\nHost: x\r\nContent-Length: 999\r\n\r\n{")
        socks.append(sock)
    return socks


def drip_closed_after(port: int, limit: float = 15.0) -> float:
    """Seconds until the server closes a connection dripping a header byte every 0.2 s."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")
        sock.settimeout(0.2)
        while time.monotonic() - started < limit:
            try:
                if sock.recv(1) == b"":
                    break
            except TimeoutError:
                pass
            except OSError:
                break
            try:
                sock.sendall(b"X")
            except OSError:
                break
        return time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=5)
    args = parser.parse_args()
    if shutil.which("granian") is None and not (Path(sys.executable).parent / "granian").exists():
        print("granian is not installed: pip install granian==2.8.9", file=sys.stderr)
        return 2
    for kind in ("granian", "uvicorn"):
        data = Path(tempfile.mkdtemp(prefix=f"mb-{kind}-"))
        port = free_port()
        proc = start(kind, port, data)
        try:
            wait_for(lambda p=port: up(f"http://127.0.0.1:{p}/healthz"), 60, f"{kind} to answer")
            tracked = subprocess.run(
                [sys.executable, "-m", "functions.cli", "track", "--sender", "a@example.com",
                 "--to", "b@example.org", "--json"],
                cwd=ROOT, capture_output=True, text=True, check=True,
                env={**os.environ, "MAILBEACON_DATA_DIR": str(data),
                     "MAILBEACON_PUBLIC_URL": f"http://127.0.0.1:{port}"},
            ).stdout  # fmt: skip
            import json

            url = json.loads(tracked)["pixel_url"]
            best = max((run_wrk(url, args.seconds, 32) for _ in range(2)), key=lambda r: r["rps"])
            attackers = drips_and_stalls(port)
            attacked = run_wrk(url, args.seconds, 32)
            closed = drip_closed_after(port)
            for sock in attackers[:-1]:
                sock.close()
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
                exited = f"{time.monotonic() - started:.1f} s"
            except subprocess.TimeoutExpired:
                exited = "not within 30 s"
            attackers[-1].close()
            print(
                f"{kind:>8}: pixel {best['rps']:7.0f} req/s p99 {best['p99_ms']:6.1f} ms;"
                f" under 8 drips + 4 stalled bodies {attacked['rps']:7.0f} req/s"
                f" p99 {attacked['p99_ms']:6.1f} ms, timeouts {attacked['timeouts']:.0f};"
                f" a drip closed after {closed:.1f} s; SIGTERM with a stalled body: {exited}",
                flush=True,
            )
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
