"""The control-socket wire contract shared by the daemon's server and ``cullarrctl``.

Transport: a Unix stream socket carrying UTF-8 JSON, one object per ``\\n``-terminated line; a
line may be at most ``MAX_LINE_BYTES`` (1 MiB) long.

1. On connect the server checks the peer's credentials (``SO_PEERCRED``): the daemon's own uid,
   root, or a member of the configured socket group. A refused peer gets one error line
   (``peer_forbidden``, ``id`` null) and the connection is closed. An accepted peer gets one
   greeting line::

       {"hello": {"server": "cullarrd", "version": "0.1.0", "protocol": 1}}

   A client that does not speak ``protocol`` must stop and say so; nothing else is negotiated.

2. Requests, any number per connection, handled strictly in order::

       {"id": "1", "cmd": "settings.get", "args": {"key": "sync_enabled"}}

   ``id`` is a string or an integer chosen by the client and echoed on every line about that
   request. ``cmd`` is a dotted lower-case name (``status``, ``sync.trigger``). ``args`` is
   optional and must be an object.

3. Each request gets a fresh correlation id (uuid4 hex), bound into the daemon's logs for the
   handler and returned at the top level of every line about the request. Zero or more events
   may come first, then exactly one final response::

       {"id": "1", "correlation_id": "…", "event": {...}}
       {"id": "1", "correlation_id": "…", "ok": true, "result": ...}
       {"id": "1", "correlation_id": "…", "ok": false,
        "error": {"code": "…", "message": "…", "correlation_id": "…", "details": {...}}}

   The error object is the one every interface renders (SPEC §10.1, ``CullarrError.to_dict``).

Protocol errors never close the connection except where noted: malformed JSON, a non-object, a
missing or invalid ``id``/``cmd`` or a non-object ``args`` answer ``bad_request`` (``id`` null
when it could not be read); an unknown command answers ``unknown_command``; an unexpected failure
inside a handler answers ``internal_error`` with a generic message (the traceback goes to the
daemon log only). A line longer than ``MAX_LINE_BYTES`` answers ``bad_request`` and then the
server closes the connection, because the rest of that line cannot be told apart from a request.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from cullarrd.errors import CullarrError

PROTOCOL_VERSION = 1
SERVER_NAME = "cullarrd"
MAX_LINE_BYTES = 1024 * 1024

RequestId = str | int
_COMMAND_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")


@dataclass(frozen=True)
class PeerCredentials:
    """Who is on the other end of a socket connection, as the kernel reports it."""

    pid: int
    uid: int
    gid: int


@dataclass
class CommandContext:
    """What a command handler knows about the request besides its arguments."""

    correlation_id: str
    peer: PeerCredentials
    channel: str = "socket"
    # Streams one {"id", "event"} line to the caller before the final response.
    emit: Callable[[dict[str, Any]], Awaitable[None]] | None = None


@dataclass(frozen=True)
class Request:
    """One parsed request line."""

    id: RequestId
    cmd: str
    args: dict[str, Any]


class BadRequest(CullarrError):
    """A request line that does not follow the protocol; ``request_id`` is set when readable."""

    code = "bad_request"

    def __init__(self, message: str, request_id: RequestId | None = None) -> None:
        super().__init__(message)
        self.request_id = request_id


class UnknownCommand(CullarrError):
    """A well-formed request naming a command the daemon does not have."""

    code = "unknown_command"

    def __init__(self, cmd: str, known: list[str] | None = None) -> None:
        details: dict[str, Any] = {"command": cmd}
        if known is not None:
            details["known"] = sorted(known)
        super().__init__(f"unknown command {cmd!r}", details=details)


def greeting(version: str) -> dict[str, Any]:
    """The first line the server sends to an accepted peer."""
    return {"hello": {"server": SERVER_NAME, "version": version, "protocol": PROTOCOL_VERSION}}


def _valid_id(value: object) -> bool:
    return isinstance(value, str | int) and not isinstance(value, bool)


def parse_request(line: bytes) -> Request:
    """Decode and validate one request line, raising ``BadRequest`` with a plain reason."""
    try:
        message = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError:
        raise BadRequest("request is not valid UTF-8") from None
    except ValueError as exc:
        raise BadRequest(f"request is not valid JSON: {exc}") from None
    if not isinstance(message, dict):
        raise BadRequest("request must be a JSON object")
    request_id = message.get("id")
    if not _valid_id(request_id):
        raise BadRequest('request needs an "id" that is a string or an integer')
    cmd = message.get("cmd")
    if not isinstance(cmd, str) or not _COMMAND_NAME.match(cmd):
        raise BadRequest('request needs a "cmd" like "status" or "settings.get"', request_id)
    args = message.get("args", {})
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise BadRequest('"args" must be a JSON object', request_id)
    return Request(id=request_id, cmd=cmd, args=args)


def ok_response(request_id: RequestId, correlation_id: str, result: object) -> dict[str, Any]:
    """The final line of a request that succeeded."""
    return {"id": request_id, "correlation_id": correlation_id, "ok": True, "result": result}


def error_response(
    request_id: RequestId | None, correlation_id: str, error: CullarrError
) -> dict[str, Any]:
    """The final line of a request that failed; ``error`` is rendered as in SPEC §10.1."""
    return {
        "id": request_id,
        "correlation_id": correlation_id,
        "ok": False,
        "error": error.to_dict(correlation_id)["error"],
    }


def event_line(request_id: RequestId, correlation_id: str, event: dict[str, Any]) -> dict:
    """A progress line streamed before the final response."""
    return {"id": request_id, "correlation_id": correlation_id, "event": event}


def _json_default(value: object) -> object:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def encode_line(message: dict[str, Any]) -> bytes:
    """One message as a UTF-8 JSON line; raises ``TypeError``/``ValueError`` if unencodable."""
    text = json.dumps(message, ensure_ascii=False, allow_nan=False, default=_json_default)
    return text.encode("utf-8") + b"\n"
