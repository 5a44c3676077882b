"""The one command layer: every operation once, behind the web API and the control socket.

Each command is ``async def fn(service, caller, args) -> result`` registered under its dotted
name. Validation and error codes live here, so a command reached from the socket or the web
answers the same way. Read-only commands write nothing (not even audit rows); every mutating
command is audited with its caller (channel, peer uid, operator).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog

from cullarrd import operators
from cullarrd.audit import AuditRecorder
from cullarrd.errors import CullarrError, ValidationFailed
from cullarrd.settings import Settings
from cullarrd.store.db import Store
from cullarrd.timeutil import parse_iso

log = structlog.get_logger(__name__)
MAX_ID = 2**63 - 1  # what an id column holds


@dataclass
class Caller:
    """Who is asking, through which channel, under which correlation id."""

    correlation_id: str
    channel: str  # "socket" | "web"
    peer_uid: int | None = None
    operator_id: int | None = None
    reauthenticated: bool = False
    remote: str | None = None  # the web client's address, for the audit trail
    emit: Callable[[dict[str, Any]], Awaitable[None]] | None = None

    def actor(self) -> dict[str, Any]:
        """What the audit trail records about the caller."""
        actor: dict[str, Any] = {"channel": self.channel}
        if self.peer_uid is not None:
            actor["peer_uid"] = self.peer_uid
        if self.operator_id is not None:
            actor["operator_id"] = self.operator_id
        if self.remote is not None:
            actor["remote"] = self.remote
        return actor


@dataclass
class Runtime:
    """What the commands need from the running daemon (composed by ``daemon.py``)."""

    config: Any
    store: Store
    settings: Settings
    audit: AuditRecorder
    plugins: Any
    reload: Callable[[Caller], Awaitable[dict[str, Any]]]
    started_monotonic: float = field(default_factory=time.monotonic)
    sync: Any = None  # the SyncEngine, once the daemon has composed it
    deletion: Any = None  # the DeletionEngine, likewise


CommandFn = Callable[["Service", Caller, dict[str, Any]], Awaitable[Any]]


@dataclass(frozen=True)
class Command:
    name: str
    fn: CommandFn
    mutating: bool


COMMANDS: dict[str, Command] = {}


def command(name: str, *, mutating: bool = False) -> Callable[[CommandFn], CommandFn]:
    """Register ``fn`` as the command ``name``."""

    def register(fn: CommandFn) -> CommandFn:
        COMMANDS[name] = Command(name, fn, mutating)
        return fn

    return register


class Args:
    """Reads command arguments, collecting every problem before failing once."""

    def __init__(self, args: Mapping[str, Any] | None, allowed: set[str]) -> None:
        self.args = dict(args or {})
        self.errors: dict[str, list[str]] = {
            key: ["unknown argument"] for key in self.args if key not in allowed
        }

    def integer(self, key: str, default: int | None, low: int, high: int) -> int | None:
        value = self.args.get(key, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.errors[key] = [f"must be an integer from {low} to {high}"]
            return default
        return value

    def text(self, key: str, *, required: bool = False) -> str | None:
        value = self.args.get(key)
        if value is None:
            if required:
                self.errors[key] = ["is required"]
            return None
        if not isinstance(value, str) or not value:
            self.errors[key] = ["must be a non-empty string"]
            return None
        return value

    def flag(self, key: str) -> bool:
        value = self.args.get(key, False)
        if not isinstance(value, bool):
            self.errors[key] = ["must be true or false"]
            return False
        return value

    def required_id(self, key: str = "id") -> int:
        """A required store id; fails at once (with every problem found so far) when unusable."""
        value = self.integer(key, None, 1, MAX_ID)
        if value is None:
            self.errors.setdefault(key, ["is required"])
            self.done()
        return int(value)

    def mapping(self, key: str) -> dict[str, Any]:
        value = self.args.get(key)
        if not isinstance(value, dict) or not value:
            self.errors[key] = ["must be a non-empty object"]
            return {}
        return value

    def timestamp(self, key: str):
        value = self.text(key)
        if value is None:
            return None
        try:
            return parse_iso(value)
        except ValueError:
            self.errors[key] = ["must be an ISO-8601 date-time"]
            return None

    def done(self) -> None:
        if self.errors:
            raise ValidationFailed(self.errors)


class Service:
    """Dispatches commands by name against the running daemon."""

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        # Bumped when the operator's password is set: web sessions signed in before it end.
        self.credentials_epoch = 0

    async def dispatch(self, name: str, args: Mapping[str, Any] | None, caller: Caller) -> Any:
        cmd = COMMANDS.get(name)
        if cmd is None:
            raise CullarrError(f"unknown command {name!r}", code="unknown_command")
        if not cmd.mutating:
            return await cmd.fn(self, caller, dict(args or {}))
        try:
            result = await cmd.fn(self, caller, dict(args or {}))
        except CullarrError as exc:
            await self._audit_command(caller, name, exc.code)
            raise
        await self._audit_command(caller, name, None)
        return result

    async def _audit_command(self, caller: Caller, name: str, error_code: str | None) -> None:
        payload: dict[str, Any] = {"cmd": name, "ok": error_code is None}
        if error_code:
            payload["error_code"] = error_code
        await self.audit(caller, "control.command", payload)

    async def audit(
        self,
        caller: Caller,
        event: str,
        payload: dict[str, Any],
        *,
        operator_id: int | None = None,
    ) -> None:
        """Record one event with the caller as its actor, in a write of its own."""
        await self.rt.store.write(
            lambda: self.rt.audit.record(
                event,
                {**payload, "actor": caller.actor()},
                operator_id=operator_id if operator_id is not None else caller.operator_id,
                correlation_id=caller.correlation_id,
            )
        )

    async def newest(self, args: dict[str, Any], model: Any, shape: Callable) -> list[Any]:
        """Rows of a run table, newest first, paged with ``limit`` and ``before_id``."""
        reader = Args(args, {"limit", "before_id"})
        limit = reader.integer("limit", 20, 1, 500)
        before_id = reader.integer("before_id", None, 1, MAX_ID)
        reader.done()

        def query() -> list[Any]:
            rows = model.select().order_by(model.id.desc()).limit(limit)
            if before_id is not None:
                rows = rows.where(model.id < before_id)
            return [shape(row) for row in rows]

        return await self.rt.store.read(query)

    def uptime_s(self) -> float:
        return round(time.monotonic() - self.rt.started_monotonic, 3)

    async def verify_operator_password(self, password: str | None) -> int | None:
        """The operator id when ``password`` is the operator's, else None (off the loop)."""
        if not password:
            return None
        operator = await self.rt.store.read(operators.current_operator)
        if operator is None:
            return None
        ok = await asyncio.to_thread(operators.verify_password, operator.password_digest, password)
        return operator.id if ok else None


# The commands register themselves on import; they live in cullarrd/commands/ by domain.
from cullarrd import commands as _commands  # noqa: E402,F401
