"""The daemon is a composer: store → plugins → scheduler → socket → web, stopped in reverse.

Real work lives in the modules it composes. Signals: SIGTERM/SIGINT stop gracefully (bounded),
SIGHUP re-reads the config and keeps the old one if the new one is invalid.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections.abc import Mapping
from typing import Any

import structlog
import uvicorn

from cullarrd import integrations
from cullarrd.audit import AuditRecorder
from cullarrd.config import Config, load_config
from cullarrd.control.protocol import CommandContext, PeerCredentials
from cullarrd.control.server import ControlServer
from cullarrd.deletion.executor import DeletionEngine
from cullarrd.errors import ConfigError, CullarrError
from cullarrd.logging import configure_logging
from cullarrd.notify import Notifier
from cullarrd.plugins import Plugins, load_plugins
from cullarrd.scheduler import Scheduler
from cullarrd.service import Caller, Runtime, Service
from cullarrd.settings import Settings
from cullarrd.store.db import Store, open_database
from cullarrd.store.migrate import migrate
from cullarrd.sync.cleanup import refresh_read_models
from cullarrd.sync.engine import SyncEngine
from cullarrd.web.app import create_app

log = structlog.get_logger(__name__)
READ_MODELS_VERSION = 3  # the migration that added ambiguous_paths and the candidate index
STEP_TIMEOUT_S = 3.0
# Keys whose change needs a restart: the daemon holds their resources open.
RESTART_KEYS = ("database", "socket", "web")


def config_settings(config: Config) -> dict[str, Any]:
    """The settings managed by config.yaml: visible through settings.get, never writable."""
    return {
        "delete_mode_enabled": config.delete_mode.enabled,
        "delete_mode_secret_present": config.delete_mode.secret is not None,
        "allowed_integration_hosts": list(config.security.allowed_integration_hosts),
        "allowed_integration_networks": list(config.security.allowed_integration_networks),
    }


class EmbeddedServer(uvicorn.Server):
    """uvicorn on the daemon's loop; the daemon, not uvicorn, owns the signal handlers."""

    @contextlib.contextmanager
    def capture_signals(self):
        yield


class Daemon:
    """One running cullarrd: owns the loop's long-lived parts and their order."""

    def __init__(
        self, config: Config, plugins: Plugins, env: Mapping[str, str] | None = None
    ) -> None:
        self.config = config
        self.env = dict(os.environ if env is None else env)
        self.stop_event = asyncio.Event()
        self.notifier = Notifier()
        self.audit = AuditRecorder(config.secret_values())
        self.store: Store | None = None
        self.plugins = plugins
        self.scheduler: Scheduler | None = None
        self.control: ControlServer | None = None
        self.web: EmbeddedServer | None = None
        self._web_task: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()

    async def run(self) -> int:
        """Start everything, serve until a stop signal, stop everything; returns the exit code."""
        try:
            await self.start()
        except (CullarrError, OSError) as exc:
            message = exc.message if isinstance(exc, CullarrError) else str(exc)
            log.error("daemon.start_failed", error=message)
            await self.stop()
            return 1
        await self.stop_event.wait()
        await self.stop()
        return 0

    async def start(self) -> None:
        cfg = self.config
        log.info("daemon.starting", config=cfg.source_path, pid=os.getpid())
        self.store = await asyncio.to_thread(self._open_store, cfg.database.url)
        self.settings = Settings(lambda: config_settings(self.config), self.audit)
        await self.store.write(lambda: integrations.reconcile(cfg.integrations, self.audit))
        log.info(
            "plugins.loaded",
            kinds=sorted(self.plugins.kinds),
            failed=[p.name for p in self.plugins.failed],
        )
        self.runtime = Runtime(
            config=cfg,
            store=self.store,
            settings=self.settings,
            audit=self.audit,
            plugins=self.plugins,
            reload=self.reload,
        )
        self.service = Service(self.runtime)
        self.runtime.sync = SyncEngine(self.runtime)
        self.runtime.deletion = DeletionEngine(self.runtime)
        self.scheduler = Scheduler(self.runtime)
        self.scheduler.start()
        self.control = ControlServer(
            cfg.socket.path,
            self._dispatch,
            mode=cfg.socket.mode,
            group=cfg.socket.group,
            on_peer_refused=self._peer_refused,
        )
        await self.control.start()
        if cfg.web.enabled:
            await self._start_web()
        self._install_signals()
        self._spawn(self.notifier.run_watchdog(self.stop_event))
        await self.runtime.sync.recover()
        await self.runtime.deletion.recover()
        self.plugins.call_safely("cullarrd_startup", app=self.runtime)
        self.notifier.ready()
        log.info(
            "daemon.ready", socket=cfg.socket.path, web=cfg.web.listen if cfg.web.enabled else None
        )

    @staticmethod
    def _open_store(url: str) -> Store:
        db = open_database(url)
        applied = migrate(db)
        if applied:
            log.info("store.migrated", versions=applied)
        store = Store(db)
        if READ_MODELS_VERSION in applied:
            # A store upgraded from before the candidate index holds inventory but no index
            # rows yet: fill it now rather than show no candidates until the next sync.
            with db.atomic():
                found, written = refresh_read_models()
            log.info("store.read_models_filled", ambiguous_paths=found, rows=written)
        return store

    async def _start_web(self) -> None:
        cfg = self.config.web
        app = create_app(self.service, base_path=cfg.base_path)
        family = socket.AF_INET6 if ":" in cfg.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted connections inherit this: no 40 ms Nagle/delayed-ACK stall per response.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            sock.bind((cfg.host, cfg.port))
        except OSError as exc:
            sock.close()
            raise CullarrError(f"web: cannot listen on {cfg.listen}: {exc.strerror}") from exc
        sock.listen(128)
        sock.setblocking(False)
        server_config = uvicorn.Config(
            app,
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
            proxy_headers=False,
        )
        self.web = EmbeddedServer(server_config)
        self._web_task = asyncio.create_task(self.web.serve(sockets=[sock]))
        while not self.web.started and not self._web_task.done():
            await asyncio.sleep(0.01)
        if self._web_task.done():
            raise CullarrError(f"web: failed to start on {cfg.listen}")

    def _install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self._request_stop, "SIGTERM")
        loop.add_signal_handler(signal.SIGINT, self._request_stop, "SIGINT")
        loop.add_signal_handler(signal.SIGHUP, self._on_sighup)

    def _request_stop(self, why: str) -> None:
        log.info("daemon.stop_requested", signal=why)
        self.stop_event.set()

    def _on_sighup(self) -> None:
        caller = Caller(correlation_id=os.urandom(16).hex(), channel="signal")
        self._spawn(self._reload_quietly(caller))

    async def _reload_quietly(self, caller: Caller) -> None:
        with contextlib.suppress(CullarrError):
            await self.reload(caller)

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def reload(self, caller: Caller) -> dict[str, Any]:
        """Re-read the config file; keep the running config if the new one is invalid."""
        self.notifier.reloading()
        try:
            path = self.config.source_path
            new = await asyncio.to_thread(load_config, path, self.env, list(self.plugins.kinds))
        except ConfigError as exc:
            problems = exc.problems
            log.error("config.reload_failed", problems=problems)
            await self.store.write(
                lambda: self.audit.record(
                    "config.reload_failed",
                    {"problems": problems, "actor": caller.actor()},
                    correlation_id=caller.correlation_id,
                )
            )
            self.notifier.ready()
            raise
        restart = [k for k in RESTART_KEYS if getattr(new, k) != getattr(self.config, k)]
        self.config = self.runtime.config = new
        configure_logging(new.log.format, new.log.level, new.secret_values())
        self.audit.set_secrets(new.secret_values())
        summary = await self.store.write(lambda: self._record_reload(new, caller, restart))
        self.notifier.ready()
        log.info("config.reloaded", restart_required=restart, **summary)
        return {
            "reloaded": True,
            "config_path": new.source_path,
            "integrations": summary,
            "restart_required": restart,
        }

    def _record_reload(self, new: Config, caller: Caller, restart: list[str]) -> dict:
        summary = integrations.reconcile(
            new.integrations, self.audit, correlation_id=caller.correlation_id
        )
        self.audit.record(
            "config.reloaded",
            {"restart_required": restart, "actor": caller.actor(), **summary},
            correlation_id=caller.correlation_id,
        )
        return summary

    async def _dispatch(self, cmd: str, args: dict[str, Any], ctx: CommandContext) -> Any:
        caller = Caller(
            correlation_id=ctx.correlation_id,
            channel="socket",
            peer_uid=ctx.peer.uid,
            emit=ctx.emit,
        )
        return await self.service.dispatch(cmd, args, caller)

    async def _peer_refused(self, peer: PeerCredentials) -> None:
        await self.store.write(
            lambda: self.audit.record(
                "control.peer_refused", {"uid": peer.uid, "gid": peer.gid, "pid": peer.pid}
            )
        )

    async def stop(self) -> None:
        """Stop in reverse start order, each step bounded and logged."""
        self.notifier.stopping()
        self.stop_event.set()
        if getattr(self, "runtime", None) is not None and self.runtime.sync is not None:
            await self._bounded("sync", self.runtime.sync.stop())
        if getattr(self, "runtime", None) is not None and self.runtime.deletion is not None:
            await self._bounded("deletion", self.runtime.deletion.stop())
        if self.web is not None and self._web_task is not None:
            self.web.should_exit = True
            await self._bounded("web", asyncio.wait_for(self._web_task, STEP_TIMEOUT_S))
        if self.control is not None:
            await self._bounded("socket", self.control.stop())
        if self.scheduler is not None:
            self.scheduler.shutdown()
        for task in list(self._tasks):
            task.cancel()
        if self.store is not None:
            await asyncio.to_thread(self.store.close)
        log.info("daemon.stopped")

    async def _bounded(self, what: str, awaitable) -> None:
        try:
            await asyncio.wait_for(awaitable, STEP_TIMEOUT_S)
        except Exception as exc:  # stopping must go on whatever one part does
            log.warning("daemon.stop_step_failed", step=what, error=repr(exc))


def serve(config_path: str, env: Mapping[str, str] | None = None) -> int:
    """``cullarrd serve``: load the config, configure logging, run the daemon until stopped."""
    env = dict(os.environ if env is None else env)
    plugins = load_plugins()  # first: third-party plugins add integration kinds to the config
    try:
        config = load_config(config_path, env, list(plugins.kinds))
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr, flush=True)
        return 2
    configure_logging(config.log.format, config.log.level, config.secret_values())
    return asyncio.run(Daemon(config, plugins, env).run())
