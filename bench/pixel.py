"""Pixel throughput of `mailbeacon serve` against nginx and against the old cheroot edge.

In one run, on this machine:
- ``nginx``: nginx serving a static 43-byte GIF (the physical limit here), on a free
  loopback port with the bench's own config;
- ``cheroot``: the edge `serve` ran before the event loop (bench/cheroot_edge.py);
- ``ours``: `mailbeacon serve` as documented (an edge process per CPU on the port), durable
  spool append, worker process on.
Each is loaded with wrk (best of 2 runs; CPU per request counts the server's processes
all together), then ours at 64 connections (the tail, best of 2 as well: other work on
these CPUs lengthens a tail as it lowers a throughput; both runs printed), then ours while
8 connections drip header bytes, 4 send a body packet and stop, 20 live streams are open
and 4 users download a CSV export of their messages over and over. Last, with the server
stopped, every answered hit must be recorded exactly once: stored as an event, or
waiting in the spool for the worker (niced, it catches up after the load). The ratios and
the goals are printed at the end.

Setup: ``apt-get install -y nginx-light wrk`` (done here when either is missing, as root).

Run: .venv/bin/python bench/pixel.py [--seconds 10] [--connections 32] [--export-messages N]
     .venv/bin/python bench/pixel.py --profile   (cProfile of the pixel's path alone)
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import http.client
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from functions.standins.loopback import free_port  # noqa: E402
from functions.standins.polling import wait_for  # noqa: E402

GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==")
BROWSER_UA = (
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
)
NGINX_CONF = """worker_processes auto;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  server {{
    listen 127.0.0.1:{port};
    location / {{
      root {dir}/www;
      add_header Cache-Control "no-store, no-cache, must-revalidate, private, max-age=0";
    }}
  }}
}}
"""


def ensure_tools() -> None:
    if shutil.which("wrk") and shutil.which("nginx"):
        return
    print("installing nginx-light and wrk (apt-get)", flush=True)
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "nginx-light", "wrk"],
        check=True,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )


def start_nginx(port: int) -> subprocess.Popen[bytes]:
    folder = Path(tempfile.mkdtemp(prefix="mb-nginx-"))
    folder.chmod(0o755)  # nginx's workers run as nobody when started by root
    (folder / "www").mkdir()
    (folder / "www" / "p.gif").write_bytes(GIF)
    (folder / "nginx.conf").write_text(NGINX_CONF.format(dir=folder, port=port))
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    return subprocess.Popen(
        [binary, "-c", str(folder / "nginx.conf"), "-p", str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def profile_edge(calls: int = 20000) -> None:
    """cProfile of the pixel's path in process: the edge's ``answer_now`` for one GET (what
    the protocol calls as the headers complete), spool append included, minus the socket."""
    import cProfile
    import pstats

    from functions.bootstrap import bootstrap
    from functions.config import AppConfig
    from functions.edge.serving import build_edge
    from mailbeacon.tracking import track_message

    app = bootstrap(AppConfig.local(Path(tempfile.mkdtemp(prefix="mb-prof-"))))
    tracked = track_message(
        app.store,
        app.urls,
        app.clock,
        records=app.store,
        sender="p@example.com",
        recipients=["r@example.org"],
    )
    edge = build_edge(app)
    target = urlsplit(tracked.pixel_url).path.encode()
    headers = [
        (b"host", b"127.0.0.1:8080"),
        (b"user-agent", BROWSER_UA.encode()),
        (b"accept", b"image/avif,image/webp,*/*"),
    ]
    client = ("203.0.113.9", 5123)
    assert edge.tracking.answer_now(b"GET", target, headers, client) is not None  # catalogues load
    start = time.perf_counter()
    for _ in range(calls):
        edge.tracking.answer_now(b"GET", target, headers, client)
    per_call = (time.perf_counter() - start) / calls * 1e6
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        edge.tracking.answer_now(b"GET", target, headers, client)
    profiler.disable()
    print(f"pixel answer, in process: {per_call:.1f} us per hit (spool append included)")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(15)


def load_average() -> str:
    """The 1-minute load average: figures from a busier moment compare only within their run."""
    return f"{os.getloadavg()[0]:.1f}"


def cpu_seconds(pid: int) -> float:
    """CPU time of a server: the process and its children (serve's edge processes and its
    worker; nginx's workers)."""
    total = 0.0
    for each in [pid, *descendants(pid)]:
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def descendants(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
        for child in children:
            found += [child, *descendants(child)]
    return found


def up(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except OSError:
        return False


def run_wrk(url: str, seconds: int, connections: int) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency",
         "-H", f"User-Agent: {BROWSER_UA}", url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip

    def ms(label: str) -> float:
        match = re.search(rf"{label}%\s+([\d.]+)(us|ms|s)", out)
        assert match, out
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    timeouts = re.search(r"timeout (\d+)", out)
    return {
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),  # type: ignore[union-attr]
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50_ms": ms("50"),
        "p99_ms": ms("99"),
        "errors": int(errors.group(1)) if errors else 0,
        "timeouts": int(timeouts.group(1)) if timeouts else 0,
    }


def measure(name: str, url: str, pid: int, seconds: int, connections: int) -> dict[str, float]:
    before = cpu_seconds(pid)
    result = run_wrk(url, seconds, connections)
    result["cpu_us"] = (cpu_seconds(pid) - before) / max(1.0, result["requests"]) * 1e6
    print(line(name, result), flush=True)
    return result


def line(name: str, r: dict[str, float]) -> str:
    return (
        f"{name:>14}: {r['rps']:8.0f} req/s   p50 {r['p50_ms']:6.2f} ms   p99 {r['p99_ms']:7.2f} ms"
        f"   CPU {r['cpu_us']:4.0f} us/req   non-2xx {r['errors']:.0f}   timeouts"
        f" {r['timeouts']:.0f}"
    )


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "functions.cli", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    if done.returncode:
        raise SystemExit(f"mailbeacon {args[0]} failed: {done.stderr.strip()}")
    return done.stdout


def make_exports(data: Path, users: list[str], per_user: int) -> None:
    """Each exporting user's messages, written before the server starts."""
    from functions.bootstrap import bootstrap
    from functions.config import AppConfig
    from mailbeacon.tracking import track_message

    app = bootstrap(AppConfig.local(data))
    try:
        for user in users:
            for n in range(per_user):
                track_message(
                    app.store, app.urls, app.clock, records=app.records, sender=user,
                    recipients=[f"r{n}@example.org"], subject=f"Quarterly plan, part {n}",
                )  # fmt: skip
    finally:
        app.close()


class Attackers:
    """8 header drips, 4 stalled bodies, 20 live streams, 4 looping CSV exports."""

    def __init__(self, port: int, exporters: list[str], viewers: list[str]) -> None:
        self.port = port
        self.exporters = exporters
        self.viewers = viewers  # session cookies of 10 signed-in users
        self.stop = threading.Event()
        self.socks: list[socket.socket] = []
        self.exports = {"done": 0, "refused": 0, "failed": 0}
        self.streams_open = 0
        self.threads: list[threading.Thread] = []

    def start(self) -> Attackers:
        for _ in range(8):
            sock = socket.create_connection(("127.0.0.1", self.port))
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            self.socks.append(sock)
        self._spawn(self._drip)
        for _ in range(4):
            self._spawn(self._stall)
        for cookie in self.viewers:
            for _ in range(2):
                self._spawn(self._stream, cookie)
        for user in self.exporters:
            self._spawn(self._export, user)
        wait_for(lambda: self.streams_open == 20, 30, "the 20 streams to open")
        return self

    def _spawn(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        self.threads.append(thread)

    def _drip(self) -> None:
        """A header byte per connection every 0.5 s; a closed one is opened again."""
        while not self.stop.wait(0.5):
            for n, sock in enumerate(self.socks):
                try:
                    sock.sendall(b"X")
                except OSError:
                    sock.close()
                    sock = socket.create_connection(("127.0.0.1", self.port))
                    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                    self.socks[n] = sock

    def _stall(self) -> None:
        """A body's first packet, then nothing until the server gives up; again."""
        while not self.stop.is_set():
            with socket.create_connection(("127.0.0.1", self.port)) as sock:
                sock.sendall(
                    b"POST /addon/homepage HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                    b'\r\nContent-Length: 100000\r\n\r\n{"commonEventObject": '
                )
                sock.settimeout(60)
                with contextlib.suppress(OSError):
                    while sock.recv(4096) and not self.stop.is_set():
                        pass

    def _stream(self, cookie: str) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        while not self.stop.is_set():
            try:
                conn.request("GET", "/dashboard/live/stream", headers={"Cookie": cookie})
                response = conn.getresponse()
                if response.status != 200:
                    raise OSError(f"stream refused: {response.status}")
                self.streams_open += 1
                try:
                    while not self.stop.is_set() and response.read1(4096):
                        pass
                finally:
                    self.streams_open -= 1
            except (OSError, http.client.HTTPException):
                if self.stop.wait(1):
                    return
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)

    def _export(self, user: str) -> None:
        while not self.stop.is_set():
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
            try:
                conn.request(
                    "GET", "/api/v1/messages.csv", headers={"Authorization": f"Bearer dev:{user}"}
                )
                response = conn.getresponse()
                body = response.read()
                if response.status == 200 and body.count(b"\n") > 1:
                    self.exports["done"] += 1
                elif response.status in (429, 503):
                    self.exports["refused"] += 1
                    self.stop.wait(float(response.getheader("Retry-After") or 1))
                else:
                    self.exports["failed"] += 1
            except (OSError, http.client.HTTPException):
                self.exports["failed"] += 1
            finally:
                conn.close()

    def close(self) -> None:
        self.stop.set()
        for sock in self.socks:
            sock.close()


def sign_in(port: int, email: str) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/dashboard/signin")
    page = conn.getresponse()
    flow = re.search(r"(__session=[^;]+)", page.getheader("Set-Cookie") or "")  # the one jar
    form = re.search(r'name="csrf" value="([^"]+)"', page.read().decode())
    assert flow and form, "the dev sign-in form changed"
    conn.request(
        "POST", "/dashboard/signin/dev", body=f"email={email}&csrf={form.group(1)}",
        headers={"Cookie": flow.group(1), "Content-Type": "application/x-www-form-urlencoded"},
    )  # fmt: skip
    answer = conn.getresponse()
    answer.read()
    session = re.search(r"(__session=[^;]+)", answer.getheader("Set-Cookie") or "")
    assert session, answer.status
    return session.group(1)


def recorded(data: Path, message_id: str) -> tuple[int, int, int]:
    """(hits stored as events, hits still waiting in the spool, ids seen twice) for one
    message, with the server stopped: answered means durable, whether the worker processed
    it yet or not (it runs niced and catches up after the load)."""
    import json

    from mailbeacon.bus.local import cursor_name
    from mailbeacon.bus.spool import Position, find_pending, lane_dir, lanes

    with sqlite3.connect(data / "mailbeacon.db") as conn:
        rows = conn.execute("SELECT name, segment, offset FROM bus_cursor")
        cursors = {name: Position(segment, offset) for name, segment, offset in rows}
        query = "SELECT id FROM events WHERE message_id = ?"
        ids = [r[0] for r in conn.execute(query, (message_id,))]
    needle = b'"message_id":' + json.dumps(message_id).encode()
    spool = data / "spool"
    waiting = [  # every edge process's lane, each from its own cursor
        json.loads(r)["id"]
        for lane in lanes(spool)
        for r in find_pending(
            lane_dir(spool, lane), cursors.get(cursor_name(lane), Position(0, 0)), needle
        )
    ]
    return len(ids), len(waiting), len(ids) + len(waiting) - len(set(ids) | set(waiting))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--export-messages", type=int, default=30000, help="over 4 users")
    parser.add_argument("--profile", action="store_true", help="profile the pixel's path only")
    args = parser.parse_args()
    if args.profile:
        profile_edge()
        return 0
    ensure_tools()
    data, old_data = (Path(tempfile.mkdtemp(prefix=f"mb-bench-{n}-")) for n in ("ours", "old"))
    exporters = [f"exporter{n}@example.com" for n in range(4)]
    print(f"writing {args.export_messages} messages for the exports...", flush=True)
    make_exports(data, exporters, args.export_messages // len(exporters))
    ports = {"nginx": free_port(), "cheroot": free_port(), "ours": free_port()}
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MAILBEACON_DATA_DIR": str(data)}
    quiet: dict[str, Any] = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    procs = {
        "nginx": start_nginx(ports["nginx"]),
        "cheroot": subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "cheroot_edge.py"), str(ports["cheroot"]),
             str(old_data)], cwd=ROOT, env=env, **quiet,
        ),
        "ours": subprocess.Popen(
            [sys.executable, "-m", "functions.cli", "serve", "--port", str(ports["ours"]),
             "--insecure-dev-auth"], cwd=ROOT, env=env, **quiet,
        ),
    }  # fmt: skip
    attackers = None
    try:
        wait_for(
            lambda: all(
                up(f"http://127.0.0.1:{ports[n]}/{'healthz' if n != 'nginx' else 'p.gif'}")
                for n in ports
            ),
            120,
            "the three servers to answer",
        )
        tracked = cli(env, "track", "--sender", "bench@example.com", "--to", "r@example.org",
                      "--sent-at", "2026-01-01T00:00:00Z", "--json")  # fmt: skip
        import json

        message = json.loads(tracked)
        # signed in before the load: the worker's catching up must not delay a sign-in
        viewers = [sign_in(ports["ours"], f"viewer{n}@example.com") for n in range(10)]
        path = urlsplit(message["pixel_url"]).path
        old_env = {**env, "MAILBEACON_DATA_DIR": str(old_data)}
        old_message = json.loads(
            cli(old_env, "track", "--sender", "b@example.com", "--to", "r@example.org", "--json")
        )
        urls = {
            "nginx": f"http://127.0.0.1:{ports['nginx']}/p.gif",
            "cheroot": f"http://127.0.0.1:{ports['cheroot']}"
            + urlsplit(old_message["pixel_url"]).path,
            "ours": f"http://127.0.0.1:{ports['ours']}{path}",
        }
        print(
            f"wrk, {args.connections} connections, best of 2 x {args.seconds}s;"
            f" {os.cpu_count()} CPUs; load average {load_average()}",
            flush=True,
        )
        answered = 0
        runs: dict[str, list[dict[str, float]]] = {}
        for name in ("nginx", "cheroot", "ours") * 2:
            result = measure(name, urls[name], procs[name].pid, args.seconds, args.connections)
            runs.setdefault(name, []).append(result)
            answered += int(result["requests"]) if name == "ours" else 0
        best = {name: max(r, key=lambda x: x["rps"]) for name, r in runs.items()}
        for name in ("nginx", "cheroot"):  # done: the old edge's worker must not take our CPU
            procs[name].terminate()
        tails = [measure("ours c=64", urls["ours"], procs["ours"].pid, args.seconds, 64)]
        tails.append(measure("ours c=64", urls["ours"], procs["ours"].pid, args.seconds, 64))
        answered += sum(int(t["requests"]) for t in tails)
        wide = min(tails, key=lambda t: t["p99_ms"] / t["p50_ms"])
        attackers = Attackers(ports["ours"], exporters, viewers).start()
        attacked = measure(
            "ours attacked", urls["ours"], procs["ours"].pid, args.seconds, args.connections
        )
        answered += int(attacked["requests"])
        streams_open, exports = attackers.streams_open, dict(attackers.exports)
        attackers.close()
        procs["ours"].terminate()  # its worker stops too: the counts below hold still
        procs["ours"].wait(30)
        count, waiting, doubled = recorded(data, message["message_id"])
    finally:
        if attackers is not None:
            attackers.close()
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(15)
    nginx = best["nginx"]["rps"]
    print(f"\nload average at the end: {load_average()} (other work on these CPUs)")
    for name in ("nginx", "cheroot", "ours"):
        print(line(name, best[name]))
    print(f"ours / nginx:   {best['ours']['rps'] / nginx:.3f}   (goal >= 0.15)")
    print(f"cheroot / nginx: {best['cheroot']['rps'] / nginx:.3f}")
    print(f"ours / cheroot: {best['ours']['rps'] / best['cheroot']['rps']:.1f}x")
    ratios = ", ".join(f"{t['p99_ms'] / t['p50_ms']:.2f}" for t in tails)
    print(
        f"c=64 p99/p50:   {wide['p99_ms'] / wide['p50_ms']:.2f}   (goal <= 3; best of 2, as the"
        f" throughputs: {ratios})"
    )
    print(
        f"attacked (8 drips, 4 stalled bodies, {streams_open} of 20 streams open at the end,"
        f" CSV exports {exports}): p99 {attacked['p99_ms']:.1f} ms   (goal <= 50)"
    )
    lost = "none lost" if count + waiting >= answered and not doubled else "LOST OR DOUBLED"
    print(
        f"{answered} hits answered: {count} stored as events + {waiting} still in the spool for"
        f" the worker, {doubled} twice: {lost} (wrk does not count the requests in flight when"
        f" a run ends: up to {args.connections * 3 + 128} more may be recorded)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
