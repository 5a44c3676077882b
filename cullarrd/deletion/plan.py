"""A deletion plan (SPEC §7.2): what a run would delete, re-evaluated by the candidate engine.

``parse_request`` validates what the operator asks for (scope, targets, version choices, users,
match mode); ``build_plan`` answers it inside ``store.read`` through
``candidates.query.evaluate_targets`` — the same row definitions and blockers as the list, read
live — so nothing can be planned that the page would not offer. It returns the eligible files,
the blocked targets with every flag and the code a run would be refused with, and the side
effects (what gets unmonitored and tagged). A fingerprint over the request, the files and the
side effects lets a run check that what it executes is what the operator reviewed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cullarrd.candidates.blockers import ERROR_CODES
from cullarrd.candidates.params import MATCH_MODES, SCOPES, CandidateQuery
from cullarrd.candidates.query import ID_PREFIX, effective_users, evaluate_targets, resolve_users
from cullarrd.errors import CullarrError, ValidationFailed
from cullarrd.store.models import Episode, Integration, MediaFile, Movie, Season, Series

MAX_TARGETS = 500
REQUEST_KEYS = {"scope", "target_ids", "versions", "plex_user_ids", "users", "watched_match_mode"}
# Why a target that is not blocked is still not deletable.
NOT_MATCHING = "guardrail_watch_rule"
ROLLUP = "guardrail_rollup_not_strictly_eligible"
# Which id of an episode names the target that covers it, per scope.
COVERED_BY = {"tv_episode": "id", "tv_season": "season_id", "tv_show": "series_id"}


@dataclass(frozen=True)
class PlanRequest:
    """What to delete: targets of one scope, version choices per movie, whose watching counts."""

    scope: str
    target_ids: tuple[int, ...]
    versions: tuple[tuple[int, tuple[int, ...]], ...] = ()
    plex_user_ids: tuple[int, ...] = ()
    watched_match_mode: str = "all"

    def query(self) -> CandidateQuery:
        return CandidateQuery(
            scope=self.scope,
            plex_user_ids=self.plex_user_ids,
            watched_match_mode=self.watched_match_mode,
            include_blocked=True,
        )

    def candidate_id(self, row_id: int) -> str:
        return f"{ID_PREFIX[self.scope]}:{row_id}"

    @classmethod
    def from_dict(cls, request: Mapping[str, Any]) -> PlanRequest:
        """Back from ``to_dict`` (a stored run's request, already validated once)."""

        def number(candidate_id: str) -> int:
            return int(candidate_id.partition(":")[2])

        return cls(
            scope=request["scope"],
            target_ids=tuple(number(t) for t in request["target_ids"]),
            versions=tuple((number(k), tuple(v)) for k, v in sorted(request["versions"].items())),
            plex_user_ids=tuple(request["plex_user_ids"]),
            watched_match_mode=request["watched_match_mode"],
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "scope": self.scope,
            "target_ids": [self.candidate_id(i) for i in self.target_ids],
            "versions": {self.candidate_id(i): list(files) for i, files in self.versions},
            "plex_user_ids": list(self.plex_user_ids),
            "watched_match_mode": self.watched_match_mode,
        }


def parse_request(args: Mapping[str, Any]) -> PlanRequest:
    """Validate a plan request (inside a read: user names are resolved); every problem at once."""
    errors: dict[str, list[str]] = {}

    def fail(key: str, message: str) -> None:
        errors.setdefault(key, []).append(message)

    for key in args:
        if key not in REQUEST_KEYS:
            fail(key, "unknown argument")
    scope = args.get("scope")
    if scope not in SCOPES:
        fail("scope", f"is required, one of: {', '.join(SCOPES)}")
        scope = None
    mode = args.get("watched_match_mode", "all")
    if mode not in MATCH_MODES:
        fail("watched_match_mode", f"must be one of: {', '.join(MATCH_MODES)}")
    targets = _target_ids(args.get("target_ids"), scope, fail)
    versions = _versions(args.get("versions"), scope, set(targets), fail)
    users = _users(args, fail)
    if errors:
        raise ValidationFailed(errors)
    return PlanRequest(str(scope), targets, versions, users, str(mode))


def _positive_id(value: Any, scope: str | None) -> int | None:
    """``4`` or ``"movie:4"`` (the candidate id, whose prefix must fit the scope)."""
    if isinstance(value, str) and ":" in value:
        prefix, _, number = value.partition(":")
        if scope is None or prefix != ID_PREFIX[scope] or not number.isdigit():
            return None
        value = int(number)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**63:
        return None
    return value


def _target_ids(value: Any, scope: str | None, fail: Any) -> tuple[int, ...]:
    if not isinstance(value, list) or not value:
        fail("target_ids", "must be a non-empty list of candidate ids")
        return ()
    if len(value) > MAX_TARGETS:
        fail("target_ids", f"at most {MAX_TARGETS} targets per plan")
        return ()
    ids = [_positive_id(v, scope) for v in value]
    bad = [str(v) for v, i in zip(value, ids, strict=True) if i is None]
    if bad and scope is not None:
        fail("target_ids", f"not {ID_PREFIX[scope]} ids: {', '.join(bad[:10])}")
    return tuple(dict.fromkeys(i for i in ids if i is not None))


def _versions(
    value: Any, scope: str | None, targets: set[int], fail: Any
) -> tuple[tuple[int, tuple[int, ...]], ...]:
    if value is None or value == {}:
        return ()
    if scope != "movie":
        fail("versions", "only movies have versions to choose from")
        return ()
    if not isinstance(value, dict):
        fail("versions", 'must map a movie id to media file ids, e.g. {"movie:4": [10, 11]}')
        return ()
    chosen = []
    for key, files in value.items():
        target = _positive_id(key if ":" in str(key) else _int_text(key), scope)
        ok_files = isinstance(files, list) and files and all(_positive_id(f, None) for f in files)
        if target is None or target not in targets:
            fail("versions", f"{key!r} is not one of the targets")
        elif not ok_files:
            fail("versions", f"{key!r}: must be a non-empty list of media file ids")
        else:
            chosen.append((target, tuple(sorted(set(files)))))
    return tuple(sorted(chosen))


def _int_text(key: Any) -> Any:
    return int(key) if isinstance(key, str) and key.isdigit() else key


def _users(args: Mapping[str, Any], fail: Any) -> tuple[int, ...]:
    ids = args.get("plex_user_ids")
    names = args.get("users")
    if ids is not None and names is not None:
        fail("users", "give either users or plex_user_ids, not both")
        return ()
    if names is not None:
        if not isinstance(names, list) or not names:
            fail("users", "must be a non-empty list of usernames, friendly names or ids")
            return ()
        resolved, problems = resolve_users(names)
        for problem in problems:
            fail("users", problem)
        return resolved
    if ids is None:
        return ()
    if not isinstance(ids, list) or not all(_positive_id(i, None) for i in ids):
        fail("plex_user_ids", "must be a list of positive integer user ids")
        return ()
    try:
        effective_users(ids)
    except ValidationFailed as exc:
        for message in exc.details["fields"]["plex_user_ids"]:
            fail("plex_user_ids", message)
    return tuple(sorted(set(ids)))


# --- the plan ----------------------------------------------------------------------------------


def build_plan(request: PlanRequest, settings: Mapping[str, Any]) -> dict[str, Any]:
    """The plan for ``request`` under the current store and ``settings`` (inside a read)."""
    rows = evaluate_targets(request.query(), request.target_ids, settings)
    by_id = {int(row["candidate_id"].partition(":")[2]): row for row in rows}
    absent = [request.candidate_id(i) for i in request.target_ids if i not in by_id]
    if absent:
        raise ValidationFailed(
            {"target_ids": [f"not present (no file on disk, or unknown): {', '.join(absent)}"]}
        )
    chosen = _chosen_files(request, by_id)
    causes = unavailable_causes()
    targets, blocked, selected = [], [], {}
    for target_id in request.target_ids:
        row = by_id[target_id]
        files = chosen.get(target_id, [])
        targets.append(_target(row, files))
        if row["eligible"]:
            selected[target_id] = files
        else:
            blocked.append({**_target(row, []), "error_code": refusal_code(row, causes)})
    files, effects = _files_and_effects(request, selected, by_id, settings)
    plan = {
        "request": request.to_dict(),
        "watched_mode": settings["watched_mode"],
        "targets": targets,
        "files": files,
        "blocked": blocked,
        "total_bytes": sum(f["size_bytes"] for f in files),
        "side_effects": effects,
    }
    plan["fingerprint"] = fingerprint(plan)
    return plan


def fingerprint(plan: Mapping[str, Any]) -> str:
    """What a run checks against the plan it was given: request, files, side effects."""
    basis = {key: plan[key] for key in ("request", "files", "side_effects")}
    return hashlib.sha256(json.dumps(basis, sort_keys=True).encode()).hexdigest()


def refusal_code(row: Mapping[str, Any], causes: Mapping[str, str]) -> str:
    """The stable code a run answers for a target that is not eligible (SPEC §6.2 table)."""
    for flag in row["blocker_flags"]:
        if flag == "integration_unavailable":
            return next(
                (causes[n] for n in row["integrations"] if n in causes), "integration_unreachable"
            )
        if flag in ERROR_CODES:
            return ERROR_CODES[flag]
    return NOT_MATCHING if not row["watched_rule_met"] else ROLLUP


def unavailable_causes() -> dict[str, str]:
    """Per integration name: the code its unavailability is refused with."""
    causes = {}
    for row in Integration.select():
        if row.status in ("removed", "unsupported") or not row.supported_for_delete:
            causes[row.name] = "unsupported_integration_version"
        elif row.last_sync_outcome != "ok":
            causes[row.name] = "integration_unreachable"
    return causes


def _target(row: Mapping[str, Any], files: Sequence[int]) -> dict[str, Any]:
    return {
        "candidate_id": row["candidate_id"],
        "title": row["title"],
        "eligible": row["eligible"],
        "blocker_flags": row["blocker_flags"],
        "risk_flags": row["risk_flags"],
        "flag_details": row["flag_details"],
        "reasons": row["reasons"],
        "watched_summary": row["watched_summary"],
        "media_file_ids": list(files),
        "shared_with_episode_ids": row.get("shared_with_episode_ids", []),
    }


def _chosen_files(request: PlanRequest, rows: Mapping[int, Mapping[str, Any]]) -> dict[int, list]:
    """The files each target deletes: all of them, or the versions chosen for a movie."""
    choices = dict(request.versions)
    chosen, errors, unchosen = {}, [], []
    for target_id, row in rows.items():
        present = list(row["media_file_ids"])
        choice = choices.get(target_id)
        if choice is None:
            if len(row["versions"]) > 1 and row["eligible"]:
                unchosen.append({"candidate_id": row["candidate_id"], "versions": row["versions"]})
            chosen[target_id] = present
        elif not set(choice) <= set(present):
            errors.append(f"{row['candidate_id']}: files {sorted(set(choice) - set(present))}"
                          f" are not its versions ({present})")  # fmt: skip
        else:
            chosen[target_id] = list(choice)
    if errors:
        raise ValidationFailed({"versions": errors})
    if unchosen:
        names = ", ".join(u["candidate_id"] for u in unchosen)
        raise CullarrError(
            f"choose which versions to delete for {names} (versions: {{id: [media file ids]}})",
            code="multi_version_selection_required",
            details={"targets": unchosen},
        )
    return chosen


def _files_and_effects(
    request: PlanRequest,
    selected: Mapping[int, list[int]],
    rows: Mapping[int, Mapping[str, Any]],
    settings: Mapping[str, Any],
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Each eligible file (with what its action unmonitors and tags) and the plan's effects."""
    owner = {fid: target for target, fids in selected.items() for fid in fids}
    effects = _Effects(request, selected, rows, settings)
    if not owner:
        return [], effects.to_dict()
    names = {i.id: i.name for i in Integration.select(Integration.id, Integration.name)}
    media = MediaFile.select().where(MediaFile.id.in_(list(owner))).order_by(MediaFile.id)
    episodes = _episodes_on(list(owner)) if request.scope != "movie" else {}
    movies = (
        {m.id: m for m in Movie.select().where(Movie.id.in_(list(selected)))}
        if request.scope == "movie"
        else {}
    )
    files = []
    for f in media:
        entry = {
            "media_file_id": f.id,
            "candidate_id": request.candidate_id(owner[f.id]),
            "integration": names[f.integration_id],
            "integration_id": f.integration_id,
            "arr_file_id": f.arr_file_id,
            "path": f.path,
            "size_bytes": int(f.size_bytes),
            "quality": f.quality,
        }
        if request.scope == "movie":
            effects.movie(entry, movies[f.attachable_id], owner[f.id])
        else:
            effects.tv(entry, episodes[f.id], owner[f.id])
        files.append(entry)
    return files, effects.to_dict()


class _Effects:
    """Collects what a plan's actions unmonitor and tag, and which partner episodes lose their
    file; each file's entry gets the part its own action carries out."""

    def __init__(
        self,
        request: PlanRequest,
        selected: Mapping[int, list[int]],
        rows: Mapping[int, Mapping[str, Any]],
        settings: Mapping[str, Any],
    ) -> None:
        self.request, self.selected, self.rows = request, selected, rows
        self.partial_unmonitor = settings["unmonitor_parent_on_partial_version_delete"]
        self.tag_name = settings["culled_tag_name"]
        self.unmonitor: dict[tuple[str, int], dict[str, Any]] = {}
        self.tags: dict[tuple[str, int], dict[str, Any]] = {}
        self.affected: dict[int, dict[str, Any]] = {}

    def movie(self, entry: dict[str, Any], movie: Movie, target: int) -> None:
        """Unmonitored and tagged when all its files go; only unmonitored on a partial delete
        when the setting says so."""
        entry["parent"] = {"type": "movie", "arr_id": movie.radarr_movie_id}
        whole = set(self.selected[target]) == set(self.rows[target]["media_file_ids"])
        item = {"type": "movie", "arr_id": movie.radarr_movie_id, "title": movie.title}
        self._group(entry, target, item if whole or self.partial_unmonitor else None, whole)

    def tv(self, entry: dict[str, Any], on_file: list[dict[str, Any]], target: int) -> None:
        """The episodes whose file goes are unmonitored in every TV scope (else Sonarr fetches
        them again, e.g. when a show's run stops half-way); a whole show's series too, tagged."""
        series = on_file[0]["series"]
        entry["parent"] = {"type": "series", "arr_id": series["arr_id"]}
        entry["unmonitor_episodes"] = [e["arr_id"] for e in on_file]
        for e in on_file:
            self.unmonitor[("episode", e["arr_id"])] = {
                "integration": entry["integration"], "type": "episode", "arr_id": e["arr_id"],
                "title": e["title"],
            }  # fmt: skip
            if e[COVERED_BY[self.request.scope]] not in self.selected:  # no target covers it
                self.affected[e["id"]] = {"episode_id": e["id"], "title": e["title"],
                                          "shares_file_with": entry["candidate_id"]}  # fmt: skip
        if self.request.scope == "tv_show":
            item = {"type": "series", "arr_id": series["arr_id"], "title": series["title"]}
            self._group(entry, target, item, True)

    def _group(
        self, entry: dict[str, Any], target: int, unmonitor: dict[str, Any] | None, tag: bool
    ) -> None:
        """A whole item's effects, done by the action that deletes its last file."""
        group = {"key": self.request.candidate_id(target), "files": self.selected[target]}
        named = {"integration": entry["integration"]}
        if unmonitor is not None:
            group["unmonitor"] = unmonitor
            self.unmonitor[(unmonitor["type"], unmonitor["arr_id"])] = {**named, **unmonitor}
        if tag:
            item = unmonitor or {}
            group["tag"] = {**item, "tag": self.tag_name}
            self.tags[(item["type"], item["arr_id"])] = {**named, **group["tag"]}
        entry["group"] = group

    def to_dict(self) -> dict[str, Any]:
        return {
            "unmonitor": list(self.unmonitor.values()),
            "tag": list(self.tags.values()),
            "affected_episodes": sorted(self.affected.values(), key=lambda e: e["episode_id"]),
        }


def _episodes_on(file_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """Every present episode on each file, with its season's and series' ids."""
    rows = (
        Episode.select(
            Episode.id,
            Episode.media_file,
            Episode.sonarr_episode_id,
            Episode.season_number,
            Episode.episode_number,
            Episode.title,
            Episode.season,
            Season.series,
            Series.sonarr_series_id,
            Series.title.alias("series_title"),
        )
        .join(Season)
        .join(Series)
        .where(Episode.media_file.in_(file_ids), Episode.missing_since.is_null())
        .order_by(Episode.id)
        .dicts()
    )
    found: dict[int, list[dict[str, Any]]] = {}
    for e in rows:
        code = f"S{e['season_number']:02d}E{e['episode_number']:02d}"
        found.setdefault(e["media_file"], []).append(
            {
                "id": e["id"],
                "arr_id": e["sonarr_episode_id"],
                "title": " ".join(p for p in (e["series_title"], code, e["title"]) if p),
                "season_id": e["season"],
                "series_id": e["series"],
                "series": {"arr_id": e["sonarr_series_id"], "title": e["series_title"]},
            }
        )
    return found
