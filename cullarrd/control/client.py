"""A small synchronous control-socket client for ``cullarrctl`` (contract: ``protocol``)."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from types import TracebackType
from typing import Any

from cullarrd.control.protocol import MAX_LINE_BYTES, PROTOCOL_VERSION, SERVER_NAME, encode_line

__all__ = ["BadResponse", "ControlClient", "DaemonError", "DaemonUnreachable", "ProtocolMismatch"]


class DaemonUnreachable(Exception):
    """No usable connection to the daemon: missing socket, refused, timed out, or cut off."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"cannot reach cullarrd at {path}: {reason}")
        self.path = path
        self.reason = reason


class DaemonError(Exception):
    """The daemon answered ``ok: false``; ``error`` is the SPEC §10.1 error object."""

    def __init__(self, error: dict[str, Any]) -> None:
        self.error = error
        self.code = str(error.get("code", "internal_error"))
        self.message = str(error.get("message", ""))
        self.correlation_id = error.get("correlation_id")
        self.details = error.get("details") or {}
        super().__init__(f"{self.code}: {self.message}")


class _LocalError(DaemonError):
    """An error the client detects itself, shaped like the daemon's so callers handle one kind."""

    local_code = "internal_error"

    def __init__(self, message: str, **details: Any) -> None:
        error = {"code": self.local_code, "message": message, "correlation_id": None}
        super().__init__({**error, "details": details})


class ProtocolMismatch(_LocalError):
    """The daemon speaks another protocol version than this client."""

    local_code = "protocol_version_unsupported"


class BadResponse(_LocalError):
    """The daemon sent something that does not follow the protocol."""

    local_code = "bad_response"


def _connect_reason(exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return "no such socket (is cullarrd running?)"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is cullarrd running?)"
    if isinstance(exc, PermissionError):
        return "permission denied (is your user in the socket's group?)"
    return exc.strerror or str(exc)


class ControlClient:
    """One connection to the daemon; ``call`` sends a request and waits for its final answer."""

    def __init__(
        self, path: str, timeout: float = 5.0, response_timeout: float | None = 120.0
    ) -> None:
        self.path = path
        self.timeout = timeout
        # Idle time allowed between lines of an answer; streamed events keep a long call alive.
        self.response_timeout = response_timeout
        self.server_version: str | None = None
        self._sock: socket.socket | None = None
        self._buffer = bytearray()
        self._next_id = 0

    def __enter__(self) -> ControlClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection, if open."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def connect(self) -> dict[str, Any]:
        """Connect, read the greeting and check the protocol version; returns the greeting."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.path)
        except TimeoutError:
            sock.close()
            raise DaemonUnreachable(self.path, f"timed out after {self.timeout:g} s") from None
        except OSError as exc:
            sock.close()
            raise DaemonUnreachable(self.path, _connect_reason(exc)) from None
        self._sock = sock
        try:
            return self._check_greeting(self._read_message())
        except BaseException:
            self.close()
            raise

    def _check_greeting(self, message: dict[str, Any]) -> dict[str, Any]:
        if message.get("ok") is False and isinstance(message.get("error"), dict):
            raise DaemonError(message["error"])  # e.g. peer_forbidden before any greeting
        hello = message.get("hello")
        if not isinstance(hello, dict) or hello.get("server") != SERVER_NAME:
            raise BadResponse(f"{self.path} did not greet like cullarrd does")
        protocol = hello.get("protocol")
        if protocol != PROTOCOL_VERSION:
            raise ProtocolMismatch(
                f"daemon speaks protocol {protocol}, this cullarrctl speaks {PROTOCOL_VERSION}",
                daemon_protocol=protocol,
                client_protocol=PROTOCOL_VERSION,
                daemon_version=hello.get("version"),
            )
        self.server_version = hello.get("version")
        return hello

    def call(
        self,
        cmd: str,
        args: dict[str, Any] | None = None,
        on_event: Callable[[Any], None] | None = None,
    ) -> Any:
        """Run one command; events go to ``on_event``; raises ``DaemonError`` on ``ok: false``."""
        if self._sock is None:
            self.connect()
        assert self._sock is not None
        self._next_id += 1
        request_id = self._next_id
        self._sock.settimeout(self.response_timeout)
        try:
            self._sock.sendall(encode_line({"id": request_id, "cmd": cmd, "args": args or {}}))
        except OSError as exc:
            raise DaemonUnreachable(self.path, exc.strerror or str(exc)) from None
        while True:
            message = self._read_message()
            if message.get("id") not in (request_id, None):
                raise BadResponse(f"daemon answered unknown request id {message.get('id')!r}")
            if "event" in message:
                if on_event is not None:
                    on_event(message["event"])
                continue
            if message.get("ok") is True:
                return message.get("result")
            if message.get("ok") is False and isinstance(message.get("error"), dict):
                raise DaemonError(message["error"])
            raise BadResponse("daemon sent a line that is neither an event nor a response")

    def _read_message(self) -> dict[str, Any]:
        assert self._sock is not None
        while b"\n" not in self._buffer:
            if len(self._buffer) > MAX_LINE_BYTES:
                raise BadResponse(f"daemon sent a line longer than {MAX_LINE_BYTES} bytes")
            try:
                chunk = self._sock.recv(65536)
            except TimeoutError:
                waited = self._sock.gettimeout()
                raise DaemonUnreachable(self.path, f"no answer within {waited:g} s") from None
            except OSError as exc:
                raise DaemonUnreachable(self.path, exc.strerror or str(exc)) from None
            if not chunk:
                raise DaemonUnreachable(self.path, "the daemon closed the connection")
            self._buffer += chunk
        end = self._buffer.index(b"\n")
        line = bytes(self._buffer[:end])
        del self._buffer[: end + 1]
        try:
            message = json.loads(line.decode("utf-8"))
        except ValueError:
            raise BadResponse("daemon sent a line that is not JSON") from None
        if not isinstance(message, dict):
            raise BadResponse("daemon sent a line that is not a JSON object")
        return message
