"""Benchmark: candidate queries on the synced benchmark library (SPEC §6, issue 5). Not a test.

The three fakes serve the generated benchmark library; a daemon (its own process) syncs it into
a fresh store until library mapping has drained its backlog, then ``candidates.query`` is asked
over the control socket with 5 selected users, for every scope, sort and match mode: the first
page, and a deep page (reached by following cursors) where there is one. Each is repeated;
p50/p95 of the round trip (which includes the full-count diagnostics) are reported against the
targets: movie and episode scopes ≤ 100 ms p95, season and show scopes ≤ 300 ms p95.

    make bench-candidates   (or: .venv/bin/python -m bench.bench_candidates [--store DIR])

``--store DIR`` keeps the synced store in DIR and reuses it on the next run (no re-sync).
``--database-url`` runs against another store (e.g. PostgreSQL) instead of SQLite in DIR.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack

import yaml

from bench.bench_sync import KEYS, MAPPINGS, fake_apps, timed_sync
from cullarrd.control.client import ControlClient
from cullarrd_plugins.fakelib.generator import generate
from cullarrd_plugins.fakelib.serving import serve

SCOPES = ("movie", "tv_episode", "tv_season", "tv_show")
SORTS = ("reclaimable_bytes", "last_watched_at", "added_at", "title")
MODES = ("all", "any", "none")
TARGET_MS = {"movie": 100, "tv_episode": 100, "tv_season": 300, "tv_show": 300}
USERS = 5
REPEATS = 20
DEEP_PAGES = 10  # the "deep page" is the 11th page (or the last one there is)


def start_daemon(
    work: str, database_url: str, urls: dict[str, str], extra: dict | None = None
) -> tuple:
    """``cullarrd serve`` over the fakes at ``urls`` (plus ``extra`` config sections)."""
    config = {
        "database": {"url": database_url},
        "web": {"enabled": False},
        "socket": {"path": f"{work}/d.sock"},
        "log": {"format": "json", "level": "warning"},
        "integrations": [
            {
                "kind": k,
                "name": k,
                "base_url": url,
                "api_key": KEYS[k],
                "path_mappings": MAPPINGS[k],
            }
            for k, url in urls.items()
        ],
        **(extra or {}),
    }
    config_path = os.path.join(work, "config.yaml")
    with open(config_path, "w") as fh:
        yaml.safe_dump(config, fh)
    if os.path.exists(config["socket"]["path"]):
        os.unlink(config["socket"]["path"])
    proc = subprocess.Popen(
        [sys.executable, "-m", "cullarrd.cli", "serve", "--config", config_path],
        stderr=open(os.path.join(work, "daemon.log"), "ab"),  # noqa: SIM115
    )
    deadline = time.monotonic() + 30
    while not os.path.exists(config["socket"]["path"]):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"daemon did not start; see {work}/daemon.log")
        time.sleep(0.05)
    return proc, config["socket"]["path"]


def sync_until_mapped(client: ControlClient, pid: int) -> int:
    """Sync, then again until library mapping writes nothing (its per-run budget drained)."""
    client.call("settings.set", {"values": {"sync_enabled": False}})
    runs, last = 1, timed_sync(client, pid)
    while last["phases"]["library_mapping"]["rows_written"] and runs < 40:
        last = timed_sync(client, pid)
        runs += 1
    return runs


def timed(client: ControlClient, args: dict) -> tuple[float, dict]:
    start = time.perf_counter()
    result = client.call("candidates.query", args)
    return (time.perf_counter() - start) * 1000, result


def walk(client: ControlClient, base: dict) -> tuple[str | None, int]:
    """The cursor of the deep page (following up to ``DEEP_PAGES`` pages) and its number."""
    cursor, depth = None, 0
    while depth < DEEP_PAGES:
        _, page = timed(client, {**base, **({"cursor": cursor} if cursor else {})})
        if not page["page"]["next_cursor"]:
            break
        cursor, depth = page["page"]["next_cursor"], depth + 1
    return cursor, depth + 1


def repeated(client: ControlClient, args: dict) -> tuple[list[float], dict]:
    samples, result = [], {}
    for _ in range(REPEATS):
        ms, result = timed(client, args)
        samples.append(ms)
    return sorted(samples), result


def measure(client: ControlClient, users: list[int]) -> list[dict]:
    rows = []
    for scope, mode, sort in ((s, m, o) for s in SCOPES for m in MODES for o in SORTS):
        base = {"scope": scope, "sort": sort, "plex_user_ids": users,
                "watched_match_mode": mode, "limit": 50}  # fmt: skip
        cursor, number = walk(client, base)
        pages = [("first", base)]
        if cursor is not None:
            pages.append((f"deep ({number})", {**base, "cursor": cursor}))
        for label, args in pages:
            samples, result = repeated(client, args)
            rows.append({
                "scope": scope, "mode": mode, "sort": sort, "page": label,
                "p50": statistics.median(samples), "p95": samples[int(0.95 * (len(samples) - 1))],
                "matching": result["diagnostics"]["rows_matching"],
                "scanned": result["diagnostics"]["rows_scanned"],
            })  # fmt: skip
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--library", default="benchmark", choices=["tiny", "medium", "benchmark"])
    parser.add_argument("--store", help="keep and reuse the synced store in this directory")
    parser.add_argument("--database-url", help="store URL (default: SQLite in the store dir)")
    args = parser.parse_args()
    work = os.path.abspath(args.store or tempfile.mkdtemp(prefix="cu-bench-cand-", dir="/tmp"))
    os.makedirs(work, exist_ok=True)
    database_url = args.database_url or f"sqlite:///{work}/bench.db"
    marker = os.path.join(work, f"synced-{args.library}")
    synced = os.path.exists(marker) and args.store is not None
    library = None if synced else generate(args.library)
    with ExitStack() as stack:
        apps = fake_apps(library) if library is not None else {}
        urls = {k: stack.enter_context(serve(app)) for k, app in apps.items()}
        urls = urls or {k: "http://127.0.0.1:9" for k in KEYS}  # not contacted: no sync runs
        proc, sock = start_daemon(work, database_url, urls)
        try:
            with ControlClient(sock, response_timeout=120) as client:
                runs = 0
                if not synced:
                    runs = sync_until_mapped(client, proc.pid)
                    open(marker, "w").close()
                users = [u["id"] for u in client.call("users.list")["items"] if not u["hidden"]]
                results = measure(client, users[:USERS])
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=20)
    report(args.library, database_url, runs, results)
    return 0


def report(library: str, database_url: str, runs: int, results: list[dict]) -> None:
    backend = database_url.split(":", 1)[0]
    print(f"\ncandidate queries: {library} library, {backend}, {USERS} selected users, "
          f"limit 50, {REPEATS} repeats; synced in {runs} run(s) this time")  # fmt: skip
    machine = f"{platform.machine()} {os.cpu_count()} CPUs"
    print(f"machine: {machine}, Python {platform.python_version()}")
    print("| scope | match | sort | page | p50 ms | p95 ms | target p95 | matching / scanned |")
    print("|---|---|---|---|---|---|---|---|")
    worst: dict[tuple[str, str], float] = {}
    for r in results:
        key = (r["scope"], r["mode"])
        worst[key] = max(worst.get(key, 0.0), r["p95"])
        target, counts = TARGET_MS[r["scope"]], f"{r['matching']} / {r['scanned']}"
        print(f"| {r['scope']} | {r['mode']} | {r['sort']} | {r['page']} | {r['p50']:.1f} | "
              f"{r['p95']:.1f} | {target} | {counts} |")  # fmt: skip
    for (scope, mode), p95 in worst.items():
        verdict = "met" if p95 <= TARGET_MS[scope] else "NOT met"
        target = TARGET_MS[scope]
        print(f"{scope} match {mode}: worst p95 {p95:.1f} ms, target {target} ms: {verdict}")


if __name__ == "__main__":
    sys.exit(main())
