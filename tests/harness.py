"""Run the real daemon as a subprocess with a generated config, and talk to it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from cullarrd.control.client import ControlClient

API_KEY = "sonarr-key-5f3c9a1be07d4c22"
DELETE_SECRET = "delete-secret-8b1d2e7f90aa4c31"
CLEAN_ENV_PREFIXES = ("CULLARRD_", "NOTIFY_SOCKET", "WATCHDOG_", "JOURNAL_STREAM", "CREDENTIALS_")


def base_config(database_url: str, sock_dir: str, port: int) -> dict[str, Any]:
    """A config with one integration and delete mode on, using distinctive secrets."""
    return {
        "database": {"url": database_url},
        "web": {"listen": f"127.0.0.1:{port}"},
        "socket": {"path": f"{sock_dir}/cullarrd.sock", "mode": "0600"},
        "log": {"format": "json", "level": "info"},
        "delete_mode": {"enabled": True, "secret": DELETE_SECRET},
        "integrations": [
            {
                "kind": "sonarr",
                "name": "sonarr-main",
                "base_url": "http://127.0.0.1:9",
                "api_key": API_KEY,
            }
        ],
    }


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(CLEAN_ENV_PREFIXES)}
    env.update(extra)
    return env


class DaemonProcess:
    """``cullarrd serve`` in a subprocess; stderr (the log) is collected to a file."""

    def __init__(self, workdir: Path, config: dict[str, Any], env: dict[str, str] | None = None):
        self.workdir = workdir
        self.config_path = workdir / "config.yaml"
        self.log_path = workdir / "daemon.log"
        self.write_config(config)
        self.config = config
        self.env = env or clean_env()
        self.proc: subprocess.Popen | None = None

    def write_config(self, config: dict[str, Any] | str) -> None:
        text = config if isinstance(config, str) else yaml.safe_dump(config)
        self.config_path.write_text(text)

    @property
    def socket_path(self) -> str:
        return self.config["socket"]["path"]

    @property
    def base_url(self) -> str:
        return f"http://{self.config['web']['listen']}"

    def start(self, wait: bool = True) -> DaemonProcess:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cullarrd.cli", "serve", "--config", str(self.config_path)],
            stdout=self._log,
            stderr=self._log,
            env=self.env,
        )
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited {self.proc.returncode}: {self.log_text()}")
            try:
                if httpx.get(self.base_url + "/api/v1/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"daemon not ready after {timeout}s: {self.log_text()}")

    def call(self, cmd: str, args: dict[str, Any] | None = None) -> Any:
        with ControlClient(self.socket_path, timeout=10) as client:
            return client.call(cmd, args or {})

    def ctl(self, *argv: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        """Run the real ``cullarrctl`` against this daemon."""
        return subprocess.run(
            [sys.executable, "-m", "cullarrd.ctl", "--socket", self.socket_path, *argv],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=30,
            env=self.env,
        )

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait_exit(self, timeout: float = 10.0) -> int:
        return self.proc.wait(timeout=timeout)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_events(self) -> list[dict[str, Any]]:
        events = []
        for line in self.log_text().splitlines():
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return events

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "_log", None):
            self._log.close()


FAKE_KEYS = {
    "sonarr": "sonarr-fake-key-1f2e3d4c5b6a7980",
    "radarr": "radarr-fake-key-0a9b8c7d6e5f4031",
    "tautulli": "tautullifakekey0123456789abcdef0",  # Tautulli keys are exactly 32 characters
}
READY_PROBE = {
    "sonarr": ("/api/v3/system/status", {}),
    "radarr": ("/api/v3/system/status", {}),
    "tautulli": ("/api/v2", {"cmd": "status"}),
}


class FakeService:
    """``cullarrd fake KIND`` in a subprocess on a free loopback port."""

    def __init__(self, kind: str, port: int, *, library: str = "tiny", seed: int = 1) -> None:
        self.kind, self.port = kind, port
        self.api_key = FAKE_KEYS[kind]
        self.base_url = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cullarrd.cli", "fake", kind, "--port", str(port),
             "--api-key", self.api_key, "--library", library, "--seed", str(seed)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=clean_env(),
        )  # fmt: skip

    def wait_ready(self, timeout: float = 30.0) -> FakeService:
        path, params = READY_PROBE[self.kind]
        url, params = self.base_url + path, {**params, "apikey": self.api_key}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"fake {self.kind} exited {self.proc.returncode}"
            try:
                if httpx.get(url, params=params, timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"fake {self.kind} not ready after {timeout}s")

    def integration(self, name: str | None = None, **extra: Any) -> dict[str, Any]:
        """The config entry for this fake."""
        return {"kind": self.kind, "name": name or self.kind, "base_url": self.base_url,
                "api_key": self.api_key, **extra}  # fmt: skip

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
