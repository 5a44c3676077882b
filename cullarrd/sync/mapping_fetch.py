"""Bounded, cached ``get_metadata`` calls for one mapping run (SPEC §5.6 "work is bounded").

Each rating key is asked at most once per run (show and season metadata included); at most
``budget`` calls are made, ``workers`` at a time. ``None`` from the adapter means *unknown*
(Plex unreachable or the key gone): it is cached as such and never read as "no match". When a run
sees only unknown answers, one key that Plex knew before is asked; if that is unknown too, Plex
is taken as unreachable and the remaining keys are left for a later run instead of spending the
budget on answers that cannot come.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from cullarrd.types import PlexMetadata

UNKNOWN_STREAK = 20  # unknown answers in a row (and none known) before Plex is probed
NOT_FETCHED = object()  # budget spent or Plex unreachable: the key waits for a later run


class MetadataFetcher:
    """``get_metadata`` with a per-run cache, a call budget and a Plex-unreachable breaker."""

    def __init__(
        self, adapter: Any, *, budget: int, workers: int, probe_keys: Iterable[str] = ()
    ) -> None:
        self.adapter = adapter
        self.budget = max(0, budget)
        self.calls = 0
        self.known = 0
        self.cache: dict[str, PlexMetadata | None] = {}
        self.plex_unreachable = False
        self._streak = 0
        self._probes = [k for k in dict.fromkeys(probe_keys) if k]
        self._probed = False
        self._slots = asyncio.Semaphore(max(1, workers))

    @property
    def remaining(self) -> int:
        return 0 if self.plex_unreachable else max(0, self.budget - self.calls)

    def add_probe_keys(self, keys: Iterable[str]) -> None:
        """More keys Plex is expected to know (e.g. from a library listing)."""
        self._probes.extend(k for k in keys if k and k not in self._probes)

    async def get(self, rating_key: str) -> PlexMetadata | object | None:
        """The cached answer, a fresh one, or ``NOT_FETCHED`` when no call may be made."""
        if rating_key in self.cache:
            return self.cache[rating_key]
        if not self.remaining:
            return NOT_FETCHED
        self.calls += 1
        async with self._slots:
            meta = await self.adapter.get_metadata(rating_key)
        self.cache[rating_key] = meta
        if meta is None:
            self._streak += 1
        else:
            self.known += 1
            self._streak = 0
        return meta

    async def get_many(self, keys: list[str]) -> dict[str, PlexMetadata | object | None]:
        """Answers for ``keys`` (concurrently), then the breaker check."""
        todo = [k for k in dict.fromkeys(keys) if k not in self.cache][: self.remaining]
        try:  # a failing call cancels its siblings before the adapter's client closes
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(self.get(k)) for k in todo]
        except ExceptionGroup as failed:
            raise failed.exceptions[0] from None
        answers: dict[str, Any] = {k: task.result() for k, task in zip(todo, tasks, strict=True)}
        await self._check_breaker()
        return {k: answers.get(k, self.cache.get(k, NOT_FETCHED)) for k in keys}

    async def _check_breaker(self) -> None:
        """After a streak of unknowns with nothing known: ask a key Plex knew before, once."""
        if self._probed or self.known or self._streak < UNKNOWN_STREAK:
            return
        probes = [k for k in self._probes if k not in self.cache]
        if not probes:
            return
        self._probed = True
        if await self.get(probes[0]) is None:
            self.plex_unreachable = True
