"""APScheduler 3.x on the daemon's loop; jobs only hand work to the store and engines.

Explicit job defaults (APScheduler's own misfire grace is 1 s): a job that could not run on
time still runs once within the grace window, missed runs are coalesced into one, and a job
never overlaps itself.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from cullarrd import retention

log = structlog.get_logger(__name__)
JOB_DEFAULTS = {"coalesce": True, "max_instances": 1, "misfire_grace_time": 300}


class Scheduler:
    """The daemon's periodic jobs."""

    def __init__(self, runtime: Any) -> None:
        self.rt = runtime
        self._scheduler = AsyncIOScheduler(job_defaults=JOB_DEFAULTS, timezone="UTC")

    def start(self) -> None:
        """Register the jobs and start; must be called on the running loop."""
        # The first prune runs a minute after start, then daily.
        self._scheduler.add_job(
            self.prune, "interval", days=1, id="retention.prune", next_run_time=_in_seconds(60)
        )
        # "Is a sync due?" every minute (SPEC §5.1); the interval setting is read at each tick,
        # so changing it takes effect without a restart.
        if self.rt.sync is not None:
            self._scheduler.add_job(
                self.rt.sync.due_check,
                "interval",
                minutes=1,
                id="sync.due_check",
                next_run_time=_in_seconds(5),
            )
        self._scheduler.start()

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def jobs(self) -> list[dict[str, Any]]:
        """The scheduled jobs and their next run (for status)."""
        return [
            {
                "id": job.id,
                "next_run_time": job.next_run_time.isoformat() if job.next_run_time else None,
            }
            for job in self._scheduler.get_jobs()
        ]

    async def prune(self) -> dict[str, int]:
        """Daily retention prune, audited when it removed anything."""
        settings = await self.rt.store.read(self.rt.settings.values)

        def run() -> dict[str, int]:
            removed = retention.prune(settings)
            if any(removed.values()):
                self.rt.audit.record("retention.pruned", removed)
            return removed

        removed = await self.rt.store.write(run)
        log.info("retention.pruned", **removed)
        return removed


def _in_seconds(seconds: int) -> dt.datetime:
    return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)
