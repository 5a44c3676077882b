"""``cullarrd demo``: the whole workflow on one machine, with no media server (SPEC §11).

A newcomer should see candidates, blockers and a deletion without owning Plex, Sonarr, Radarr or
Tautulli. So the demo starts the three fakes over one generated library (same size and seed, so
they describe one consistent home server), writes a throw-away config and SQLite store, runs the
real daemon on them, creates an operator and prints how to sign in.

Every part runs as a child process, exactly as it would in production (``cullarrd fake``,
``cullarrd serve``), and the demo only supervises them: it stops the daemon before the fakes (so a
sync in flight does not see its upstreams vanish) and leaves no child behind, whichever way it
ends.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import re
import secrets
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from cullarrd.control.client import ControlClient, DaemonError, DaemonUnreachable

OPERATOR_EMAIL = "demo@cullarr.local"
PASSWORD_LENGTH = 16
KINDS = ("sonarr", "radarr", "tautulli")
# A cheap authenticated request per kind: it answers 200 only once the fake serves its library.
READY_PROBES = {
    "sonarr": ("/api/v3/system/status", {}),
    "radarr": ("/api/v3/system/status", {}),
    "tautulli": ("/api/v2", {"cmd": "status"}),
}
SERVING = re.compile(r"serving on (http://\S+)")
FAKE_READY_TIMEOUT_S = 30.0
DAEMON_READY_TIMEOUT_S = 60.0
# The daemon bounds each of its stop steps to a few seconds; leave room for all of them.
DAEMON_STOP_TIMEOUT_S = 20.0
FAKE_STOP_TIMEOUT_S = 5.0
POLL_S = 0.1
ACTIVE_SYNC = ("queued", "running")
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


class DemoError(Exception):
    """The demo could not start; the message says which part and why."""


@dataclass
class Fake:
    """One fake service child process."""

    kind: str
    api_key: str
    log_path: Path
    proc: subprocess.Popen
    url: str = ""


class Children:
    """The demo's child processes, stopped daemon first, then the fakes."""

    def __init__(self) -> None:
        self.daemon: subprocess.Popen | None = None
        self.fakes: list[subprocess.Popen] = []

    def stop(self) -> None:
        """SIGTERM, wait (bounded), SIGKILL what remains; the fakes stop together."""
        if self.daemon is not None:
            _terminate([self.daemon], DAEMON_STOP_TIMEOUT_S)
        _terminate(self.fakes, FAKE_STOP_TIMEOUT_S)


def main(args: argparse.Namespace) -> int:
    """Run the demo until Ctrl-C or SIGTERM; the exit code (0 after a requested stop)."""
    try:
        directory, created = _prepare_dir(args.dir)
    except OSError as exc:
        print(f"cullarrd demo: cannot use {args.dir}: {exc.strerror}", file=sys.stderr)
        return 1
    children = Children()
    # SIGTERM takes the same path as Ctrl-C: out of whatever is waiting, into the cleanup.
    previous_term = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        return _run(args, directory, created, children)
    except KeyboardInterrupt:
        return 0
    except DemoError as exc:
        print(f"cullarrd demo: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        # A second Ctrl-C must not cut the cleanup short and leave children behind; every stop
        # step is bounded, so ignoring signals meanwhile cannot hang the demo.
        with _signals_ignored():
            children.stop()
            if created and not args.keep:
                shutil.rmtree(directory, ignore_errors=True)
            elif created:
                print(f"Demo directory kept: {directory}", flush=True)
        signal.signal(signal.SIGTERM, previous_term)


def _run(args: argparse.Namespace, directory: Path, created: bool, children: Children) -> int:
    fakes = []
    for kind in KINDS:
        fakes.append(_start_fake(kind, directory, args.library, args.seed))
        children.fakes.append(fakes[-1].proc)
    deadline = time.monotonic() + FAKE_READY_TIMEOUT_S
    for fake in fakes:
        _wait_fake(fake, deadline)
    port = args.port or _free_port()
    config_path, socket_path = _write_config(directory, fakes, port)
    children.daemon = _spawn(
        [sys.executable, "-m", "cullarrd.cli", "serve", "--config", str(config_path)]
    )
    base_url = f"http://127.0.0.1:{port}/"
    _wait_daemon(children.daemon, base_url + "api/v1/health")
    password = _new_password()
    _call(socket_path, "operator.set_password", {"email": OPERATOR_EMAIL, "password": password})
    if not created:
        fate = "yours, kept"
    elif args.keep:
        fate = "kept on exit"
    else:
        fate = "removed on exit; --keep keeps it"
    banner = _banner(args, base_url, password, socket_path, f"{directory} ({fate})", fakes)
    print(banner, flush=True)
    run = _call(socket_path, "sync.trigger")["run"]
    print(f"First sync started (run {run['id']}).", flush=True)
    return _supervise(children.daemon, socket_path, run["id"])


def _prepare_dir(requested: str | None) -> tuple[Path, bool]:
    """The demo directory and whether the demo created it (only then is it removed on exit)."""
    if requested is None:
        return Path(tempfile.mkdtemp(prefix="cullarrd-demo-")), True
    path = Path(requested).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path, False


def _spawn(argv: list[str], log: Any = None) -> subprocess.Popen:
    """Start a child in its own process group: the terminal's Ctrl-C reaches only the demo,
    which then stops the children in order."""
    return subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        process_group=0,
        preexec_fn=_die_with_parent if sys.platform == "linux" else None,
    )


def _die_with_parent() -> None:
    """In the child, before exec (Linux): SIGTERM it if the demo dies without its cleanup,
    e.g. on SIGKILL."""
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _start_fake(kind: str, directory: Path, library: str, seed: int) -> Fake:
    api_key = secrets.token_hex(16)  # 32 characters, the only length Tautulli accepts
    log_path = directory / f"fake-{kind}.log"
    with open(log_path, "wb") as log:
        proc = _spawn(
            [sys.executable, "-m", "cullarrd.cli", "fake", kind, "--port", "0",
             "--api-key", api_key, "--library", library, "--seed", str(seed)],
            log,
        )  # fmt: skip
    return Fake(kind, api_key, log_path, proc)


def _wait_fake(fake: Fake, deadline: float) -> None:
    """Read the port the fake bound (it prints its URL), then wait until it answers."""
    while not fake.url:
        _check_alive(fake.proc, f"fake {fake.kind}", fake.log_path)
        if match := SERVING.search(fake.log_path.read_text(errors="replace")):
            fake.url = match[1]
        elif time.monotonic() > deadline:
            raise DemoError(f"fake {fake.kind} did not start within {FAKE_READY_TIMEOUT_S:g} s")
        else:
            time.sleep(POLL_S)
    path, params = READY_PROBES[fake.kind]
    url, params = fake.url + path, {**params, "apikey": fake.api_key}
    while not _answers(url, params):
        _check_alive(fake.proc, f"fake {fake.kind}", fake.log_path)
        if time.monotonic() > deadline:
            raise DemoError(f"fake {fake.kind} at {fake.url} does not answer {path}")
        time.sleep(POLL_S)


def _wait_daemon(daemon: subprocess.Popen, health_url: str) -> None:
    deadline = time.monotonic() + DAEMON_READY_TIMEOUT_S
    while not _answers(health_url, {}):
        # The daemon logs to our stderr, so its own reason is already on screen.
        _check_alive(daemon, "the daemon", None)
        if time.monotonic() > deadline:
            raise DemoError(
                f"the daemon did not answer {health_url} within {DAEMON_READY_TIMEOUT_S:g} s"
            )
        time.sleep(POLL_S)


def _answers(url: str, params: dict[str, str]) -> bool:
    try:
        return httpx.get(url, params=params, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _check_alive(proc: subprocess.Popen, what: str, log_path: Path | None) -> None:
    code = proc.poll()
    if code is None:
        return
    message = f"{what} exited with code {code} before it was ready"
    if log_path is not None:
        tail = log_path.read_text(errors="replace").strip().splitlines()[-5:]
        message += "".join(f"\n  {line}" for line in tail)
    raise DemoError(message)


def _free_port() -> int:
    """A free loopback port for the web page (the daemon's config cannot say "any port")."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _write_config(directory: Path, fakes: list[Fake], port: int) -> tuple[Path, str]:
    """The demo's config (readable by this user only: it holds the keys and the delete secret)."""
    socket_path = str(directory / "cullarrd.sock")
    config = {
        "database": {"url": f"sqlite:///{directory / 'cullarr.db'}"},
        "web": {"listen": f"127.0.0.1:{port}"},
        "socket": {"path": socket_path, "mode": "0600"},
        # Warnings only: the banner stays readable while problems still show.
        "log": {"format": "console", "level": "warning"},
        "delete_mode": {"enabled": True, "secret": secrets.token_urlsafe(32)},
        "integrations": [
            {"kind": f.kind, "name": f"demo-{f.kind}", "base_url": f.url, "api_key": f.api_key}
            for f in fakes
        ],
    }
    path = directory / "config.yaml"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with open(fd, "w", encoding="utf-8") as handle:
        yaml.safe_dump(config, handle, sort_keys=False)
    return path, socket_path


def _new_password() -> str:
    # Letters and digits only: nothing a shell or a form would mangle when pasted.
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(PASSWORD_LENGTH))


def _call(socket_path: str, cmd: str, args: dict[str, Any] | None = None) -> Any:
    try:
        with ControlClient(socket_path, timeout=10) as client:
            return client.call(cmd, args)
    except (DaemonError, DaemonUnreachable) as exc:
        raise DemoError(f"{cmd} over {socket_path} failed: {exc}") from None


def _banner(
    args: argparse.Namespace,
    base_url: str,
    password: str,
    socket_path: str,
    directory: str,
    fakes: list[Fake],
) -> str:
    """What a newcomer needs: where to sign in, with what, and how to drive it from a shell."""
    ctl = Path(sys.executable).with_name("cullarrctl")
    ctl_cmd = f"{ctl if ctl.exists() else 'cullarrctl'} --socket {socket_path}"
    lines = [
        "",
        f"cullarrd demo is running (library {args.library}, seed {args.seed})",
        "",
        f"  Web UI     {base_url}",
        f"  Email      {OPERATOR_EMAIL}",
        f"  Password   {password}   (shown only here)",
        f"  Socket     {socket_path}",
        f"  Directory  {directory}",
        *(f"  Fake       {f.kind:<9}{f.url}" for f in fakes),
        "",
        f"  Try:  {ctl_cmd} status",
        f"        {ctl_cmd} candidates --scope movie",
        "",
        "Delete mode is on: a deletion removes files of the simulated Sonarr and Radarr only,",
        "never anything on this machine.",
        "Ctrl-C to stop.",
        "",
    ]
    return "\n".join(lines)


def _supervise(daemon: subprocess.Popen, socket_path: str, run_id: int) -> int:
    """Wait for the daemon (normally until Ctrl-C); say once when the first sync has ended."""
    reported = False
    while True:
        try:
            code = daemon.wait(timeout=1)
        except subprocess.TimeoutExpired:
            reported = reported or _report_if_ended(socket_path, run_id)
            continue
        print(f"cullarrd demo: the daemon stopped (exit code {code})", file=sys.stderr)
        return 1 if code else 0


def _report_if_ended(socket_path: str, run_id: int) -> bool:
    try:
        run = _call(socket_path, "runs.get", {"id": run_id})["run"]
    except DemoError:  # a daemon going away is noticed by the caller's wait()
        return False
    if run["status"] in ACTIVE_SYNC:
        return False
    detail = f" ({run['error_message']})" if run["error_message"] else ""
    print(f"First sync finished: {run['status']}{detail}.", flush=True)
    return True


def _terminate(procs: list[subprocess.Popen], timeout: float) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + timeout
    for proc in procs:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def _signals_ignored() -> Iterator[None]:
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
