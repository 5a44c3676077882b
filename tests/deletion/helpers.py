"""Deletion scenarios: the candidate scenario's library and fakes, delete mode on, an operator,
and the deletion engine with short waits; helpers to plan, unlock, run and read what the fakes
were asked to delete."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from cullarrd import operators
from cullarrd.deletion.executor import DeletionEngine, Timing
from cullarrd.errors import CullarrError
from cullarrd.store.models import DeletionRun
from tests.candidates.scenario import Scenario, play, scenario

SECRET = "delete-secret-5d1e7a0c"
PASSWORD = "operator-pass-2"
FAST = Timing(
    attempts=3, retry_base_s=0.01, retry_cap_s=0.05, confirm_polls=3, confirm_base_s=0.01,
    confirm_cap_s=0.02,
)  # fmt: skip


class DeletionScenario(Scenario):
    """The candidate scenario plus deletion: plan, unlock, run, and what the fakes deleted."""

    async def plan(self, scope: str, targets: list[str], **args: Any) -> dict[str, Any]:
        return await self.call("deletion.plan", scope=scope, target_ids=targets, **args)

    async def unlock(self) -> str:
        return (await self.call("delete.unlock", password=PASSWORD))["token"]

    async def create(self, plan: dict[str, Any], token: str | None = None) -> dict[str, Any]:
        token = token or await self.unlock()
        return (await self.call("deletion.create", plan=plan, token=token))["run"]

    async def finished(self, run_id: int, timeout: float = 30) -> dict[str, Any]:
        """The run once it has ended, with its actions."""
        async with asyncio.timeout(timeout):
            while True:
                run = (await self.call("deletion.get", id=run_id))["run"]
                if run["status"] not in ("queued", "running"):
                    return run
                await asyncio.sleep(0.02)

    async def engine_stopped(self, timeout: float = 10) -> None:
        """Wait until the deletion engine's task has ended (e.g. after a simulated crash)."""
        async with asyncio.timeout(timeout):
            while not self.runtime.deletion._task.done():
                await asyncio.sleep(0.01)

    async def run(self, plan: dict[str, Any]) -> dict[str, Any]:
        """Create a run from ``plan`` and wait for its end."""
        return await self.finished((await self.create(plan))["id"])

    def writes(self, kind: str, method: str | None = None) -> list[dict[str, Any]]:
        entries = self.fakes.writes[kind].to_list()
        return [e for e in entries if method is None or e["method"] == method]

    def deleted(self) -> set[tuple[str, int]]:
        """``(kind, arr file id)`` of every DELETE the fakes received."""
        return {
            (kind, int(e["path"].rsplit("/", 1)[1]))
            for kind in ("sonarr", "radarr")
            for e in self.writes(kind, "DELETE")
        }

    def start_playing(self, user: int, rating_key: str) -> None:
        """``user`` is 30 % into ``rating_key`` now, as Tautulli will report it."""
        play(self.library, user, rating_key, percent=30, days_ago=0)
        self.library.reindex()
        self.fakes.apps["tautulli"].state.fake.history.rebuild()

    async def runs(self) -> list[DeletionRun]:
        return await self.runtime.store.read(lambda: list(DeletionRun.select()))


def store_id(candidate_id: str) -> int:
    return int(candidate_id.split(":")[1])


async def refused(coro) -> CullarrError:
    """The error ``coro`` fails with (the test fails when it does not)."""
    with pytest.raises(CullarrError) as caught:
        await coro
    return caught.value


def planned(plan: dict[str, Any]) -> set[tuple[str, int]]:
    """``(kind, arr file id)`` of the plan's eligible files."""
    return {(f["integration"], f["arr_file_id"]) for f in plan["files"]}


@contextlib.contextmanager
def deletion_scenario(
    store, tmp_path, library=None, *, delete_mode: dict | None = None, timing: Timing = FAST,
    **per_kind: Any,
) -> Iterator[DeletionScenario]:  # fmt: skip
    """A scenario with delete mode on (unless ``delete_mode`` says otherwise) and an operator."""
    mode = {"enabled": True, "secret": SECRET} if delete_mode is None else delete_mode
    with scenario(store, tmp_path, library, config={"delete_mode": mode}, **per_kind) as base:
        sc = DeletionScenario(base.library, base.fakes, base.runtime, base.service)
        sc.runtime.deletion = DeletionEngine(sc.runtime, timing=timing)
        digest = operators.hash_password(PASSWORD)
        with store.db.atomic():
            operators.set_password("op@example.com", digest, sc.runtime.audit)
        yield sc
