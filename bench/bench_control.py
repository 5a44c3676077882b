"""Benchmark: daemon start-up and the latency of status/health calls (SPEC §1: a status call
answers well under 100 ms). Not a test: run ``make bench`` and copy the table to the README.

Starts the real daemon on a temporary SQLite store and measures, from a client process:
start-to-ready, ``status`` over the Unix socket (new connection per call, as cullarrctl does),
``status`` on one kept-open connection, and ``GET /api/v1/health`` over HTTP keep-alive.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import httpx
import yaml

from cullarrd.control.client import ControlClient


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {
        "p50": statistics.median(ordered),
        "p95": pick(0.95),
        "p99": pick(0.99),
        "max": ordered[-1],
    }


def timed(fn, n: int) -> list[float]:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=500, help="calls per measurement")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="cu-bench-", dir="/tmp")
    port = free_port()
    config = {
        "database": {"url": f"sqlite:///{work}/bench.db"},
        "web": {"listen": f"127.0.0.1:{port}"},
        "socket": {"path": f"{work}/d.sock"},
        "log": {"format": "json", "level": "warning"},
    }
    config_path = os.path.join(work, "config.yaml")
    with open(config_path, "w") as fh:
        yaml.safe_dump(config, fh)
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cullarrd.cli", "serve", "--config", config_path],
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the daemon did not become ready (run it by hand to see why)")
            try:
                if httpx.get(base + "/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.01)
        ready_ms = (time.perf_counter() - started) * 1000
        sock = config["socket"]["path"]

        def fresh_status() -> None:
            with ControlClient(sock) as client:
                client.call("status")

        kept = ControlClient(sock)
        kept.connect()
        http = httpx.Client(base_url=base)
        rows = {
            "status, new socket connection per call": timed(fresh_status, args.n),
            "status, one kept-open socket connection": timed(lambda: kept.call("status"), args.n),
            "GET /api/v1/health, HTTP keep-alive": timed(
                lambda: http.get("/api/v1/health"), args.n
            ),
        }
        kept.close()
        http.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"daemon start to ready: {ready_ms:.0f} ms\n")
    print(f"| measurement (n={args.n}) | p50 ms | p95 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|")
    for name, samples in rows.items():
        p = percentiles(samples)
        print(f"| {name} | {p['p50']:.2f} | {p['p95']:.2f} | {p['p99']:.2f} | {p['max']:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
