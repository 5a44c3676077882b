"""``cullarrd demo`` as a newcomer runs it: banner, credentials, a first sync, a clean exit."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest

from cullarrd.control.client import ControlClient
from tests.harness import clean_env

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/environ").exists(), reason="finds the demo's children through /proc"
)
BANNER_TIMEOUT_S = 60.0
SYNC_TIMEOUT_S = 30.0
EXIT_TIMEOUT_S = 30.0


class Demo:
    """``cullarrd demo`` in a subprocess; stdout collected line by line as it arrives."""

    def __init__(self, stderr_path: Path, *args: str) -> None:
        # Children inherit the environment: the tag finds them all, whoever their parent is now.
        self.tag = uuid.uuid4().hex
        self.lines: list[str] = []
        self.stderr_path = stderr_path
        with open(stderr_path, "wb") as stderr:  # a file: the daemon's log can never block it
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "cullarrd.cli", "demo", *args],
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                env=clean_env(CULLARRD_DEMO_TEST_TAG=self.tag),
            )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for_line(self, pattern: str, timeout: float) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if match := re.search(pattern, line):
                    return match
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"no line matching {pattern!r}: {self.output()}")

    def output(self) -> str:
        return "\n".join(self.lines)

    def errors(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def tagged_pids(self) -> set[int]:
        """Every live process started by this demo, the demo itself excluded."""
        found = set()
        for environ in Path("/proc").glob("[0-9]*/environ"):
            try:
                if f"CULLARRD_DEMO_TEST_TAG={self.tag}".encode() in environ.read_bytes():
                    found.add(int(environ.parent.name))
            except OSError:  # gone meanwhile, or not ours
                continue
        return found - {self.proc.pid}

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def start_demo(tmp_path):
    started: list[Demo] = []

    def start(*args: str) -> Demo:
        started.append(Demo(tmp_path / f"demo-{len(started)}.stderr", *args))
        return started[-1]

    yield start
    for demo in started:
        demo.stop()


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["INT", "TERM"])
def test_demo_serves_signs_in_syncs_and_stops_cleanly(start_demo, stop_signal) -> None:
    demo = start_demo("--port", "0", "--library", "tiny")
    demo.wait_for_line(r"Ctrl-C to stop", BANNER_TIMEOUT_S)
    url = demo.wait_for_line(r"Web UI\s+(http://127\.0\.0\.1:\d+/)$", 1)[1]
    email = demo.wait_for_line(r"Email\s+(\S+)", 1)[1]
    password = demo.wait_for_line(r"Password\s+(\S+)", 1)[1]
    sock = demo.wait_for_line(r"Socket\s+(\S+)", 1)[1]
    directory = Path(demo.wait_for_line(r"Directory\s+(\S+)", 1)[1])
    fake_urls = re.findall(r"Fake\s+\w+\s+(http://\S+)", demo.output())
    assert email == "demo@cullarr.local" and len(password) >= 12 and len(fake_urls) == 3
    assert f"--socket {sock} status" in demo.output()

    assert httpx.get(url + "api/v1/health", timeout=5).status_code == 200
    run_id = int(demo.wait_for_line(r"First sync started \(run (\d+)\)", 5)[1])
    with ControlClient(sock, timeout=10) as client:
        run = client.call("runs.get", {"id": run_id})["run"]
        deadline = time.monotonic() + SYNC_TIMEOUT_S
        while run["status"] in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(0.2)
            run = client.call("runs.get", {"id": run["id"]})["run"]
        assert run["status"] == "success", run
        # Delete mode is on and the printed password is the operator's.
        assert client.call("delete.unlock", {"password": password})["token"]
    demo.wait_for_line(r"First sync finished: success", 5)

    children = demo.tagged_pids()
    assert len(children) == 4, children  # three fakes and the daemon
    demo.proc.send_signal(stop_signal)
    assert demo.proc.wait(timeout=EXIT_TIMEOUT_S) == 0, demo.errors()
    assert not demo.tagged_pids()
    for fake_url in [url, *fake_urls]:
        with pytest.raises(httpx.ConnectError):
            httpx.get(fake_url, timeout=2)
    assert not directory.exists()


def test_demo_that_cannot_start_the_daemon_stops_the_fakes(start_demo, tmp_path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        demo = start_demo("--port", port, "--library", "tiny", "--dir", str(tmp_path / "d"))
        assert demo.proc.wait(timeout=BANNER_TIMEOUT_S) == 1
    assert "the daemon exited with code 1" in demo.errors()
    assert not demo.tagged_pids()
    assert (tmp_path / "d" / "config.yaml").exists()  # a directory given with --dir is kept
