"""Benchmark: sync of the benchmark library (SPEC §5, issue 4 targets). Not a test.

The three fakes serve the generated benchmark library (1,500 series / ~100,000 episodes with
files, 15,000 movies, 25 users, 400,000 history rows) from threads of this process, with no
injected latency; the daemon runs as its own process on a fresh SQLite store. Measured:
cold sync, incremental sync with no changes, incremental sync after 1,000 new history rows —
wall time, the daemon's peak RSS, upstream requests made, rows written — and the latency of
``status`` over the control socket while the cold sync runs.

    make bench-sync            (or: .venv/bin/python bench/bench_sync.py [--library medium])
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack

import yaml

from cullarrd.control.client import ControlClient
from cullarrd_plugins.fakelib.generator import generate
from cullarrd_plugins.fakelib.serving import serve

KEYS = {
    "sonarr": "bench-sonarr-key-00000000000000",
    "radarr": "bench-radarr-key-00000000000000",
    "tautulli": "benchtautullikey0123456789abcdef",
}
MAPPINGS = {
    "sonarr": [{"from": "/tv", "to": "/mnt/media/tv"}],
    "radarr": [{"from": "/movies", "to": "/mnt/media/movies"}],
    "tautulli": [
        {"from": "/data/media/tv", "to": "/mnt/media/tv"},
        {"from": "/data/media/movies", "to": "/mnt/media/movies"},
    ],
}


def fake_apps(library):
    from cullarrd_plugins.radarr.fake import create_app as radarr
    from cullarrd_plugins.sonarr.fake import create_app as sonarr
    from cullarrd_plugins.tautulli.fake import create_app as tautulli

    return {
        "sonarr": sonarr(library, api_key=KEYS["sonarr"]),
        "radarr": radarr(library, api_key=KEYS["radarr"]),
        "tautulli": tautulli(library, api_key=KEYS["tautulli"]),
    }


def peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class StatusProbe(threading.Thread):
    """Asks ``status`` over the socket every 50 ms and keeps the latencies."""

    def __init__(self, sock: str) -> None:
        super().__init__(daemon=True)
        self.sock, self.samples, self.stopped = sock, [], threading.Event()

    def run(self) -> None:
        with ControlClient(self.sock, response_timeout=30) as client:
            while not self.stopped.is_set():
                start = time.perf_counter()
                client.call("status")
                self.samples.append((time.perf_counter() - start) * 1000)
                time.sleep(0.05)


def requests_made(client: ControlClient) -> int:
    counts = client.call("status")["upstream_requests"]
    return sum(n for per in counts.values() for n in per.values())


def timed_sync(client: ControlClient, pid: int) -> dict:
    before = requests_made(client)
    start = time.perf_counter()
    run = client.call("sync.trigger")["run"]
    while run["status"] in ("queued", "running"):
        time.sleep(0.2)
        run = client.call("runs.get", {"id": run["id"]})["run"]
    wall = time.perf_counter() - start
    phases = run["progress"]["phases"]
    return {
        "status": run["status"],
        "wall_s": wall,
        "rss_mb": peak_rss_mb(pid),
        "requests": requests_made(client) - before,
        "rows": sum(p["rows_written"] for p in phases.values()),
        "phases": {name: p for name, p in phases.items()},
    }


def add_history(library, app, count: int) -> None:
    """Append ``count`` new plays (new row ids, recent times) the way Tautulli would."""
    last = max(library.history, key=lambda r: r.row_id)
    newest = max(r.stopped for r in library.history)
    template = library.history[-count:]
    for n, row in enumerate(template, start=1):
        library.history.append(
            dataclasses.replace(
                row, row_id=last.row_id + n, started=newest + 60 * n, stopped=newest + 60 * n + 1800
            )
        )
    app.state.tautulli.history.rebuild()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--library", default="benchmark", choices=["tiny", "medium", "benchmark"])
    args = parser.parse_args()
    started = time.perf_counter()
    library = generate(args.library)
    print(f"generated {args.library} library in {time.perf_counter() - started:.1f} s")
    work = tempfile.mkdtemp(prefix="cu-bench-", dir="/tmp")
    apps = fake_apps(library)
    with ExitStack() as stack:
        urls = {kind: stack.enter_context(serve(app)) for kind, app in apps.items()}
        config = {
            "database": {"url": f"sqlite:///{work}/bench.db"},
            "web": {"enabled": False},
            "socket": {"path": f"{work}/d.sock"},
            "log": {"format": "json", "level": "warning"},
            "integrations": [
                {
                    "kind": k,
                    "name": k,
                    "base_url": urls[k],
                    "api_key": KEYS[k],
                    "path_mappings": MAPPINGS[k],
                }
                for k in KEYS
            ],
        }
        config_path = os.path.join(work, "config.yaml")
        with open(config_path, "w") as fh:
            yaml.safe_dump(config, fh)
        proc = subprocess.Popen(
            [sys.executable, "-m", "cullarrd.cli", "serve", "--config", config_path],
            stderr=open(os.path.join(work, "daemon.log"), "wb"),  # noqa: SIM115
        )
        try:
            deadline = time.monotonic() + 30
            while not os.path.exists(config["socket"]["path"]):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"daemon did not start; see {work}/daemon.log")
                time.sleep(0.05)
            with ControlClient(config["socket"]["path"], response_timeout=60) as client:
                client.call("settings.set", {"values": {"sync_enabled": False}})
                probe = StatusProbe(config["socket"]["path"])
                probe.start()
                cold = timed_sync(client, proc.pid)
                probe.stopped.set()
                probe.join()
                unchanged = timed_sync(client, proc.pid)
                # Mapping is budgeted per run (SPEC §5.6): drain its backlog first, then measure
                # the steady state an operator sees every interval.
                drained, last = 0, unchanged
                while last["phases"]["library_mapping"]["rows_written"] and drained < 40:
                    last = timed_sync(client, proc.pid)
                    drained += 1
                steady = timed_sync(client, proc.pid)
                steady["drain_runs"] = drained
                add_history(library, apps["tautulli"], 1000)
                new_rows = timed_sync(client, proc.pid)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=20)
    report(args.library, cold, unchanged, steady, new_rows, probe.samples)
    return 0


def report(
    library: str, cold: dict, unchanged: dict, steady: dict, new_rows: dict, samples: list
) -> None:
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}; library: {library}\n")  # fmt: skip
    print("| sync | status | wall s | peak RSS MB | upstream requests | rows written |")
    print("|---|---|---|---|---|---|")
    rows = (
        ("cold", cold),
        ("incremental, no changes (mapping backlog left by the cold run)", unchanged),
        (f"incremental, no changes (after {steady['drain_runs']} runs drained it)", steady),
        ("incremental, +1,000 history rows", new_rows),
    )
    for name, r in rows:
        print(f"| {name} | {r['status']} | {r['wall_s']:.1f} | {r['rss_mb']:.0f} | "
              f"{r['requests']} | {r['rows']} |")  # fmt: skip
    ordered = sorted(samples)
    p95 = ordered[int(0.95 * (len(ordered) - 1))] if ordered else float("nan")
    print(
        f"\nstatus during the cold sync: n={len(samples)}, "
        f"p50 {statistics.median(ordered):.1f} ms, p95 {p95:.1f} ms, max {ordered[-1]:.1f} ms"
    )
    print("\ncold sync by phase (units, rows written):")
    for name, p in cold["phases"].items():
        print(
            f"  {name}: {p.get('duration_s')} s, {p['processed_units']}/{p['total_units']} units, "
            f"{p['rows_written']} rows"
        )


if __name__ == "__main__":
    raise SystemExit(main())
