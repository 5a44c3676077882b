"""``cullarrctl`` against a real control server on a background loop: output, exit codes, paths."""

from __future__ import annotations

import asyncio
import importlib.util
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from structlog.testing import capture_logs

from cullarrd import ctl
from cullarrd.control.client import ControlClient, DaemonError, DaemonUnreachable
from cullarrd.control.server import CommandContext, ControlServer, PeerCredentials
from cullarrd.errors import CullarrError, ValidationFailed

STATUS = {
    "version": "0.1.0",
    "uptime_s": 3725,
    "db": {"ok": True, "backend": "sqlite"},
    "config_path": "/etc/cullarr/config.yaml",
    "active_sync_run": None,
    "integrations": [
        {"name": "sonarr-main", "kind": "sonarr", "status": "healthy"},
        {"name": "tautulli", "kind": "tautulli", "status": "unreachable"},
    ],
    "plugins": [{"name": "sonarr", "ok": True, "error": None}],
}
SETTINGS = {
    "sync_enabled": {"value": True, "source": "default"},
    "sync_interval_minutes": {"value": 360, "source": "store"},
}
AUDIT = [
    {
        "occurred_at": "2026-01-02T03:04:05Z",
        "event_name": "settings.changed",
        "correlation_id": "c0ffee",
        "payload": {"changed": ["sync_enabled"]},
    }
]
NEEDS_CONFIG = pytest.mark.skipif(
    importlib.util.find_spec("cullarrd.config") is None,
    reason="cullarrd/config.py (load_config) is not written yet",
)


class FakeDaemon:
    """A ControlServer on its own loop in a thread, answering with canned results."""

    def __init__(self, path: str, **server_options: Any) -> None:
        self.path = path
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.server = ControlServer(path, self.dispatch, **server_options)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    async def dispatch(self, cmd: str, args: dict[str, Any], ctx: CommandContext) -> object:
        self.calls.append((cmd, args))
        if cmd == "status":
            assert ctx.emit is not None
            await ctx.emit({"message": "gathering status"})
            return STATUS
        if cmd == "settings.get":
            key = args.get("key")
            return {"settings": {key: SETTINGS[key]} if key else SETTINGS}
        if cmd == "settings.set":
            if "bogus" in args["values"]:
                raise ValidationFailed({"bogus": ["unknown setting"]})
            return {"changed": list(args["values"])}
        if cmd == "reload":
            return {"changed": []}
        if cmd == "audit.list":
            return {"events": AUDIT[: args["limit"]]}
        if cmd == "operator.set_password":
            return {"created": True}
        raise CullarrError(f"unknown command {cmd!r}", code="unknown_command")

    def __enter__(self) -> FakeDaemon:
        # The daemon's log lines would otherwise land in the CLI's captured stdout.
        self._capture = capture_logs()
        self.logs = self._capture.__enter__()
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(5)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()
        self._capture.__exit__(None, None, None)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CULLARRD_SOCKET", raising=False)
    monkeypatch.delenv("CULLARRD_CONFIG", raising=False)


@pytest.fixture
def sock_dir() -> Iterator[str]:
    path = tempfile.mkdtemp(dir="/tmp", prefix="cullarrctl-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def daemon(sock_dir: str) -> Iterator[FakeDaemon]:
    with FakeDaemon(os.path.join(sock_dir, "d.sock")) as fake:
        yield fake


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = ctl.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# ----- output and exit 0 -------------------------------------------------------------------------


def test_status_human_output(daemon: FakeDaemon, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--socket", daemon.path, "status")
    assert code == 0
    assert "version:" in out
    assert "uptime:" in out and "1h 2m 5s" in out
    assert "sonarr-main" in out and "unreachable" in out
    assert "gathering status" in err
    assert daemon.calls == [("status", {})]


@pytest.mark.parametrize("where", ["before", "after"])
def test_json_flag_before_or_after_arguments(
    daemon: FakeDaemon, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    words = ["settings", "get", "sync_enabled"]
    argv = ["--json", *words] if where == "before" else [*words, "--json"]
    code, out, _err = run(capsys, "--socket", daemon.path, *argv)
    assert code == 0
    assert json.loads(out) == {"settings": {"sync_enabled": SETTINGS["sync_enabled"]}}
    assert daemon.calls == [("settings.get", {"key": "sync_enabled"})]


def test_socket_after_the_command(daemon: FakeDaemon, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "status", "--json", "--socket", daemon.path)
    assert code == 0
    assert json.loads(out) == STATUS


def test_json_status_events_stay_off_stdout(
    daemon: FakeDaemon, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "--socket", daemon.path, "--json", "status")
    assert code == 0
    assert json.loads(out) == STATUS
    assert "gathering status" not in out + err


def test_settings_get_table(daemon: FakeDaemon, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--socket", daemon.path, "settings", "get")
    lines = out.splitlines()
    assert code == 0
    assert lines[0].split() == ["KEY", "VALUE", "SOURCE"]
    assert lines[1].split() == ["sync_enabled", "true", "default"]
    assert lines[2].split() == ["sync_interval_minutes", "360", "store"]
    assert daemon.calls == [("settings.get", {})]


def test_settings_set_parses_json_values(
    daemon: FakeDaemon, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["settings", "set", "a=true", "b=30", 'c=["/a"]', "d=hello", "e=", "f=NaN"]
    code, out, _ = run(capsys, "--socket", daemon.path, *argv)
    assert code == 0
    assert out.strip() == "updated: a, b, c, d, e, f"
    values = {"a": True, "b": 30, "c": ["/a"], "d": "hello", "e": "", "f": "NaN"}
    assert daemon.calls == [("settings.set", {"values": values})]


def test_reload_and_audit(daemon: FakeDaemon, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "--socket", daemon.path, "reload")[1].strip() == "configuration reloaded"
    code, out, _ = run(capsys, "--socket", daemon.path, "audit", "--limit", "5")
    assert code == 0
    assert out.splitlines()[0].split() == ["OCCURRED_AT", "EVENT_NAME", "CORRELATION_ID", "PAYLOAD"]
    assert "settings.changed" in out and "c0ffee" in out
    assert daemon.calls[-1] == ("audit.list", {"limit": 5})


# ----- exit 1: the daemon said no ---------------------------------------------------------------


def test_daemon_error_exits_1_with_code_on_stderr(
    daemon: FakeDaemon, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "--socket", daemon.path, "settings", "set", "bogus=1")
    assert code == 1
    assert out == ""
    assert err.startswith("error validation_failed: ")
    assert "bogus: unknown setting" in err


def test_daemon_error_with_json_is_one_document_on_stdout(
    daemon: FakeDaemon, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "--socket", daemon.path, "settings", "set", "bogus=1", "--json")
    error = json.loads(out)["error"]
    assert code == 1
    assert error["code"] == "validation_failed"
    assert error["details"] == {"fields": {"bogus": ["unknown setting"]}}
    assert len(error["correlation_id"]) == 32


def test_refused_peer_exits_1(sock_dir: str, capsys: pytest.CaptureFixture[str]) -> None:
    foreign = PeerCredentials(pid=1, uid=54321, gid=54321)
    path = os.path.join(sock_dir, "p.sock")
    with FakeDaemon(path, peer_lookup=lambda sock: foreign) as fake:
        code, _, err = run(capsys, "--socket", path, "status")
    assert code == 1
    assert "error peer_forbidden: uid 54321 may not use this socket" in err
    assert fake.calls == []


# ----- exit 2: usage ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["frobnicate"], "invalid choice"),
        (["settings"], "required"),
        (["settings", "set"], "required"),
        (["settings", "set", "novalue"], "expected KEY=VALUE, got 'novalue'"),
        (["settings", "set", "=1"], "expected KEY=VALUE"),
        (["settings", "set", "a=1", "a=2"], "more than once"),
        (["audit", "--limit", "many"], "invalid int value"),
        (["operator", "set-password"], "--email"),
    ],
)
def test_usage_errors_exit_2(
    daemon: FakeDaemon, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, "--socket", daemon.path, *argv)
    assert code == 2
    assert out == ""
    assert message in err
    assert daemon.calls == []


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    assert "settings" in out


# ----- exit 3: unreachable ------------------------------------------------------------------------


def test_missing_socket_exits_3_naming_the_path(
    sock_dir: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = os.path.join(sock_dir, "absent.sock")
    code, out, err = run(capsys, "--socket", path, "status")
    assert code == 3
    assert out == ""
    assert err.startswith(f"cullarrctl: cannot reach cullarrd at {path}: ")


def test_stale_socket_exits_3_with_json_error(
    sock_dir: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = os.path.join(sock_dir, "stale.sock")
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(path)
    dead.close()
    code, out, err = run(capsys, "--json", "--socket", path, "status")
    error = json.loads(out)["error"]
    assert code == 3
    assert error["code"] == "daemon_unreachable"
    assert error["details"]["socket"] == path
    assert "refused" in error["message"]
    assert path in err


# ----- socket path resolution --------------------------------------------------------------------


def test_socket_resolution_order_without_config() -> None:
    env = {"CULLARRD_SOCKET": "/env.sock"}
    assert ctl.resolve_socket_path("/cli.sock", None, env) == "/cli.sock"
    assert ctl.resolve_socket_path(None, None, env) == "/env.sock"
    assert ctl.resolve_socket_path(None, None, {}) == ctl.DEFAULT_SOCKET_PATH


def test_env_socket_is_used(
    daemon: FakeDaemon, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CULLARRD_SOCKET", daemon.path)
    assert run(capsys, "status")[0] == 0
    monkeypatch.setenv("CULLARRD_SOCKET", "/nonexistent/env.sock")
    assert run(capsys, "--socket", daemon.path, "status")[0] == 0


def _write_config(directory: str, name: str, socket_path: str) -> str:
    path = os.path.join(directory, name)
    with open(path, "w") as handle:
        handle.write(f"socket:\n  path: {socket_path}\n")
    return path


@NEEDS_CONFIG
def test_config_flag_socket_path_is_used(
    daemon: FakeDaemon, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    good = _write_config(os.path.dirname(daemon.path), "good.yaml", daemon.path)
    other = _write_config(os.path.dirname(daemon.path), "other.yaml", "/nonexistent/x.sock")
    monkeypatch.setenv("CULLARRD_CONFIG", other)
    code, _, err = run(capsys, "--config", good, "status")
    assert (code, err.count("cannot")) == (0, 0)
    monkeypatch.setenv("CULLARRD_SOCKET", "/nonexistent/env.sock")
    assert run(capsys, "--config", good, "status")[0] == 3


@NEEDS_CONFIG
def test_env_config_socket_path_is_used(
    daemon: FakeDaemon, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _write_config(os.path.dirname(daemon.path), "env.yaml", daemon.path)
    monkeypatch.setenv("CULLARRD_CONFIG", config)
    assert run(capsys, "status")[0] == 0


def test_unreadable_config_falls_back_to_default(
    sock_dir: str, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = os.path.join(sock_dir, "missing.yaml")
    assert ctl.resolve_socket_path(None, missing, {}) == ctl.DEFAULT_SOCKET_PATH
    assert "cannot read socket.path" in capsys.readouterr().err


# ----- operator password --------------------------------------------------------------------------


def test_password_from_stdin_reaches_daemon_and_is_never_printed(
    daemon: FakeDaemon, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("s3cret pass \nsecond line\n"))
    argv = ["operator", "set-password", "--email", "op@example.org"]
    code, out, err = run(capsys, "--socket", daemon.path, *argv)
    assert code == 0
    assert daemon.calls == [
        ("operator.set_password", {"email": "op@example.org", "password": "s3cret pass "})
    ]
    assert "op@example.org" in out
    assert "s3cret" not in out + err
    assert "s3cret" not in repr(daemon.logs)


def test_empty_stdin_password_is_usage_error(
    daemon: FakeDaemon, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n"))
    code, _, err = run(capsys, "--socket", daemon.path, "operator", "set-password", "--email", "e")
    assert code == 2
    assert "empty" in err
    assert daemon.calls == []


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("answers", "expected"), [(["pw1", "pw1"], 0), (["pw1", "pw2"], 2)])
def test_terminal_password_is_prompted_twice(
    daemon: FakeDaemon,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    answers: list[str],
    expected: int,
) -> None:
    replies = iter(answers)
    monkeypatch.setattr(sys, "stdin", _Tty())
    monkeypatch.setattr(ctl.getpass, "getpass", lambda prompt="": next(replies))
    code, out, err = run(
        capsys, "--socket", daemon.path, "operator", "set-password", "--email", "e"
    )
    assert code == expected
    assert "pw1" not in out + err
    if expected == 2:
        assert "do not match" in err
        assert daemon.calls == []


# ----- protocol handshake and the client ----------------------------------------------------------


def _greet_once(path: str, hello: dict[str, Any]) -> threading.Thread:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)

    def serve() -> None:
        with listener:
            conn, _ = listener.accept()
            with conn:
                conn.sendall(json.dumps(hello).encode() + b"\n")
                conn.recv(1024)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("as_json", [False, True])
def test_protocol_mismatch_is_a_clear_error(
    sock_dir: str, capsys: pytest.CaptureFixture[str], as_json: bool
) -> None:
    path = os.path.join(sock_dir, "v2.sock")
    thread = _greet_once(path, {"hello": {"server": "cullarrd", "version": "9.0", "protocol": 2}})
    code, out, err = run(capsys, "--socket", path, "status", *(["--json"] if as_json else []))
    thread.join(5)
    assert code == 1
    if as_json:
        assert json.loads(out)["error"]["code"] == "protocol_version_unsupported"
    else:
        assert "daemon speaks protocol 2, this cullarrctl speaks 1" in err


def test_client_streams_events_and_reuses_the_connection(daemon: FakeDaemon) -> None:
    events: list[Any] = []
    with ControlClient(daemon.path) as client:
        assert client.call("status", on_event=events.append) == STATUS
        assert client.call("reload") == {"changed": []}
        with pytest.raises(DaemonError) as caught:
            client.call("nope")
        assert client.server_version is not None
    assert events == [{"message": "gathering status"}]
    assert caught.value.code == "unknown_command"


def test_client_unreachable_names_path(sock_dir: str) -> None:
    path = os.path.join(sock_dir, "none.sock")
    with pytest.raises(DaemonUnreachable) as caught:
        ControlClient(path).call("status")
    assert caught.value.path == path
    assert "no such socket" in caught.value.reason


# ----- as a real process --------------------------------------------------------------------------


def _cullarrctl(*argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CULLARRD_")}
    return subprocess.run(
        [sys.executable, "-m", "cullarrd.ctl", *argv],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )


def test_subprocess_status_json_and_password(daemon: FakeDaemon) -> None:
    done = _cullarrctl("--socket", daemon.path, "status", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == STATUS
    done = _cullarrctl(
        "operator", "set-password", "--email", "a@b.c", "--socket", daemon.path, stdin="pw\n"
    )
    assert done.returncode == 0, done.stderr
    assert daemon.calls[-1] == ("operator.set_password", {"email": "a@b.c", "password": "pw"})


def test_subprocess_unreachable_exits_3(sock_dir: str) -> None:
    path = os.path.join(sock_dir, "gone.sock")
    done = _cullarrctl("--socket", path, "status")
    assert done.returncode == 3
    assert f"cannot reach cullarrd at {path}" in done.stderr
