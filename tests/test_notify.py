"""sd_notify: real datagrams on real AF_UNIX sockets (filesystem and abstract), and the watchdog."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Iterator

import pytest

from cullarrd.notify import Notifier


def _receiver(address: str | bytes) -> socket.socket:
    """A bound datagram socket standing in for systemd's notification socket."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.settimeout(2.0)
    return sock


@pytest.fixture
def path_socket(monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """A filesystem notification socket in $NOTIFY_SOCKET (short path: AF_UNIX ≤ 107 bytes)."""
    directory = tempfile.mkdtemp(dir="/tmp", prefix="cullarr-")
    path = os.path.join(directory, "notify")
    sock = _receiver(path)
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    yield sock
    sock.close()
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def abstract_socket(monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """An abstract-namespace notification socket, given to us as "@name" like systemd does."""
    name = f"cullarr-test-{uuid.uuid4().hex}"
    sock = _receiver("\0" + name)
    monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
    yield sock
    sock.close()


def _receive(sock: socket.socket) -> str:
    return sock.recv(4096).decode("utf-8")


def test_lifecycle_messages_arrive(path_socket: socket.socket) -> None:
    notifier = Notifier()
    assert notifier.enabled
    assert notifier.ready()
    assert _receive(path_socket) == "READY=1"
    assert notifier.watchdog()
    assert _receive(path_socket) == "WATCHDOG=1"
    assert notifier.status("syncing sonarr-main: 40% → inventory")
    assert _receive(path_socket) == "STATUS=syncing sonarr-main: 40% → inventory"
    assert notifier.stopping()
    assert _receive(path_socket) == "STOPPING=1"
    notifier.close()


def test_reloading_carries_monotonic_timestamp(path_socket: socket.socket) -> None:
    notifier = Notifier()
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    notifier.reloading()
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    first, second = _receive(path_socket).split("\n")
    assert first == "RELOADING=1"
    key, value = second.split("=")
    assert key == "MONOTONIC_USEC"
    assert before <= int(value) <= after
    notifier.close()


def test_status_cannot_inject_other_assignments(path_socket: socket.socket) -> None:
    notifier = Notifier()
    notifier.ready(status="up\nSTOPPING=1")
    assert _receive(path_socket).split("\n") == ["READY=1", "STATUS=up STOPPING=1"]
    notifier.close()


def test_abstract_socket_name(abstract_socket: socket.socket) -> None:
    notifier = Notifier()
    assert notifier.ready()
    assert _receive(abstract_socket) == "READY=1"
    notifier.close()


def test_without_notify_socket_everything_is_a_quiet_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    monkeypatch.setenv("WATCHDOG_USEC", "2000000")
    notifier = Notifier()
    assert not notifier.enabled
    assert notifier.ready() is False
    assert notifier.reloading() is False
    assert notifier.status("x") is False
    assert notifier.watchdog() is False
    assert notifier.stopping() is False
    notifier.close()


def test_vanished_socket_is_not_fatal_and_recovers(monkeypatch: pytest.MonkeyPatch) -> None:
    directory = tempfile.mkdtemp(dir="/tmp", prefix="cullarr-")
    path = os.path.join(directory, "notify")
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    try:
        notifier = Notifier()
        assert notifier.enabled
        assert notifier.ready() is False  # nobody listening yet
        receiver = _receiver(path)
        assert notifier.ready() is True  # reconnects once systemd's socket is back
        assert _receive(receiver) == "READY=1"
        receiver.close()
        os.unlink(path)
        assert notifier.watchdog() is False  # socket gone mid-run
        notifier.close()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def test_watchdog_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    monkeypatch.setenv("WATCHDOG_USEC", "2000000")
    assert Notifier().watchdog_interval() == 1.0
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert Notifier().watchdog_interval() == 1.0
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))
    assert Notifier().watchdog_interval() is None  # meant for another process
    monkeypatch.delenv("WATCHDOG_PID")
    for bad in ("0", "-5", "soon"):
        monkeypatch.setenv("WATCHDOG_USEC", bad)
        assert Notifier().watchdog_interval() is None
    monkeypatch.delenv("WATCHDOG_USEC")
    assert Notifier().watchdog_interval() is None


async def test_run_watchdog_pings_until_stopped(
    path_socket: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    monkeypatch.setenv("WATCHDOG_USEC", "100000")  # ping every 50 ms
    notifier = Notifier()
    stop = asyncio.Event()
    task = asyncio.create_task(notifier.run_watchdog(stop))
    await asyncio.sleep(0.18)
    stop.set()
    started = time.monotonic()
    await asyncio.wait_for(task, timeout=1.0)
    assert time.monotonic() - started < 0.05  # stops promptly, not at the next tick

    path_socket.setblocking(False)
    pings = []
    while True:
        try:
            pings.append(_receive(path_socket))
        except BlockingIOError:
            break
    assert 3 <= len(pings) <= 5
    assert set(pings) == {"WATCHDOG=1"}
    notifier.close()


async def test_run_watchdog_returns_at_once_without_watchdog(
    path_socket: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    stop = asyncio.Event()
    await asyncio.wait_for(Notifier().run_watchdog(stop), timeout=0.5)
