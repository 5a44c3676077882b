"""The daemon's control socket: peer-checked JSON lines (see ``protocol``) onto one dispatch."""

from __future__ import annotations

import asyncio
import contextlib
import grp
import os
import pwd
import socket
import stat
import struct
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import structlog

from cullarrd import __version__
from cullarrd.control.protocol import (
    MAX_LINE_BYTES,
    BadRequest,
    CommandContext,
    PeerCredentials,
    Request,
    UnknownCommand,
    encode_line,
    error_response,
    event_line,
    greeting,
    ok_response,
    parse_request,
)
from cullarrd.errors import ConfigError, CullarrError

__all__ = [
    "CommandContext",
    "CommandTable",
    "ControlServer",
    "Dispatch",
    "Handler",
    "PeerCredentials",
    "peer_allowed",
    "peer_credentials",
]

Dispatch = Callable[[str, dict[str, Any], CommandContext], Awaitable[object]]
Handler = Callable[[dict[str, Any], CommandContext], Awaitable[object]]

log = structlog.get_logger()

_INTERNAL_MESSAGE = "internal error; the daemon log has the details under this correlation id"
_STOP_GRACE_S = 0.5


def peer_credentials(sock: socket.socket) -> PeerCredentials:
    """The kernel's view of who connected (``SO_PEERCRED``, Linux)."""
    size = struct.calcsize("3i")
    pid, uid, gid = struct.unpack(
        "3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, size)
    )
    return PeerCredentials(pid=pid, uid=uid, gid=gid)


def peer_allowed(peer: PeerCredentials, *, owner_uid: int, group_gid: int | None) -> bool:
    """Same uid as the daemon, root, or a member of the socket group (primary or listed)."""
    if peer.uid in (0, owner_uid):
        return True
    if group_gid is None:
        return False
    if peer.gid == group_gid:
        return True
    try:
        name = pwd.getpwuid(peer.uid).pw_name
        members = grp.getgrgid(group_gid).gr_mem
    except KeyError:
        return False
    return name in members


class CommandTable:
    """A ``Dispatch`` built from command names to handlers; other names get ``unknown_command``."""

    def __init__(self, handlers: Mapping[str, Handler] | None = None) -> None:
        self._handlers: dict[str, Handler] = dict(handlers or {})

    def register(self, name: str, handler: Handler) -> None:
        """Add one command; a name may be registered once."""
        if name in self._handlers:
            raise ValueError(f"command {name!r} is already registered")
        self._handlers[name] = handler

    def names(self) -> list[str]:
        """Every registered command name, sorted."""
        return sorted(self._handlers)

    async def __call__(self, cmd: str, args: dict[str, Any], ctx: CommandContext) -> object:
        handler = self._handlers.get(cmd)
        if handler is None:
            raise UnknownCommand(cmd, self.names())
        return await handler(args, ctx)


def _resolve_group(group: str) -> int:
    if group.isdigit():
        return int(group)
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        raise ConfigError([f"socket.group: group {group!r} does not exist"]) from None


def _clear_stale_socket(path: str) -> None:
    """Remove a socket file nobody listens on; refuse to touch a live socket or a non-socket."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise CullarrError(
            f"{path} exists and is not a socket; refusing to replace it", code="conflict"
        )
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(path)
    except ConnectionRefusedError:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        log.info("control.stale_socket_removed", path=path)
        return
    except TimeoutError:
        pass  # a full backlog means someone is listening
    except OSError as exc:
        raise CullarrError(f"cannot check existing socket {path}: {exc.strerror}") from exc
    finally:
        probe.close()
    raise CullarrError(f"another cullarrd is already listening on {path}", code="conflict")


class _Connection:
    """One accepted client: its writer and a lock so event and response lines never interleave."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self._lock = asyncio.Lock()

    async def send(self, data: bytes) -> None:
        async with self._lock:
            self.writer.write(data)
            await self.writer.drain()


class ControlServer:
    """Listens on a Unix socket and answers protocol requests through ``dispatch``."""

    def __init__(
        self,
        path: str,
        dispatch: Dispatch,
        *,
        mode: int = 0o660,
        group: str | None = None,
        on_peer_refused: Callable[[PeerCredentials], Awaitable[None]] | None = None,
        peer_lookup: Callable[[socket.socket], PeerCredentials] | None = None,
    ) -> None:
        self.path = path
        self.mode = mode
        self.group = group
        self._dispatch = dispatch
        self._on_peer_refused = on_peer_refused
        self._peer_lookup = peer_lookup or peer_credentials
        self._owner_uid = os.getuid()
        self._group_gid: int | None = None
        self._server: asyncio.Server | None = None
        self._identity: tuple[int, int] | None = None
        self._connections: dict[asyncio.Task[Any], _Connection] = {}

    async def start(self) -> None:
        """Create the socket file (replacing a stale one), apply mode and group, start listening."""
        if self._server is not None:
            raise RuntimeError("control server already started")
        self._group_gid = _resolve_group(self.group) if self.group is not None else None
        try:
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        except OSError as exc:
            raise CullarrError(f"cannot create the directory for {self.path}: {exc}") from exc
        _clear_stale_socket(self.path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._bind(sock)
            self._server = await asyncio.start_unix_server(
                self._on_connect, sock=sock, limit=MAX_LINE_BYTES
            )
        except BaseException:
            sock.close()
            self._remove_socket_file()
            raise
        log.info("control.listening", path=self.path, mode=oct(self.mode), group=self.group)

    def _bind(self, sock: socket.socket) -> None:
        # Mode and group are applied before listen(), so no peer ever sees looser permissions.
        try:
            sock.bind(self.path)
        except OSError as exc:
            raise CullarrError(f"cannot create the control socket {self.path}: {exc}") from exc
        st = os.stat(self.path)
        self._identity = (st.st_dev, st.st_ino)
        try:
            os.chmod(self.path, self.mode)
        except OSError as exc:
            raise CullarrError(f"cannot set mode of {self.path}: {exc.strerror}") from exc
        if self._group_gid is not None:
            try:
                os.chown(self.path, -1, self._group_gid)
            except OSError as exc:
                problem = f"cannot give {self.path} to group {self.group!r}: {exc.strerror}"
                raise ConfigError([f"socket.group: {problem}"]) from exc

    async def stop(self) -> None:
        """Stop listening, drop open connections and remove the socket file."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        tasks = list(self._connections)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=_STOP_GRACE_S)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.wait_closed(), _STOP_GRACE_S)
        self._remove_socket_file()
        log.info("control.stopped", path=self.path)

    def _remove_socket_file(self) -> None:
        # Only our own file: another daemon may have replaced it since.
        with contextlib.suppress(FileNotFoundError):
            st = os.lstat(self.path)
            if self._identity == (st.st_dev, st.st_ino):
                os.unlink(self.path)
        self._identity = None

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        conn = _Connection(writer)
        self._connections[task] = conn
        try:
            await self._serve(reader, conn)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away; nothing to answer
        except Exception:
            log.exception("control.connection_failed")
        finally:
            self._connections.pop(task, None)
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), _STOP_GRACE_S)

    async def _serve(self, reader: asyncio.StreamReader, conn: _Connection) -> None:
        peer = self._identify(conn.writer)
        if peer is None or not peer_allowed(
            peer, owner_uid=self._owner_uid, group_gid=self._group_gid
        ):
            await self._refuse(conn, peer)
            return
        await conn.send(encode_line(greeting(__version__)))
        while True:
            try:
                line = await reader.readline()
            except ValueError:
                too_long = BadRequest(f"request line is longer than {MAX_LINE_BYTES} bytes")
                await conn.send(encode_line(error_response(None, uuid.uuid4().hex, too_long)))
                return
            if not line:
                return
            if line.strip():
                await self._handle_line(line, peer, conn)

    def _identify(self, writer: asyncio.StreamWriter) -> PeerCredentials | None:
        try:
            return self._peer_lookup(writer.get_extra_info("socket"))
        except Exception:
            log.exception("control.peer_lookup_failed")
            return None

    async def _refuse(self, conn: _Connection, peer: PeerCredentials | None) -> None:
        who = f"uid {peer.uid}" if peer is not None else "an unidentified peer"
        log.warning("control.peer_refused", peer_uid=getattr(peer, "uid", None))
        error = CullarrError(f"{who} may not use this socket", code="peer_forbidden")
        await conn.send(encode_line(error_response(None, uuid.uuid4().hex, error)))
        if peer is not None and self._on_peer_refused is not None:
            try:
                await self._on_peer_refused(peer)
            except Exception:
                log.exception("control.on_peer_refused_failed")

    async def _handle_line(self, line: bytes, peer: PeerCredentials, conn: _Connection) -> None:
        correlation_id = uuid.uuid4().hex
        with structlog.contextvars.bound_contextvars(
            correlation_id=correlation_id, peer_uid=peer.uid
        ):
            try:
                request = parse_request(line)
            except BadRequest as exc:
                log.info("control.bad_request", reason=exc.message)
                await conn.send(encode_line(error_response(exc.request_id, correlation_id, exc)))
                return
            await conn.send(await self._run(request, peer, conn, correlation_id))

    async def _run(
        self, request: Request, peer: PeerCredentials, conn: _Connection, correlation_id: str
    ) -> bytes:
        """Run one command and return its final response line; never raises for handler bugs."""

        async def emit(event: dict[str, Any]) -> None:
            await conn.send(encode_line(event_line(request.id, correlation_id, event)))

        ctx = CommandContext(correlation_id=correlation_id, peer=peer, emit=emit)
        started = time.monotonic()
        try:
            result = await self._dispatch(request.cmd, request.args, ctx)
            response = ok_response(request.id, correlation_id, result)
        except CullarrError as exc:
            response = error_response(request.id, correlation_id, exc)
        except Exception:
            log.exception("control.command_failed", cmd=request.cmd)
            response = error_response(request.id, correlation_id, CullarrError(_INTERNAL_MESSAGE))
        duration_ms = round((time.monotonic() - started) * 1000, 1)
        error_code = response["error"]["code"] if "error" in response else None
        log.debug(
            "control.command", cmd=request.cmd, error_code=error_code, duration_ms=duration_ms
        )
        try:
            return encode_line(response)
        except (TypeError, ValueError):
            log.exception("control.response_unencodable", cmd=request.cmd)
            internal = CullarrError(_INTERNAL_MESSAGE)
            return encode_line(error_response(request.id, correlation_id, internal))
