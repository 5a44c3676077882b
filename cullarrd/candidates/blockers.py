"""Every reason a candidate is blocked or risky, and how a mapping status reads (SPEC §6.2).

The SQL computes one 0/1 column per flag (``f_<flag>``); this table names them, says in one
sentence what each means, and which error code refuses a deletion on it (SPEC §7).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Flag:
    name: str
    message: str
    error_code: str | None = None  # what execution answers when the flag still holds


BLOCKERS: tuple[Flag, ...] = (
    Flag(
        "path_excluded",
        "A file lies under an enabled path exclusion.",
        "guardrail_path_excluded",
    ),
    Flag(
        "keep_marked",
        "A keep marker is set on it, or on its season or series.",
        "guardrail_keep_marker",
    ),
    Flag(
        "in_progress_any",
        "A selected user is part-way through it.",
        "guardrail_in_progress",
    ),
    Flag(
        "ambiguous_mapping",
        "Plex items disagree about which item this is; its watch history cannot be trusted.",
        "guardrail_ambiguous_mapping",
    ),
    Flag(
        "ambiguous_ownership",
        "A file path is claimed by more than one Sonarr/Radarr integration.",
        "guardrail_ambiguous_ownership",
    ),
    Flag(
        "integration_unavailable",
        "Its Sonarr/Radarr is removed from the config, not supported for deleting, or its last"
        " sync failed.",
        "integration_unreachable",
    ),
    Flag(
        "unattributed_watch_history",
        "Watch history that could not be linked to any item has the same title (and year, or"
        " season and episode): whether it was watched is uncertain.",
        "guardrail_unattributed_history",
    ),
    Flag(
        "rollup_not_strictly_eligible",
        "Some episode with a file is blocked or not watched as the match mode requires.",
    ),
)
RISKS: tuple[Flag, ...] = (
    Flag("multiple_versions", "More than one file (version) of it is on disk."),
    Flag("no_plex_mapping", "Not linked to a Plex item: no watch history can be attributed."),
    Flag("provisional_mapping", "Linked to Plex by title and year only, not verified."),
    Flag("shared_file", "Its file also holds another episode (a multi-episode file)."),
)
BLOCKER_NAMES = tuple(flag.name for flag in BLOCKERS)
RISK_NAMES = tuple(flag.name for flag in RISKS)
EXPLAIN = {flag.name: flag.message for flag in (*BLOCKERS, *RISKS)}
ERROR_CODES = {flag.name: flag.error_code for flag in BLOCKERS if flag.error_code}

# Mapping statuses, worst last: a season or show shows the worst of its episodes.
MAPPING_ORDER = (
    "verified_path",
    "verified_external_ids",
    "verified_tv_structure",
    "external_source_not_managed",
    "provisional_title_year",
    "unresolved",
    "ambiguous_conflict",
)
MAPPING_STATES = {
    "verified_path": "verified",
    "verified_external_ids": "verified",
    "verified_tv_structure": "verified",
    "provisional_title_year": "provisional",
    "external_source_not_managed": "external",
    "unresolved": "unresolved",
    "ambiguous_conflict": "ambiguous",
}
MAPPING_TEXT = {
    "verified_path": "Linked to Plex by its file path.",
    "verified_external_ids": "Linked to Plex by external ids (TMDb/IMDb/TVDB).",
    "verified_tv_structure": "Linked to Plex by show, season and episode number.",
    "provisional_title_year": "Linked to Plex by title and year only; not verified.",
    "external_source_not_managed": "The Plex item is outside what Sonarr/Radarr manage.",
    "unresolved": "Not linked to a Plex item yet; no watch history is attributed to it.",
    "ambiguous_conflict": "Conflicting Plex matches; its watch history is not trusted.",
}


def mapping_status(code: str | None, diagnostics: Any = None) -> dict[str, Any]:
    """``{code, state, details}`` with a one-line human explanation."""
    code = code or "unresolved"
    details = MAPPING_TEXT.get(code, code)
    if code == "ambiguous_conflict" and isinstance(diagnostics, dict):
        reason = diagnostics.get("reason")
        keys = diagnostics.get("rating_keys") or []
        if reason:
            details = f"{details[:-1]} ({reason.replace('_', ' ')}"
            details += f"; Plex rating keys {', '.join(map(str, keys))})." if keys else ")."
    return {"code": code, "state": MAPPING_STATES.get(code, "unresolved"), "details": details}


def rollup_mapping_status(code: str | None, affected: int, total: int) -> dict[str, Any]:
    """The worst episode status of a season or show, saying how many episodes share it."""
    status = mapping_status(code)
    if code not in MAPPING_ORDER[:3] and total:
        status["details"] = f"{affected} of {total} episodes: {status['details']}"
    return status
