"""``integrations reset-history``: a full rebuild that never shows an emptier watch state."""

from __future__ import annotations

import dataclasses

import pytest

from cullarrd.service import Caller, Service
from cullarrd.store.models import WatchHistory, WatchStat
from cullarrd.sync.engine import SyncEngine
from tests.sync.helpers import make_runtime
from tests.sync.test_engine import runs, wait_idle

CALLER = Caller(correlation_id="cid-reset", channel="socket", peer_uid=0)


@pytest.fixture
def service(store, fakes, tmp_path):
    runtime = make_runtime(store, fakes.integrations(), tmp_path)
    runtime.sync = SyncEngine(runtime)
    return Service(runtime)


def play_counts() -> dict[tuple[int, str, int], int]:
    return {
        (s.plex_user_id, s.watchable_type, s.watchable_id): s.play_count for s in WatchStat.select()
    }


def stored_plays() -> dict[int, tuple[int, object]]:
    return {h.history_id: (h.tautulli_user_id, h.started_at) for h in WatchHistory.select()}


async def sync(service: Service) -> str:
    await service.rt.sync.trigger("manual")
    await wait_idle(service.rt.sync)
    return (await runs(service.rt.store))[-1].status


async def test_reset_history_on_unchanged_upstream_keeps_play_counts(service, store):
    assert await sync(service) == "success"
    before = await store.read(play_counts)
    assert sum(before.values()) > 0
    answer = await service.dispatch("integrations.reset_history", {"name": "tautulli"}, CALLER)
    assert answer["sync"]["code"] == "sync_started"
    await wait_idle(service.rt.sync)
    assert (await runs(store))[-1].status == "success"
    assert await store.read(play_counts) == before


async def test_an_upstream_reset_is_refused_then_rebuilt_to_match_upstream(service, store, fakes):
    assert await sync(service) == "success"
    history = fakes.library.history
    kept = history[: len(history) // 2]
    # Tautulli's database was reset: the same ids now name other plays, the rest are gone.
    reused = [dataclasses.replace(r, user_id=kept[-1 - i].user_id, started=r.started + 7)
              for i, r in enumerate(kept)]  # fmt: skip
    history[:] = reused
    fakes.apps["tautulli"].state.tautulli.history.rebuild()
    before = await store.read(stored_plays)
    assert await sync(service) == "partial_failure"
    run = (await runs(store))[-1]
    assert run.phase_counts_json["integrations"]["tautulli"]["error"]["code"] == (
        "integration_history_reset"
    )
    assert await store.read(stored_plays) == before  # nothing overwritten meanwhile
    await service.dispatch("integrations.reset_history", {"name": "tautulli"}, CALLER)
    await wait_idle(service.rt.sync)
    assert (await runs(store))[-1].status == "success"
    upstream = {r.row_id for r in reused if r.media_type in ("movie", "episode")}
    assert set(await store.read(stored_plays)) == upstream
    assert await sync(service) == "success"  # and the next incremental sync is clean again
