"""What each stage of a deletion action does (SPEC §7.3); the engine (``executor.py``) runs them
in order, commits each one's start and end, retries and fails them.

Every stage raises a ``CullarrError`` with a stable code when it cannot do its part; none of them
ever reads an upstream that did not answer as "gone". The one stage with an effect that cannot
be taken back, ``delete_file``, commits that it is sending before it sends, and when it finds
that mark from an earlier attempt it re-reads the file first: gone → done, still the planned file
→ sent again (the app answers 404 for a file already gone), anything else →
``deletion_target_changed``. So a delete is never sent for a file other than the planned one.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from cullarrd.candidates.query import evaluate_targets
from cullarrd.deletion import gate
from cullarrd.deletion.plan import PlanRequest, refusal_code, unavailable_causes
from cullarrd.deletion.runs import STAGES
from cullarrd.errors import CullarrError
from cullarrd.health import evaluate
from cullarrd.store.models import ArrTag, DeletionAction, Episode, MediaFile, Season

ORDER = STAGES


@dataclass(frozen=True)
class Timing:
    """How hard the executor tries (tests shorten the waits)."""

    attempts: int = 4  # per stage, for retryable codes
    retry_base_s: float = 2.0
    retry_cap_s: float = 60.0
    confirm_polls: int = 8
    confirm_base_s: float = 0.5
    confirm_cap_s: float = 10.0


def backoff(attempt: int, base: float, cap: float) -> float:
    """Exponential wait with jitter: ``base * 2^attempt`` capped, times 0.5 to 1."""
    return min(cap, base * 2**attempt) * (0.5 + random.random() / 2)


@dataclass
class ActionContext:
    """One action being executed, with what its stages share."""

    run_id: int
    action: DeletionAction
    adapter: Any
    request: PlanRequest
    upstream: dict[str, Any]  # shared by the integration's actions in this run (health, mode)
    plan: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        self.plan = self.action.plan_json or {}

    @property
    def file_id(self) -> int:
        return int(self.plan["arr_file_id"])

    def stage(self, name: str) -> dict[str, Any]:
        return (self.action.stage_timestamps_json or {}).get(name) or {}


def changed(message: str) -> CullarrError:
    return CullarrError(message, code="deletion_target_changed")


class Stages:
    """The stages, over the runtime; ``mark_sent`` commits that a DELETE is about to go out."""

    def __init__(
        self, runtime: Any, timing: Timing, mark_sent: Callable[[ActionContext], Awaitable[None]]
    ) -> None:
        self.rt = runtime
        self.timing = timing
        self.mark_sent = mark_sent

    async def precheck(self, ctx: ActionContext) -> str:
        """Delete mode on, the integration can delete, every guardrail, the file unchanged."""
        gate.delete_secret(self.rt.config)
        if "health" not in ctx.upstream:  # asked once per integration and run
            record = await ctx.adapter.check_health()
            ctx.upstream["health"] = evaluate(record, ctx.upstream["mode"])
        health = ctx.upstream["health"]
        if not health.supported_for_delete:
            raise CullarrError(
                f"{ctx.plan['integration']} cannot delete: {health.message or health.status}",
                code="unsupported_integration_version",
            )
        await self.rt.store.read(lambda: self.guardrails(ctx))
        await self.same_file_upstream(ctx, required=True)
        return "passed"

    def guardrails(self, ctx: ActionContext) -> None:
        """The target re-evaluated on the current store, exactly as a plan would (in a read)."""
        settings = self.rt.settings.values()
        target = int(ctx.plan["candidate_id"].partition(":")[2])
        rows = evaluate_targets(ctx.request.query(), [target], settings)
        if not rows:
            raise changed(f"{ctx.plan['candidate_id']} is no longer present")
        row = rows[0]
        if not row["eligible"]:
            flags = ", ".join(row["blocker_flags"]) or "not watched as the match mode requires"
            raise CullarrError(
                f"{ctx.plan['candidate_id']} ({row['title']}) is blocked now: {flags}",
                code=refusal_code(row, unavailable_causes()),
                details={"blocker_flags": row["blocker_flags"]},
            )
        stored = MediaFile.get_or_none(MediaFile.id == ctx.action.media_file_id)
        if stored is None or stored.id not in row["media_file_ids"]:
            raise changed(f"media file {ctx.action.media_file_id} no longer belongs to it")
        planned = (ctx.file_id, ctx.plan["path"], ctx.plan["size_bytes"])
        if (stored.arr_file_id, stored.path, int(stored.size_bytes)) != planned:
            raise changed(f"{ctx.plan['path']} changed in the store since the plan")

    async def same_file_upstream(self, ctx: ActionContext, *, required: bool) -> bool:
        """Whether the planned file is still upstream; a different file there is refused."""
        files = await ctx.adapter.get_files([ctx.file_id])
        found = [f for f in files if f.arr_file_id == ctx.file_id]
        if not found:
            if required:
                raise changed(f"{ctx.plan['integration']} no longer has file {ctx.file_id}")
            return False
        live = found[0]
        planned = (ctx.plan["path"], ctx.plan["size_bytes"], ctx.plan["parent"]["arr_id"])
        if (live.path, live.size_bytes, live.owner_arr_id) != planned:
            raise changed(
                f"{ctx.plan['integration']} file {ctx.file_id} is now {live.path}"
                f" ({live.size_bytes} bytes), planned {ctx.plan['path']}"
                f" ({ctx.plan['size_bytes']} bytes)"
            )
        return True

    async def delete_file(self, ctx: ActionContext) -> str:
        gate.delete_secret(self.rt.config)  # also before sending again after a restart
        # A DELETE may have been sent already: look before sending it again.
        if ctx.stage("delete_file").get("attempted") and not await self.same_file_upstream(
            ctx, required=False
        ):
            return "already_gone"
        await self.mark_sent(ctx)
        deleted = await ctx.adapter.delete_file(ctx.file_id)
        return "deleted" if deleted else "already_gone"

    async def unmonitor(self, ctx: ActionContext) -> str:
        done = []
        episodes = ctx.plan.get("unmonitor_episodes") or []
        if episodes:
            await ctx.adapter.unmonitor("episode", episodes)
            done.append(f"episodes {episodes}")
        item = (ctx.plan.get("group") or {}).get("unmonitor")
        whole = await self.whole_item_deleted(ctx) if item else None
        if item and whole is True:
            await ctx.adapter.unmonitor(item["type"], [item["arr_id"]])
            done.append(f"{item['type']} {item['arr_id']}")
        elif isinstance(whole, str):
            done.append(f"not the {item['type']}: {whole}")
        return "; ".join(done) if done else "nothing_to_unmonitor"

    async def tag(self, ctx: ActionContext) -> str:
        item = (ctx.plan.get("group") or {}).get("tag")
        if not item:
            return "nothing_to_tag"
        whole = await self.whole_item_deleted(ctx)
        if whole is not True:
            return f"not tagged: {whole}" if whole else "not tagged: other files still to delete"
        tag = await ctx.adapter.add_tag(item["type"], [item["arr_id"]], item["tag"])
        await self.rt.store.write(lambda: remember_tag(ctx.action.integration_id, tag))
        return f"tagged {item['type']} {item['arr_id']} with {tag.label}"

    async def whole_item_deleted(self, ctx: ActionContext) -> bool | str | None:
        """True when every file of the whole item (movie, show) is deleted by now — only then is
        it unmonitored and tagged, by the action that deletes its last file. None while other
        files of it are still to come in this run; a reason when it will never be whole."""
        group = ctx.plan["group"]

        def check() -> bool | str | None:
            siblings = list(
                DeletionAction.select().where(
                    DeletionAction.deletion_run == ctx.run_id,
                    DeletionAction.media_file.in_(group["files"]),
                )
            )
            if any(s.status in ("failed", "skipped") for s in siblings):
                return "some of its files were not deleted"
            if not all((s.stage_timestamps_json.get("delete_file") or {}).get("finished_at")
                       for s in siblings):  # fmt: skip
                return None
            others = present_files(group["key"]) - set(group["files"])
            if others:  # a version or episode that arrived after the plan stays
                return f"it has files this run does not delete ({len(others)})"
            return True

        return await self.rt.store.read(check)

    async def confirm(self, ctx: ActionContext) -> str:
        """Polled until the file is no longer listed, bounded."""
        timing = self.timing
        for poll in range(timing.confirm_polls):
            listed = await ctx.adapter.list_files(ctx.plan["parent"]["arr_id"])
            if ctx.file_id not in {f.arr_file_id for f in listed}:
                return "gone"
            if poll + 1 < timing.confirm_polls:
                await asyncio.sleep(backoff(poll, timing.confirm_base_s, timing.confirm_cap_s))
        raise CullarrError(
            f"{ctx.plan['integration']} still lists file {ctx.file_id} ({ctx.plan['path']})",
            code="deletion_confirmation_timeout",
        )


def present_files(key: str) -> set[int]:
    """Present, not culled files of a movie (``movie:N``) or show (``show:N``) in the store."""
    kind, _, number = key.partition(":")
    present = MediaFile.missing_since.is_null() & MediaFile.culled_at.is_null()
    if kind == "movie":
        query = MediaFile.select(MediaFile.id).where(
            MediaFile.attachable_type == "movie", MediaFile.attachable_id == int(number), present
        )
    else:
        query = (
            MediaFile.select(MediaFile.id)
            .join(Episode, on=(Episode.media_file == MediaFile.id))
            .join(Season)
            .where(Season.series == int(number), Episode.missing_since.is_null(), present)
        )
    return {row.id for row in query}


def remember_tag(integration_id: int, tag: Any) -> None:
    """Keep ``arr_tags`` in step: one row per label, pointing at the tag's current id."""
    row = ArrTag.get_or_none(ArrTag.integration == integration_id, ArrTag.name == tag.label)
    if row is None:
        ArrTag.delete().where(
            ArrTag.integration == integration_id, ArrTag.arr_tag_id == tag.arr_tag_id
        ).execute()
        ArrTag.create(integration=integration_id, name=tag.label, arr_tag_id=tag.arr_tag_id)
    elif row.arr_tag_id != tag.arr_tag_id:  # deleted and recreated upstream
        row.arr_tag_id = tag.arr_tag_id
        row.save()
