"""Benchmark: pixel hit -> Slack webhook post, against a loopback webhook receiver.

Runs `mailbeacon serve` as a subprocess (the real server, bus worker and notifier), tracks
N messages, opens each with a browser user agent and times the moment the receiver got the
alert. The baseline is slack_sdk's bare WebhookClient posting to the same receiver. Prints
p50/p99 latency and throughput for both and the ratio.

    python bench/notify.py [--hits 1000] [--threads 8]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0"


class Receiver:
    """A Slack-like webhook receiver that notes when each alert arrived, keyed by subject."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.count = 0
        self.cond = threading.Condition()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                at = time.perf_counter()
                text = json.loads(body).get("text", "")
                key = text.split("“", 1)[-1].split("”", 1)[0]
                with outer.cond:
                    outer.arrived.setdefault(key, at)
                    outer.count += 1
                    outer.cond.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/services/T/B/bench"

    def wait(self, key: str, timeout: float = 10.0) -> float:
        with self.cond:
            if not self.cond.wait_for(lambda: key in self.arrived, timeout):
                raise TimeoutError(f"no alert for {key}")
            return self.arrived[key]

    def wait_count(self, n: int, timeout: float = 120.0) -> None:
        with self.cond:
            if not self.cond.wait_for(lambda: self.count >= n, timeout):
                raise TimeoutError(f"{self.count}/{n} alerts")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def start_server(data: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "MAILBEACON_DATA_DIR": str(data),
        "MAILBEACON_WEBHOOK_ALLOW_HOSTS": "127.0.0.1",
        # the pipeline's own latency: the settle window (30 s by default, a deliberate wait for
        # hindsight) would only add itself to every figure
        "MAILBEACON_ALERT_SETTLE_SECONDS": "0",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "functions.cli", "serve", "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("server did not start")


def track(data: Path, port: int, receiver: Receiver, n: int, tag: str) -> list[tuple[str, str]]:
    from dataclasses import replace

    from functions.bootstrap import bootstrap
    from functions.config import AppConfig
    from mailbeacon.tracking import track_message

    app = bootstrap(AppConfig.local(data, public_url=f"http://127.0.0.1:{port}"))
    for user in {f"sender{i % 10}@bench.test" for i in range(n)}:
        app.store.put_settings(replace(app.store.get_settings(user), slack_webhook=receiver.url))
    sent = app.clock.now().replace(year=2000)
    out = []
    for i in range(n):
        subject = f"{tag}-{i}"
        tracked = track_message(
            app.store, app.urls, app.clock, records=app.store, sender=f"sender{i % 10}@bench.test",
            recipients=["reader@example.org"], subject=subject, sent_at=sent)  # fmt: skip
        out.append((subject, tracked.pixel_url))
    app.close()
    return out


def open_pixel(url: str) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": CHROME})
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


def bench_ours(hits: int, threads: int) -> dict[str, float]:
    from functions.standins.loopback import free_port

    receiver = Receiver()
    with tempfile.TemporaryDirectory() as tmp:
        data, port = Path(tmp), free_port()
        proc = start_server(data, port)
        try:
            messages = track(data, port, receiver, hits, "seq")
            latencies = []
            for subject, pixel in messages:
                started = time.perf_counter()
                open_pixel(pixel)
                latencies.append(receiver.wait(subject) - started)
            burst = track(data, port, receiver, hits, "burst")
            before = receiver.count
            started = time.perf_counter()
            with ThreadPoolExecutor(threads) as pool:
                list(pool.map(lambda m: open_pixel(m[1]), burst))
            receiver.wait_count(before + hits)
            elapsed = time.perf_counter() - started
        finally:
            proc.terminate()
            proc.wait(10)
    return summary(latencies, hits / elapsed)


def bench_baseline(hits: int, threads: int) -> dict[str, float]:
    from slack_sdk.webhook import WebhookClient

    receiver = Receiver()
    client = WebhookClient(receiver.url)
    latencies = []
    for i in range(hits):
        started = time.perf_counter()
        client.send_dict({"text": f"“base-{i}”", "blocks": []})
        latencies.append(receiver.wait(f"base-{i}") - started)
    before = receiver.count
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(
            pool.map(
                lambda i: WebhookClient(receiver.url).send_dict({"text": f"“b{i}”"}), range(hits)
            )
        )
    receiver.wait_count(before + hits)
    return summary(latencies, hits / (time.perf_counter() - started))


def summary(latencies: list[float], throughput: float) -> dict[str, float]:
    return {
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "mean_ms": statistics.fmean(latencies) * 1000,
        "throughput_per_s": throughput,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hits", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    ours = bench_ours(args.hits, args.threads)
    base = bench_baseline(args.hits, args.threads)
    print(f"notify bench: {args.hits} hits, burst with {args.threads} client threads")
    print(f"{'':34}{'p50 ms':>9}{'p99 ms':>9}{'mean ms':>9}{'per s':>9}")
    for name, row in (
        ("mailbeacon hit -> webhook alert", ours),
        ("baseline WebhookClient post", base),
    ):
        print(
            f"{name:34}{row['p50_ms']:9.2f}{row['p99_ms']:9.2f}{row['mean_ms']:9.2f}{row['throughput_per_s']:9.0f}"
        )
    print(
        f"ratio ours/baseline: p50 x{ours['p50_ms'] / base['p50_ms']:.1f}, "
        f"p99 x{ours['p99_ms'] / base['p99_ms']:.1f}, "
        f"throughput x{ours['throughput_per_s'] / base['throughput_per_s']:.2f}"
    )
    goal = ours["p50_ms"] <= 50 and ours["p99_ms"] <= 250
    print(f"goal p50 <= 50 ms and p99 <= 250 ms: {'met' if goal else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
