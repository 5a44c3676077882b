"""Serve one fake (Sonarr, Radarr or Tautulli) over HTTP until SIGTERM: ``cullarrd fake``.

The three kinds started with the same library size and seed describe the same home server. The
fake's ``/__fake__/`` control routes (see ``faults.py``) steer faults and expose the writes it
received. Real Tautulli only accepts a 32-character API key; pick one of that length for it.
"""

from __future__ import annotations

import contextlib
import importlib
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from types import FrameType, ModuleType
from typing import Any

import uvicorn

from cullarrd_plugins.fakelib.faults import Faults, WriteLog
from cullarrd_plugins.fakelib.generator import SIZES, generate

KINDS = ("sonarr", "radarr", "tautulli")


class FakeServer(uvicorn.Server):
    """uvicorn that ends cleanly on SIGTERM/SIGINT instead of re-raising the signal afterwards."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        stop_signals = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, self._request_stop) for sig in stop_signals}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _request_stop(self, signum: int, frame: FrameType | None) -> None:
        self.should_exit = True


def load_fake(kind: str) -> ModuleType:
    """The ``cullarrd_plugins.<kind>.fake`` module; ``ValueError`` if that kind has none."""
    if kind not in KINDS:
        raise ValueError(f"unknown fake kind {kind!r}; one of {', '.join(KINDS)}")
    name = f"cullarrd_plugins.{kind}.fake"
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise
        raise ValueError(f"no fake for {kind}: {name} is not installed") from exc
    if not hasattr(module, "create_app"):
        raise ValueError(f"{name} has no create_app()")
    return module


def build_app(
    kind: str,
    *,
    api_key: str,
    library: str = "tiny",
    seed: int = 1,
    plex_down: bool = False,
    faults: Faults | None = None,
    writes: WriteLog | None = None,
) -> Any:
    """The Starlette app of one fake over a freshly generated library."""
    if plex_down and kind != "tautulli":
        raise ValueError("plex_down applies to the tautulli fake only")
    if library not in SIZES:
        raise ValueError(f"unknown library size {library!r}; one of {', '.join(SIZES)}")
    module = load_fake(kind)
    options: dict[str, Any] = {
        "api_key": api_key,
        "faults": faults if faults is not None else Faults(),
        "writes": writes if writes is not None else WriteLog(),
    }
    if kind == "tautulli":
        options["plex_down"] = plex_down
    return module.create_app(generate(library, seed), **options)


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted connections inherit it: no 40 ms Nagle/delayed-ACK stall per answer.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def run_fake(
    kind: str,
    *,
    port: int,
    api_key: str,
    library: str = "tiny",
    seed: int = 1,
    plex_down: bool = False,
    host: str = "127.0.0.1",
) -> int:
    """Serve the ``kind`` fake on host:port until SIGTERM/SIGINT; the exit code (0, or 1)."""
    app = build_app(kind, api_key=api_key, library=library, seed=seed, plex_down=plex_down)
    try:
        sock = _listen(host, port)
    except OSError as exc:
        print(f"fake {kind}: cannot listen on {host}:{port}: {exc.strerror}", file=sys.stderr)
        return 1
    bound_port = sock.getsockname()[1]
    shown_host = f"[{host}]" if ":" in host else host
    print(
        f"fake {kind} serving on http://{shown_host}:{bound_port} (library={library}, seed={seed})",
        file=sys.stderr,
        flush=True,
    )
    config = uvicorn.Config(
        app, log_config=None, access_log=False, timeout_graceful_shutdown=1, proxy_headers=False
    )
    with sock:
        FakeServer(config).run(sockets=[sock])
    return 0
