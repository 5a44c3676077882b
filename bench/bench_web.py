"""Benchmark: the web page and JSON API on the demo's medium library, idle and while a sync runs.

Not a test: run ``make bench-web`` and copy the table to the README. Starts ``cullarrd demo``
(three fakes, the daemon, an operator), signs in like a browser, then measures from this process
over HTTP keep-alive: each page's full server render, ``GET /api/v1/status`` and a candidate
query, first idle, then ``GET /api/v1/status`` again while a manual sync runs (SPEC §1: a status
call answers well under 100 ms during a sync).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import time

import httpx

PAGES = ["/", "/candidates", "/candidates?scope=tv_episode&include_blocked=true", "/runs",
         "/settings"]  # fmt: skip


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return statistics.median(ordered), p95, ordered[-1]


def start_demo(library: str) -> tuple[subprocess.Popen, str, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "cullarrd.cli", "demo", "--port", "0", "--library", library],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    url = password = None
    deadline = time.monotonic() + 180
    assert proc.stdout is not None
    for line in proc.stdout:
        if match := re.search(r"Web UI\s+(\S+)", line):
            url = match.group(1).rstrip("/")
        if match := re.search(r"Password\s+(\S+)", line):
            password = match.group(1)
        if line.startswith("First sync finished"):
            break
        if time.monotonic() > deadline:
            raise SystemExit("the demo did not finish its first sync in time")
    if not url or not password:
        raise SystemExit("the demo did not print its URL and password")
    return proc, url, password


def sign_in(http: httpx.Client, password: str) -> str:
    page = http.get("/login", headers={"Accept": "text/html"})
    csrf = re.search(r'data-csrf="([^"]+)"', page.text).group(1)
    answer = http.post(
        "/login", data={"email": "demo@cullarr.local", "password": password, "csrf_token": csrf}
    )
    assert answer.status_code == 303, answer.text
    home = http.get("/", headers={"Accept": "text/html"})
    return re.search(r'data-csrf="([^"]+)"', home.text).group(1)


def timed(http: httpx.Client, path: str, n: int, **kw) -> list[float]:
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        answer = http.get(path, **kw)
        samples.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200, (path, answer.status_code)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--library", default="medium", choices=("tiny", "medium"))
    parser.add_argument("-n", type=int, default=50, help="requests per measurement")
    args = parser.parse_args()
    proc, url, password = start_demo(args.library)
    rows: list[tuple[str, list[float]]] = []
    try:
        with httpx.Client(base_url=url, timeout=30) as http:
            csrf = sign_in(http, password)
            html = {"Accept": "text/html"}
            for path in PAGES:
                rows.append((f"page `{path}`", timed(http, path, args.n, headers=html)))
            rows.append(("`GET /api/v1/status`", timed(http, "/api/v1/status", args.n)))
            query = "/api/v1/candidates?scope=movie&limit=50"
            rows.append((f"`GET {query}`", timed(http, query, args.n)))
            answer = http.post("/api/v1/sync-runs", json={}, headers={"X-CSRF-Token": csrf})
            run_id = answer.json()["run"]["id"]
            during: list[float] = []
            while True:
                during += timed(http, "/api/v1/status", 1)
                run = http.get(f"/api/v1/sync-runs/{run_id}").json()["run"]
                if run["status"] not in ("queued", "running"):
                    break
                time.sleep(0.05)
            rows.append((f"`GET /api/v1/status` during a sync ({run['status']})", during))
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}; library {args.library}; n = {args.n} each\n")  # fmt: skip
    print("| measurement | n | p50 ms | p95 ms | max ms |")
    print("|---|---|---|---|---|")
    for name, samples in rows:
        p50, p95, top = percentiles(samples)
        print(f"| {name} | {len(samples)} | {p50:.1f} | {p95:.1f} | {top:.1f} |")


if __name__ == "__main__":
    main()
