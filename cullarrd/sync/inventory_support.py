"""Helpers shared by the inventory phases: bounded fetching, chunking, record conversions."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

from cullarrd.sync.context import CancelToken
from cullarrd.sync.paths import PathMapper
from cullarrd.types import MediaFileRecord

T = TypeVar("T")
R = TypeVar("R")

UPDATE_BATCH = 500  # ids per ``UPDATE … WHERE id IN (…)``
KEEP = object()  # a desired value that is not compared now (set later with ``Rows.assign``)
FILE_FIELDS = (
    "attachable_type",
    "attachable_id",
    "path",
    "path_canonical",
    "size_bytes",
    "quality",
    "metadata_json",
    "added_at",
)
# How ``Rows`` keeps media files: the owner link as is (the writers index by it), the rest digested.
FILE_ROWS = {"tracked": ("attachable_id",), "json_keys": ("relative_path", "date_added", "primary")}


def naive_utc(value: dt.datetime | None) -> dt.datetime | None:
    """An aware datetime as the store keeps it: naive UTC."""
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(dt.UTC).replace(tzinfo=None)


def iso_or_none(value: dt.datetime | None) -> str | None:
    """A datetime for a JSON column."""
    return None if value is None else value.isoformat()


def minutes_to_ms(minutes: int | None) -> int | None:
    """An upstream runtime in minutes as milliseconds."""
    return minutes * 60_000 if minutes else None


def file_values(
    file: MediaFileRecord,
    attachable_type: str,
    attachable_id: int | None,
    mapper: PathMapper,
    **meta: Any,
) -> tuple:
    """The owned columns of a media file row, in ``FILE_FIELDS`` order."""
    document = {
        "relative_path": file.relative_path,
        "date_added": iso_or_none(file.date_added),
        **meta,
    }
    return (
        attachable_type,
        attachable_id,
        file.path,
        mapper.canonical(file.path),
        file.size_bytes,
        file.quality,
        document,
        naive_utc(file.date_added),
    )


async def fetch_each(
    items: Sequence[T],
    fetch: Callable[[T], Awaitable[R]],
    *,
    workers: int,
    cancel: CancelToken,
    done: Callable[[], Awaitable[None]],
) -> list[R]:
    """``fetch`` every item with at most ``workers`` in flight; the first error stops them all.

    A fixed pool of workers takes the next item when it is free (so one slow item never holds
    a whole batch back) and checks ``cancel`` before each one: the safe point between items.
    """
    results: list[Any] = [None] * len(items)
    pending = iter(range(len(items)))

    async def worker() -> None:
        for index in pending:  # one shared iterator: each index is taken exactly once
            cancel.check()
            results[index] = await fetch(items[index])
            await done()

    tasks = [asyncio.create_task(worker()) for _ in range(min(max(workers, 1), len(items)))]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return results


def chunked_by_weight(
    items: Iterable[T], weight: Callable[[T], int], limit: int
) -> Iterator[list[T]]:
    """Consecutive groups, each closed once its summed ``weight`` reaches ``limit``."""
    chunk: list[T] = []
    total = 0
    for item in items:
        chunk.append(item)
        total += weight(item)
        if total >= limit:
            yield chunk
            chunk, total = [], 0
    if chunk:
        yield chunk


def batches(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """``items`` in slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
