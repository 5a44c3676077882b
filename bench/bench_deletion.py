"""Benchmark: deletion plans and runs on a synced generated library (SPEC §7). Not a test.

The three fakes serve the generated library (``medium`` by default) from threads of this
process; a daemon (its own process, delete mode on) syncs it into a fresh SQLite store until
library mapping has drained its backlog. Targets are picked from ``candidates.query`` (match
mode ``none``, blocked rows left out). Measured:

- ``deletion.plan`` round trips over the control socket, repeated: one movie, 50 movies, the
  show with the most episodes (``tv_show``), 200 episodes (``tv_episode``); p50/p95.
- execution: one run deleting up to 200 episode files and one of 50 movies, wall time from
  ``deletion.create`` until the run has ended (polled with ``deletion.list``), and the check that
  the fakes saw exactly one ``DELETE`` per planned file.

    make bench-deletion   (or: .venv/bin/python -m bench.bench_deletion [--library tiny])
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from contextlib import ExitStack

from bench.bench_candidates import start_daemon as daemon_process
from bench.bench_candidates import sync_until_mapped
from bench.bench_sync import fake_apps
from cullarrd.control.client import ControlClient
from cullarrd_plugins.fakelib.generator import generate
from cullarrd_plugins.fakelib.serving import serve

SECRET = "bench-delete-secret-0123456789abcdef"
EMAIL, PASSWORD = "bench@example.invalid", "bench-operator-password"
REPEATS = 20
EPISODES, MOVIES = 200, 50
MODE = "none"  # no watch rule: targets are eligible unless a blocker says otherwise


def start_daemon(stack: ExitStack, work: str, urls: dict[str, str]) -> tuple:
    """The daemon on SQLite in ``work`` with delete mode on; stopped when ``stack`` unwinds."""
    delete_mode = {"delete_mode": {"enabled": True, "secret": SECRET}}
    proc, sock = daemon_process(work, f"sqlite:///{work}/bench.db", urls, delete_mode)
    stack.callback(stop, proc)
    return proc, sock


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def pick(client: ControlClient, scope: str, want: int, keep=lambda item: True) -> list[dict]:
    """Up to ``want`` candidates of ``scope`` that ``keep`` accepts, following cursors."""
    found, cursor = [], None
    while len(found) < want:
        args = {"scope": scope, "watched_match_mode": MODE, "include_blocked": False, "limit": 200}
        page = client.call("candidates.query", {**args, **({"cursor": cursor} if cursor else {})})
        found += [item for item in page["items"] if keep(item)]
        cursor = page["page"]["next_cursor"]
        if not cursor:
            break
    return found[:want]


def plan_args(scope: str, items: list[dict]) -> dict:
    ids = [item["candidate_id"] for item in items]
    return {"scope": scope, "target_ids": ids, "watched_match_mode": MODE}


def plan_latency(client: ControlClient, name: str, args: dict) -> dict:
    samples, plan = [], {}
    for _ in range(REPEATS):
        start = time.perf_counter()
        plan = client.call("deletion.plan", args)
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return {
        "case": name, "scope": args["scope"], "targets": len(args["target_ids"]),
        "files": len(plan["files"]), "blocked": len(plan["blocked"]),
        "gb": plan["total_bytes"] / 1e9, "p50": statistics.median(samples),
        "p95": samples[int(0.95 * (len(samples) - 1))],
    }  # fmt: skip


def writes(url: str) -> list[dict]:
    with urllib.request.urlopen(f"{url}/__fake__/writes", timeout=30) as answer:
        return json.load(answer)["writes"]


def execute(client: ControlClient, urls: dict[str, str], name: str, args: dict) -> dict:
    """Plan, unlock, create; follow the run until it ends; check the fakes' DELETEs."""
    plan = client.call("deletion.plan", args)
    before = {k: len(writes(url)) for k, url in urls.items()}
    token = client.call("delete.unlock", {"password": PASSWORD})["token"]
    start = time.perf_counter()
    run = client.call("deletion.create", {"plan": plan, "token": token})["run"]
    create_ms = (time.perf_counter() - start) * 1000
    while run["status"] in ("queued", "running"):
        time.sleep(0.05)
        run = client.call("deletion.list", {"limit": 1})["runs"][0]
    wall = time.perf_counter() - start
    run = client.call("deletion.get", {"id": run["id"]})["run"]
    deleted = Counter(
        (k, w["path"].rstrip("/").rsplit("/", 1)[-1])
        for k, url in urls.items()
        for w in writes(url)[before[k] :]
        if w["method"] == "DELETE"
    )
    planned = Counter((f["integration"], str(f["arr_file_id"])) for f in plan["files"])
    files = len(plan["files"])
    return {
        "run": name, "id": run["id"], "files": files, "create_ms": create_ms, "wall": wall,
        "rate": files / wall, "ms_action": wall * 1000 / max(files, 1), "status": run["status"],
        "actions": Counter(a["status"] for a in run["actions"]),
        "errors": Counter(a["error_code"] for a in run["actions"] if a["error_code"]),
        "warnings": Counter(w.get("code", str(w)) if isinstance(w, dict) else str(w)
                            for a in run["actions"] for w in a["warnings"]),
        "deletes_ok": deleted == planned, "deletes": sum(deleted.values()),
        "run_error": run["error_code"],
    }  # fmt: skip


def daemon_log(path: str) -> None:
    """What the daemon logged (warnings and up): counted by event, a few shown."""
    if not os.path.exists(path):
        return
    with open(path, errors="replace") as fh:
        lines = [line.strip() for line in fh if line.strip()]
    events = Counter()
    for line in lines:
        try:
            entry = json.loads(line)
            events[(entry.get("level"), entry.get("event"))] += 1
        except ValueError:
            events[("text", line[:160])] += 1
    print(f"daemon log: {len(lines)} line(s)")
    for (level, event), n in events.most_common(10):
        print(f"  {n} x {level}: {event}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--library", default="medium", choices=["tiny", "medium", "benchmark"])
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: the daemon is stopped
    started = time.perf_counter()
    library = generate(args.library)
    print(f"generated {args.library} library in {time.perf_counter() - started:.1f} s")
    with ExitStack() as stack:
        work = stack.enter_context(tempfile.TemporaryDirectory(prefix="cu-bench-del-", dir="/tmp"))
        stack.callback(daemon_log, os.path.join(work, "daemon.log"))  # also when it fails
        urls = {k: stack.enter_context(serve(app)) for k, app in fake_apps(library).items()}
        proc, sock = start_daemon(stack, work, urls)
        with ControlClient(sock, response_timeout=300) as client:
            started = time.perf_counter()
            runs = sync_until_mapped(client, proc.pid)
            print(f"synced in {runs} run(s), {time.perf_counter() - started:.1f} s")
            client.call("operator.set_password", {"email": EMAIL, "password": PASSWORD})
            single = lambda item: item["eligible"] and len(item["versions"]) <= 1  # noqa: E731
            movies = pick(client, "movie", MOVIES, single)
            episodes = pick(client, "tv_episode", EPISODES, lambda item: item["eligible"])
            shows = pick(client, "tv_show", 10**6)
            show = max(shows, key=lambda item: item.get("episode_count", 0))
            print(f"targets: {len(movies)} movies, {len(episodes)} episodes, show "
                  f"{show['candidate_id']} ({show.get('episode_count')} episodes)")  # fmt: skip
            plans = [
                plan_latency(client, "one movie", plan_args("movie", movies[:1])),
                plan_latency(client, f"{len(movies)} movies", plan_args("movie", movies)),
                plan_latency(client, "largest show", plan_args("tv_show", [show])),
                plan_latency(
                    client, f"{len(episodes)} episodes", plan_args("tv_episode", episodes)
                ),
            ]
            runs = [
                execute(
                    client, urls, f"{len(episodes)} episodes", plan_args("tv_episode", episodes)
                ),
                execute(client, urls, f"{len(movies)} movies", plan_args("movie", movies)),
            ]
        report(args.library, plans, runs)
    return 0


def report(library: str, plans: list[dict], runs: list[dict]) -> None:
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    print(f"\ndeletion: {library} library, SQLite, match mode {MODE}; machine: {machine}; "
          f"{dt.date.today().isoformat()}\n")  # fmt: skip
    print(
        f"| plan ({REPEATS} repeats) | scope | targets | files | blocked | GB | p50 ms | p95 ms |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for p in plans:
        print(f"| {p['case']} | {p['scope']} | {p['targets']} | {p['files']} | {p['blocked']} | "
              f"{p['gb']:.1f} | {p['p50']:.1f} | {p['p95']:.1f} |")  # fmt: skip
    print("\n| run | files | create ms | wall s | files/s | ms/action | status | actions |")
    print("|---|---|---|---|---|---|---|---|")
    for r in runs:
        actions = ", ".join(f"{k} {n}" for k, n in sorted(r["actions"].items()))
        print(f"| {r['run']} | {r['files']} | {r['create_ms']:.0f} | {r['wall']:.2f} | "
              f"{r['rate']:.1f} | {r['ms_action']:.1f} | {r['status']} | {actions} |")  # fmt: skip
    for r in runs:
        seen = f"the fakes saw {r['deletes']} DELETEs for {r['files']} planned files"
        if r["deletes_ok"]:
            print(f"run {r['id']} ({r['run']}): {seen}, one per file: ok")
        else:
            print(f"WARNING: run {r['id']} ({r['run']}): {seen}, not exactly one per file")
        for what in ("errors", "warnings"):
            if r[what]:
                print(f"run {r['id']} ({r['run']}) action {what}: {dict(r[what])}")
        if r["run_error"]:
            print(f"run {r['id']} ({r['run']}) error: {r['run_error']}")


if __name__ == "__main__":
    sys.exit(main())
