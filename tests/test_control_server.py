"""The control socket server over real Unix sockets: protocol, errors, permissions, lifecycle."""

from __future__ import annotations

import asyncio
import contextlib
import grp
import json
import os
import pwd
import shutil
import socket
import stat
import tempfile
import time
from typing import Any

import pytest
from structlog.contextvars import merge_contextvars
from structlog.testing import capture_logs

from cullarrd import __version__
from cullarrd.control.protocol import MAX_LINE_BYTES, PROTOCOL_VERSION
from cullarrd.control.server import (
    CommandContext,
    CommandTable,
    ControlServer,
    PeerCredentials,
)
from cullarrd.errors import CullarrError

FOREIGN = PeerCredentials(pid=4242, uid=54321, gid=54321)


async def _echo(args: dict[str, Any], ctx: CommandContext) -> object:
    return {"args": args, "correlation_id": ctx.correlation_id, "peer_uid": ctx.peer.uid}


async def _fail(args: dict[str, Any], ctx: CommandContext) -> object:
    raise CullarrError("that is not allowed", code="conflict", details={"why": "test"})


async def _boom(args: dict[str, Any], ctx: CommandContext) -> object:
    raise RuntimeError("secret internal detail xyz")


async def _stream(args: dict[str, Any], ctx: CommandContext) -> object:
    assert ctx.emit is not None
    await ctx.emit({"n": 1})
    await ctx.emit({"n": 2})
    return "done"


async def _unencodable(args: dict[str, Any], ctx: CommandContext) -> object:
    return {"thing": object()}


DISPATCH = CommandTable(
    {"echo": _echo, "fail": _fail, "boom": _boom, "stream": _stream, "bad.result": _unencodable}
)


class Peer:
    """A raw client connection speaking JSON lines."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, path: str) -> Peer:
        reader, writer = await asyncio.open_unix_connection(path, limit=4 * MAX_LINE_BYTES)
        return cls(reader, writer)

    async def raw_line(self) -> bytes:
        return await asyncio.wait_for(self.reader.readline(), 5)

    async def line(self) -> dict[str, Any]:
        raw = await self.raw_line()
        assert raw.endswith(b"\n"), raw
        return json.loads(raw)

    async def send(self, data: bytes | dict[str, Any]) -> None:
        if isinstance(data, dict):
            data = json.dumps(data).encode() + b"\n"
        self.writer.write(data)
        await self.writer.drain()

    async def request(self, data: bytes | dict[str, Any]) -> dict[str, Any]:
        await self.send(data)
        return await self.line()

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


@pytest.fixture
def sock_dir():
    # AF_UNIX paths are limited to 107 bytes; pytest's tmp_path can be longer.
    path = tempfile.mkdtemp(dir="/tmp", prefix="cullarr-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def sock_path(sock_dir: str) -> str:
    return os.path.join(sock_dir, "ctl.sock")


@pytest.fixture
async def server(sock_path: str):
    srv = ControlServer(sock_path, DISPATCH)
    await srv.start()
    yield srv
    await srv.stop()


@pytest.fixture
async def peer(server: ControlServer):
    client = await Peer.open(server.path)
    hello = await client.line()
    assert "hello" in hello
    yield client
    await client.close()


async def test_greeting_names_server_version_and_protocol(server: ControlServer) -> None:
    client = await Peer.open(server.path)
    hello = await client.line()
    await client.close()
    assert hello == {
        "hello": {"server": "cullarrd", "version": __version__, "protocol": PROTOCOL_VERSION}
    }


async def test_ok_response_echoes_id_and_carries_correlation_id(peer: Peer) -> None:
    answer = await peer.request({"id": "a1", "cmd": "echo", "args": {"x": [1, "é"]}})
    assert answer["id"] == "a1"
    assert answer["ok"] is True
    assert answer["result"]["args"] == {"x": [1, "é"]}
    assert answer["result"]["peer_uid"] == os.getuid()
    assert answer["correlation_id"] == answer["result"]["correlation_id"]
    assert len(answer["correlation_id"]) == 32


async def test_args_are_optional_and_each_request_has_its_own_correlation_id(peer: Peer) -> None:
    first = await peer.request({"id": 1, "cmd": "echo"})
    second = await peer.request({"id": 2, "cmd": "echo", "args": None})
    assert first["result"]["args"] == {} == second["result"]["args"]
    assert first["correlation_id"] != second["correlation_id"]


async def test_cullarr_error_becomes_the_shared_error_envelope(peer: Peer) -> None:
    answer = await peer.request({"id": 7, "cmd": "fail"})
    assert answer["id"] == 7
    assert answer["ok"] is False
    assert answer["error"] == {
        "code": "conflict",
        "message": "that is not allowed",
        "correlation_id": answer["correlation_id"],
        "details": {"why": "test"},
    }


@pytest.mark.parametrize(
    ("line", "expected_id"),
    [
        (b"{not json\n", None),
        (b"[1, 2]\n", None),
        (b'"just a string"\n', None),
        (b"\xff\xfe\n", None),
        (b'{"cmd": "echo"}\n', None),
        (b'{"id": true, "cmd": "echo"}\n', None),
        (b'{"id": 3}\n', 3),
        (b'{"id": 3, "cmd": "Not A Name"}\n', 3),
        (b'{"id": 3, "cmd": 12}\n', 3),
        (b'{"id": "x", "cmd": "echo", "args": [1]}\n', "x"),
        (b'{"id": "x", "cmd": "echo", "args": "a=b"}\n', "x"),
    ],
)
async def test_malformed_request_is_bad_request_and_connection_survives(
    peer: Peer, line: bytes, expected_id: object
) -> None:
    answer = await peer.request(line)
    assert answer["ok"] is False
    assert answer["id"] == expected_id
    assert answer["error"]["code"] == "bad_request"
    assert answer["error"]["correlation_id"] == answer["correlation_id"]
    follow_up = await peer.request({"id": "next", "cmd": "echo"})
    assert follow_up["ok"] is True


async def test_unknown_command_and_connection_survives(peer: Peer) -> None:
    answer = await peer.request({"id": 1, "cmd": "no.such_thing"})
    assert answer["error"]["code"] == "unknown_command"
    assert "no.such_thing" in answer["error"]["message"]
    assert "echo" in answer["error"]["details"]["known"]
    assert (await peer.request({"id": 2, "cmd": "echo"}))["ok"] is True


async def test_handler_crash_is_internal_error_without_traceback(peer: Peer) -> None:
    with capture_logs(processors=[merge_contextvars]) as logs:
        await peer.send({"id": 1, "cmd": "boom"})
        raw = await peer.raw_line()
    answer = json.loads(raw)
    assert answer["error"]["code"] == "internal_error"
    assert answer["error"]["correlation_id"] == answer["correlation_id"]
    assert b"secret internal detail" not in raw
    assert b"Traceback" not in raw
    failed = [entry for entry in logs if entry["event"] == "control.command_failed"]
    assert failed
    assert failed[0]["correlation_id"] == answer["correlation_id"]
    assert failed[0]["exc_info"] is True
    assert (await peer.request({"id": 2, "cmd": "echo"}))["ok"] is True


async def test_unencodable_result_is_internal_error(peer: Peer) -> None:
    answer = await peer.request({"id": 1, "cmd": "bad.result"})
    assert answer["error"]["code"] == "internal_error"
    assert (await peer.request({"id": 2, "cmd": "echo"}))["ok"] is True


async def test_events_stream_before_the_result(peer: Peer) -> None:
    await peer.send({"id": "s", "cmd": "stream"})
    lines = [await peer.line() for _ in range(3)]
    assert [line.get("event") for line in lines[:2]] == [{"n": 1}, {"n": 2}]
    assert all(line["id"] == "s" for line in lines)
    assert len({line["correlation_id"] for line in lines}) == 1
    assert lines[2]["ok"] is True
    assert lines[2]["result"] == "done"


async def test_pipelined_requests_are_answered_in_order(peer: Peer) -> None:
    await peer.send(
        b'{"id": 1, "cmd": "stream"}\n{"id": 2, "cmd": "echo"}\n\n{"id": 3, "cmd": "fail"}\n'
    )
    ids = [(await peer.line())["id"] for _ in range(5)]
    assert ids == [1, 1, 1, 2, 3]


async def test_over_long_line_is_answered_then_closed(peer: Peer) -> None:
    await peer.send(b"x" * (MAX_LINE_BYTES + 10) + b"\n")
    answer = await peer.line()
    assert answer["error"]["code"] == "bad_request"
    assert "longer than" in answer["error"]["message"]
    assert await peer.raw_line() == b""


async def test_line_of_almost_the_limit_is_accepted(peer: Peer) -> None:
    padding = "p" * (MAX_LINE_BYTES - 100)
    answer = await peer.request({"id": 1, "cmd": "echo", "args": {"pad": padding}})
    assert answer["ok"] is True


async def test_stale_socket_file_is_replaced(sock_path: str) -> None:
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(sock_path)
    dead.close()
    assert stat.S_ISSOCK(os.lstat(sock_path).st_mode)
    srv = ControlServer(sock_path, DISPATCH)
    await assert_greets(srv)


async def test_live_socket_makes_start_fail_and_is_left_alone(server: ControlServer) -> None:
    second = ControlServer(server.path, DISPATCH)
    with pytest.raises(CullarrError) as caught:
        await second.start()
    assert caught.value.code == "conflict"
    assert caught.value.message == f"another cullarrd is already listening on {server.path}"
    await second.stop()
    client = await Peer.open(server.path)
    assert "hello" in await client.line()
    await client.close()


async def test_non_socket_file_is_not_replaced(sock_path: str) -> None:
    with open(sock_path, "w") as handle:
        handle.write("precious")
    with pytest.raises(CullarrError, match="not a socket"):
        await ControlServer(sock_path, DISPATCH).start()
    with open(sock_path) as handle:
        assert handle.read() == "precious"


async def test_missing_parent_directory_is_created(sock_dir: str) -> None:
    path = os.path.join(sock_dir, "run", "c.sock")
    srv = ControlServer(path, DISPATCH)
    await srv.start()
    try:
        assert stat.S_ISSOCK(os.lstat(path).st_mode)
    finally:
        await srv.stop()


@pytest.mark.parametrize("mode", [0o600, 0o660])
async def test_socket_file_mode_is_applied(sock_path: str, mode: int) -> None:
    srv = ControlServer(sock_path, DISPATCH, mode=mode)
    await srv.start()
    try:
        assert stat.S_IMODE(os.stat(sock_path).st_mode) == mode
    finally:
        await srv.stop()


async def test_socket_group_is_applied(sock_path: str) -> None:
    group = grp.getgrgid(os.getgid())
    srv = ControlServer(sock_path, DISPATCH, group=group.gr_name)
    await srv.start()
    try:
        assert os.stat(sock_path).st_gid == group.gr_gid
    finally:
        await srv.stop()


async def test_unknown_group_is_a_clear_config_error(sock_path: str) -> None:
    with pytest.raises(CullarrError) as caught:
        await ControlServer(sock_path, DISPATCH, group="no-such-group-cullarr").start()
    assert caught.value.code == "config_invalid"
    assert "socket.group" in caught.value.message
    assert "no-such-group-cullarr" in caught.value.message
    assert not os.path.exists(sock_path)


async def test_foreign_peer_is_refused_and_reported(sock_path: str) -> None:
    refused: list[PeerCredentials] = []

    async def on_refused(peer: PeerCredentials) -> None:
        refused.append(peer)

    srv = ControlServer(
        sock_path, DISPATCH, on_peer_refused=on_refused, peer_lookup=lambda sock: FOREIGN
    )
    await srv.start()
    try:
        client = await Peer.open(sock_path)
        answer = await client.line()
        assert await client.raw_line() == b""
        await client.close()
    finally:
        await srv.stop()
    assert answer["ok"] is False
    assert answer["id"] is None
    assert answer["error"]["code"] == "peer_forbidden"
    assert answer["error"]["message"] == "uid 54321 may not use this socket"
    assert refused == [FOREIGN]


async def test_foreign_peer_in_socket_group_is_accepted(sock_path: str) -> None:
    group = grp.getgrgid(os.getgid())
    member = PeerCredentials(pid=1, uid=54321, gid=group.gr_gid)
    srv = ControlServer(sock_path, DISPATCH, group=group.gr_name, peer_lookup=lambda s: member)
    await srv.start()
    try:
        client = await Peer.open(sock_path)
        assert "hello" in await client.line()
        answer = await client.request({"id": 1, "cmd": "echo"})
        await client.close()
    finally:
        await srv.stop()
    assert answer["result"]["peer_uid"] == 54321


def _supplementary_member() -> tuple[grp.struct_group, pwd.struct_passwd] | None:
    for group in grp.getgrall():
        for name in group.gr_mem:
            try:
                user = pwd.getpwnam(name)
            except KeyError:
                continue
            if user.pw_gid != group.gr_gid and user.pw_uid not in (0, os.getuid()):
                return group, user
    return None


async def test_peer_listed_in_group_members_is_accepted(sock_path: str) -> None:
    found = _supplementary_member()
    if found is None:
        pytest.skip("no user on this system has a supplementary group to test with")
    group, user = found
    peer = PeerCredentials(pid=1, uid=user.pw_uid, gid=user.pw_gid)
    srv = ControlServer(sock_path, DISPATCH, group=group.gr_name, peer_lookup=lambda s: peer)
    await assert_greets(srv)


async def test_failing_peer_lookup_fails_closed(sock_path: str) -> None:
    def broken(sock: socket.socket) -> PeerCredentials:
        raise OSError("no credentials")

    srv = ControlServer(sock_path, DISPATCH, peer_lookup=broken)
    await srv.start()
    try:
        client = await Peer.open(sock_path)
        answer = await client.line()
        await client.close()
    finally:
        await srv.stop()
    assert answer["error"]["code"] == "peer_forbidden"


async def test_stop_is_quick_with_idle_client_and_removes_the_file(sock_path: str) -> None:
    srv = ControlServer(sock_path, DISPATCH)
    await srv.start()
    client = await Peer.open(sock_path)
    assert "hello" in await client.line()
    started = time.monotonic()
    await srv.stop()
    assert time.monotonic() - started < 1.0
    assert not os.path.exists(sock_path)
    assert await client.raw_line() == b""
    await client.close()
    with pytest.raises((ConnectionRefusedError, FileNotFoundError)):
        await Peer.open(sock_path)


async def assert_greets(srv: ControlServer) -> None:
    """Start ``srv``, check a client is greeted, stop it again."""
    await srv.start()
    try:
        client = await Peer.open(srv.path)
        assert "hello" in await client.line()
        await client.close()
    finally:
        await srv.stop()
