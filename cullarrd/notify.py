"""sd_notify(3) for the daemon: READY/RELOADING/STOPPING/STATUS and the watchdog keep-alive.

A thin wrapper over the ``sdnotify`` package. Without ``$NOTIFY_SOCKET`` (not started by systemd
with ``Type=notify``) every call is a no-op, and a failed send is logged at debug level and
never raised: losing a status line must not take the daemon down.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
import time

import sdnotify

from cullarrd.logging import get_logger

__all__ = ["Notifier"]

log = get_logger(__name__)

# A send blocks only if systemd stopped draining its socket; never stall the event loop for long.
_SEND_TIMEOUT_SECONDS = 0.5


class _SystemdNotifier(sdnotify.SystemdNotifier):
    """sdnotify's notifier connected to ``address``; raises when the connect fails."""

    # Upstream's constructor reads $NOTIFY_SOCKET itself and, on a failed connect, drops its
    # socket unclosed; this one closes it and raises, so the caller can log why.
    def __init__(self, address: str) -> None:
        # debug=True makes sdnotify's notify() raise instead of swallowing errors.
        self.debug = True
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.settimeout(_SEND_TIMEOUT_SECONDS)
            # As in sdnotify: a leading "@" names a socket in the abstract namespace.
            sock.connect("\0" + address[1:] if address.startswith("@") else address)
        except BaseException:
            sock.close()
            raise
        self.socket = sock


class Notifier:
    """Sends service-state notifications to systemd; every method is safe to call anywhere."""

    def __init__(self) -> None:
        address = os.environ.get("NOTIFY_SOCKET") or None
        # sd_notify accepts a filesystem path or an abstract name ("@..."); anything else
        # (e.g. vsock:, which sdnotify cannot speak) is treated as no systemd.
        if address is not None and not address.startswith(("/", "@")):
            log.debug("sd_notify.unsupported_socket", notify_socket=address)
            address = None
        self._address = address
        self._notifier: _SystemdNotifier | None = None
        # Pings come from the loop, status lines possibly from worker threads.
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        """Whether systemd asked for notifications (``$NOTIFY_SOCKET`` was set)."""
        return self._address is not None

    def ready(self, status: str | None = None) -> bool:
        """Tell systemd start-up is complete (``READY=1``), optionally with a status line."""
        return self._send("READY=1", status)

    def reloading(self, status: str | None = None) -> bool:
        """Tell systemd a reload began; it waits for the next ``ready()`` to finish it."""
        monotonic_usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self._send(f"RELOADING=1\nMONOTONIC_USEC={monotonic_usec}", status)

    def stopping(self, status: str | None = None) -> bool:
        """Tell systemd a graceful stop began (``STOPPING=1``)."""
        return self._send("STOPPING=1", status)

    def status(self, text: str) -> bool:
        """Set the one-line status shown by ``systemctl status``."""
        return self._send(None, text)

    def watchdog(self) -> bool:
        """Send one watchdog keep-alive (``WATCHDOG=1``)."""
        return self._send("WATCHDOG=1", None)

    def watchdog_interval(self) -> float | None:
        """Seconds between keep-alives: half of ``$WATCHDOG_USEC``; None when not requested."""
        raw = os.environ.get("WATCHDOG_USEC")
        if not raw:
            return None
        try:
            usec = int(raw)
        except ValueError:
            return None
        if usec <= 0:
            return None
        # The watchdog is meant for the main process only, not for a child that inherited env.
        pid = os.environ.get("WATCHDOG_PID")
        if pid:
            try:
                if int(pid) != os.getpid():
                    return None
            except ValueError:
                return None
        return usec / 2 / 1_000_000

    async def run_watchdog(self, stop_event: asyncio.Event) -> None:
        """Ping the watchdog every interval until ``stop_event`` is set.

        Runs on the daemon's event loop on purpose: if the loop stalls, the pings stop and
        systemd restarts the service, which is exactly what the watchdog is for.
        """
        interval = self.watchdog_interval()
        if interval is None or not self.enabled:
            return
        while not stop_event.is_set():
            self.watchdog()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop_event.wait(), timeout=interval)

    def close(self) -> None:
        """Close the notification socket (a later call reopens it)."""
        with self._lock:
            self._drop()

    def _send(self, state: str | None, status: str | None) -> bool:
        """Send one datagram; True when it left, False when disabled or it failed."""
        if not self.enabled:
            return False
        lines = [state] if state else []
        if status is not None:
            # A newline would start a new assignment (a status text must not say READY=1).
            lines.append("STATUS=" + " ".join(status.splitlines()))
        message = "\n".join(lines)
        with self._lock:
            try:
                if self._notifier is None:
                    self._notifier = _SystemdNotifier(self._address)
                # sdnotify encodes as Latin-1; pre-mapping lets UTF-8 text through unchanged.
                self._notifier.notify(message.encode("utf-8").decode("latin-1"))
            except Exception as exc:  # socket gone, refused, timed out: never fatal
                log.debug("sd_notify.failed", state=state, error=f"{type(exc).__name__}: {exc}")
                # Reconnect next time: systemd may have re-created its socket (daemon-reexec).
                self._drop()
                return False
        return True

    def _drop(self) -> None:
        """Forget the current connection, closing its socket."""
        notifier, self._notifier = self._notifier, None
        sock = getattr(notifier, "socket", None)
        if sock is not None:
            sock.close()
