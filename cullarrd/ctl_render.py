"""How ``cullarrctl`` shows the daemon's answers to a person (``--json`` bypasses all this)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from typing import Any


def inline(value: Any) -> str:
    """A value on one line for a human: scalars plain, containers compact."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return " ".join(f"{key}={inline(item)}" for key, item in value.items()) or "-"
    if isinstance(value, list):
        return ", ".join(inline(item) for item in value) or "-"
    return str(value)


def _as_json(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max([len(h)] + [len(row[i]) for row in rows]) for i, h in enumerate(headers)]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in [list(headers), *rows]
    ]


def _aligned(pairs: Sequence[tuple[str, str]]) -> list[str]:
    width = max((len(label) for label, _ in pairs), default=0) + 1
    return [f"{label + ':':<{width}} {value}" for label, value in pairs]


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, int | float) or isinstance(seconds, bool):
        return inline(seconds)
    rest, parts = int(seconds), []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    return " ".join([*parts, f"{rest}s"])


def render_generic(result: Any, ns: argparse.Namespace) -> str:
    """Fallback: a dict of scalars as aligned lines, a list of dicts as a table, else JSON."""
    if isinstance(result, dict) and all(not isinstance(v, dict | list) for v in result.values()):
        return "\n".join(_aligned([(str(k), inline(v)) for k, v in result.items()]))
    if isinstance(result, list) and result and all(isinstance(row, dict) for row in result):
        headers = list(dict.fromkeys(key for row in result for key in row))
        rows = [[inline(row.get(key)) for key in headers] for row in result]
        return "\n".join(_table([h.upper() for h in headers], rows))
    return json.dumps(result, indent=2, ensure_ascii=False)


_STATUS_FIELDS = (
    ("version", "version", inline),
    ("uptime_s", "uptime", _duration),
    ("db", "db", inline),
    ("config_path", "config", inline),
    ("active_sync_run", "active sync run", inline),
)


def render_status(result: Any, ns: argparse.Namespace) -> str:
    """Daemon facts as aligned lines, then integrations and plugins as tables."""
    if not isinstance(result, dict):
        return render_generic(result, ns)
    known = {key for key, _, _ in _STATUS_FIELDS} | {"integrations", "plugins"}
    pairs = [(label, fmt(result[key])) for key, label, fmt in _STATUS_FIELDS if key in result]
    pairs += [(k, inline(v)) for k, v in result.items() if k not in known]
    lines = _aligned(pairs)
    integrations = [i for i in result.get("integrations") or [] if isinstance(i, dict)]
    if integrations:
        rows = [[inline(i.get(k)) for k in ("name", "kind", "status")] for i in integrations]
        lines += ["", "integrations:", *_table(["NAME", "KIND", "STATUS"], rows)]
    plugins = [p for p in result.get("plugins") or [] if isinstance(p, dict)]
    if plugins:
        rows = [[inline(p.get("name")), inline(p.get("ok")), p.get("error") or ""] for p in plugins]
        lines += ["", "plugins:", *_table(["NAME", "OK", "ERROR"], rows)]
    return "\n".join(lines)


def render_settings(result: Any, ns: argparse.Namespace) -> str:
    """A KEY VALUE SOURCE table."""
    settings = result.get("settings") if isinstance(result, dict) else None
    if not isinstance(settings, dict):
        return render_generic(result, ns)
    rows = []
    for key in sorted(settings):
        entry = settings[key]
        if isinstance(entry, dict) and "value" in entry:
            rows.append([key, _as_json(entry["value"]), inline(entry.get("source"))])
        else:
            rows.append([key, _as_json(entry), "-"])
    return "\n".join(_table(["KEY", "VALUE", "SOURCE"], rows))


def render_changed(result: Any, ns: argparse.Namespace) -> str:
    """``updated: k1, k2`` from a ``{"changed": [...]}`` result."""
    changed = result.get("changed") if isinstance(result, dict) else None
    if not isinstance(changed, list):
        return render_generic(result, ns)
    return f"updated: {', '.join(map(str, changed))}" if changed else "nothing changed"


def render_reload(result: Any, ns: argparse.Namespace) -> str:
    """A confirmation, then what the reload did to integrations and what needs a restart."""
    if not isinstance(result, dict):
        return render_generic(result, ns)
    lines = ["configuration reloaded"]
    for action, names in (result.get("integrations") or {}).items():
        if names:
            lines.append(f"integrations {action}: {', '.join(map(str, names))}")
    if result.get("restart_required"):
        lines.append("restart needed for: " + ", ".join(map(str, result["restart_required"])))
    return "\n".join(lines)


def render_integrations(result: Any, ns: argparse.Namespace) -> str:
    """One row per integration: health, version, whether it may delete, last error."""
    rows_in = result.get("integrations") if isinstance(result, dict) else None
    if not isinstance(rows_in, list):
        return render_generic(result, ns)
    headers = ["NAME", "KIND", "STATUS", "VERSION", "DELETE", "CHECKED", "BASE URL", "LAST ERROR"]
    keys = ["name", "kind", "status", "reported_version", "supported_for_delete",
            "last_checked_at", "base_url", "last_error"]  # fmt: skip
    rows = [[inline(row.get(k)) for k in keys] for row in rows_in if isinstance(row, dict)]
    return "\n".join(_table(headers, rows)) if rows else "no integrations configured"


def render_audit(result: Any, ns: argparse.Namespace) -> str:
    """Audit events, oldest first as the daemon sends them."""
    events = result.get("events") if isinstance(result, dict) else None
    if not isinstance(events, list):
        return render_generic(result, ns)
    if not events:
        return "no audit events"
    rows = [
        [inline(e.get(k)) for k in ("occurred_at", "event_name", "correlation_id")]
        + [_as_json(e.get("payload", e.get("payload_json")) or "-")]
        for e in events
        if isinstance(e, dict)
    ]
    return "\n".join(_table(["OCCURRED_AT", "EVENT_NAME", "CORRELATION_ID", "PAYLOAD"], rows))


def render_password_set(result: Any, ns: argparse.Namespace) -> str:
    """Confirms without repeating anything secret."""
    created = isinstance(result, dict) and result.get("created") is True
    return f"operator {ns.email} created" if created else f"password set for {ns.email}"


def progress_line(event: dict[str, Any], *, tty: bool) -> str:
    """A progress bar redrawn in place on a terminal, else one plain line per update."""
    percent = float(event.get("percent") or 0.0)
    filled = int(percent / 100 * 30)
    bar = "#" * filled + "." * (30 - filled)
    text = f"run {event.get('run_id')} [{bar}] {percent:5.1f}% {event.get('phase') or ''}"
    return f"\r{text:<80}" if tty else text + "\n"


def render_sync(result: Any, ns: argparse.Namespace) -> str:
    """What a trigger or cancel did, and how a followed run ended."""
    run = result.get("run") if isinstance(result, dict) else None
    if not isinstance(run, dict):
        return render_generic(result, ns)
    lead = {"sync_started": "started", "sync_queued_next": "queued next to"}.get(
        result.get("code"), "run"
    )
    line = f"{lead} sync run {run['id']}: {run['status']}"
    if run.get("error_code"):
        line += f" ({run['error_code']}: {run.get('error_message') or ''})"
    return ("\n" if getattr(ns, "wait", False) else "") + line


def render_runs(result: Any, ns: argparse.Namespace) -> str:
    """Sync runs, newest first."""
    runs = result.get("runs") if isinstance(result, dict) else None
    if not isinstance(runs, list):
        return render_generic(result, ns)
    keys = ["id", "status", "trigger", "phase", "started_at", "finished_at", "error_code"]
    rows = [[inline(run.get(k)) for k in keys] for run in runs]
    return "\n".join(_table([k.upper() for k in keys], rows)) if rows else "no sync runs yet"


def render_run(result: Any, ns: argparse.Namespace) -> str:
    """One run: its facts, each phase's progress and each integration's outcome."""
    run = result.get("run") if isinstance(result, dict) else None
    if not isinstance(run, dict):
        return render_generic(result, ns)
    facts = [(k, inline(run.get(k))) for k in
             ("id", "status", "trigger", "phase", "started_at", "finished_at", "error_code",
              "error_message")]  # fmt: skip
    progress = run.get("progress") or {}
    phases = [
        [name, p.get("state", ""), f"{p.get('processed_units', 0)}/{p.get('total_units', 0)}",
         str(p.get("rows_written", 0))]
        for name, p in (progress.get("phases") or {}).items()
    ]  # fmt: skip
    outcomes = [
        [name, o.get("state", ""), inline(o.get("failed_phase")),
         inline((o.get("error") or {}).get("code"))]
        for name, o in (progress.get("integrations") or {}).items()
    ]  # fmt: skip
    lines = [*_aligned(facts), f"percent: {progress.get('percent', 0)}"]
    if phases:
        lines += ["", *_table(["PHASE", "STATE", "UNITS", "ROWS"], phases)]
    if outcomes:
        lines += ["", *_table(["INTEGRATION", "STATE", "FAILED PHASE", "ERROR"], outcomes)]
    return "\n".join(lines)


def _items(result: Any) -> list[dict[str, Any]] | None:
    """The rows of a ``{"items": [...]}`` list, or a created/updated object as one row."""
    if isinstance(result, dict) and isinstance(result.get("items"), list):
        return [row for row in result["items"] if isinstance(row, dict)]
    if isinstance(result, dict) and "id" in result:
        return [result]
    return None


def render_keep_markers(result: Any, ns: argparse.Namespace) -> str:
    """Keep markers: the target as a candidate id, its title and the note."""
    rows_in = _items(result)
    if rows_in is None:
        return render_generic(result, ns)
    rows = [[inline(r.get(k)) for k in ("id", "candidate_id", "title", "note")] for r in rows_in]
    return "\n".join(_table(["ID", "TARGET", "TITLE", "NOTE"], rows)) if rows else "no keep markers"


def render_exclusions(result: Any, ns: argparse.Namespace) -> str:
    """Path exclusions: name, prefix and whether each one blocks deletions now."""
    rows_in = _items(result)
    if rows_in is None:
        return render_generic(result, ns)
    rows = [[inline(r.get(k)) for k in ("id", "name", "path_prefix", "enabled")] for r in rows_in]
    if not rows:
        return "no path exclusions"
    return "\n".join(_table(["ID", "NAME", "PATH PREFIX", "ENABLED"], rows))


def _filters_text(filters: Any) -> str:
    if not isinstance(filters, dict) or not filters:
        return "-"
    return " ".join(
        f"{key}={','.join(map(str, value)) if isinstance(value, list) else inline(value)}"
        for key, value in filters.items()
    )


def render_views(result: Any, ns: argparse.Namespace) -> str:
    """Saved views: name, scope and the stored filters on one line each."""
    rows_in = _items(result)
    if rows_in is None:
        return render_generic(result, ns)
    rows = [
        [inline(r.get("id")), inline(r.get("name")), inline(r.get("scope")),
         _filters_text(r.get("filters"))]
        for r in rows_in
    ]  # fmt: skip
    return "\n".join(_table(["ID", "NAME", "SCOPE", "FILTERS"], rows)) if rows else "no saved views"


def render_removed(noun: str) -> Callable[[Any, argparse.Namespace], str]:
    """A renderer confirming ``{"removed": id}`` as ``removed <noun> <id>``."""

    def render(result: Any, ns: argparse.Namespace) -> str:
        if not isinstance(result, dict) or "removed" not in result:
            return render_generic(result, ns)
        return f"removed {noun} {result['removed']}"

    return render


def render_users(result: Any, ns: argparse.Namespace) -> str:
    """Plex users: store id, Tautulli id, names, hidden."""
    rows_in = _items(result)
    if rows_in is None:
        return render_generic(result, ns)
    keys = ("id", "tautulli_user_id", "username", "friendly_name", "hidden")
    rows = [[inline(r.get(k)) for k in keys] for r in rows_in]
    headers = ["ID", "TAUTULLI ID", "USERNAME", "FRIENDLY NAME", "HIDDEN"]
    return "\n".join(_table(headers, rows)) if rows else "no Plex users yet (run a sync)"


def _gb(value: Any) -> str:
    return f"{value / 1e9:.2f}" if isinstance(value, int | float) else "-"


def render_candidates(result: Any, ns: argparse.Namespace) -> str:
    """One page of candidates as a table, then the totals and how to get the next page."""
    if not isinstance(result, dict) or "items" not in result:
        return render_generic(result, ns)
    rows = []
    for item in result["items"]:
        watched = item.get("watched_summary") or {}
        rows.append([
            inline(item.get("candidate_id")), inline(item.get("title")),
            _gb(item.get("reclaimable_bytes")),
            f"{watched.get('watched_user_count', 0)}/{watched.get('selected_user_count', 0)}",
            inline(watched.get("last_watched_at")),
            inline(item.get("blocker_flags")), inline(item.get("risk_flags")),
        ])  # fmt: skip
    headers = ["ID", "TITLE", "GB", "WATCHED", "LAST WATCHED", "BLOCKERS", "RISKS"]
    lines = _table(headers, rows) if rows else ["no candidates match"]
    diag = result.get("diagnostics") or {}
    lines.append(
        f"{diag.get('rows_returned', 0)} shown of {diag.get('rows_matching', 0)} matching "
        f"({diag.get('rows_scanned', 0)} scanned, {diag.get('rows_filtered_unwatched', 0)} not "
        f"watched as asked, {diag.get('rows_filtered_blocked', 0)} blocked and hidden); "
        f"{_gb(diag.get('total_reclaimable_bytes'))} GB reclaimable in all"
    )
    cursor = (result.get("page") or {}).get("next_cursor")
    if cursor:
        lines.append(f"next page: --cursor {cursor}")
    return "\n".join(lines)


def render_unlock(result: Any, ns: argparse.Namespace) -> str:
    """The token and until when it is good for (it is spent by the first deletion run)."""
    if not isinstance(result, dict) or "token" not in result:
        return render_generic(result, ns)
    return f"{result['token']}\nvalid until {result.get('expires_at')}, for one deletion run"


def _indented(title: str, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    return [title, *("  " + line for line in _table(headers, rows))] if rows else []


def _side_effects(effects: Any) -> list[str]:
    """What a deletion changes besides deleting files: unmonitor, tag, partner episodes."""
    effects = effects if isinstance(effects, dict) else {}
    item = ("integration", "type", "arr_id", "title")
    unmonitor = [[inline(e.get(k)) for k in item] for e in effects.get("unmonitor") or []]
    tag = [[inline(e.get(k)) for k in (*item, "tag")] for e in effects.get("tag") or []]
    partners = [
        [
            f"episode:{e.get('episode_id')}",
            *(inline(e.get(k)) for k in ("title", "shares_file_with")),
        ]
        for e in effects.get("affected_episodes") or []
    ]
    headers = ["INTEGRATION", "TYPE", "ARR ID", "TITLE"]
    return [
        *_indented(f"unmonitors ({len(unmonitor)}):", headers, unmonitor),
        *_indented(f"tags ({len(tag)}):", [*headers, "TAG"], tag),
        *_indented(
            f"partner episodes that lose their shared file ({len(partners)}):",
            ["EPISODE", "TITLE", "SHARES A FILE WITH"],
            partners,
        ),
    ]


def render_plan(result: Any, ns: argparse.Namespace) -> str:
    """The eligible files, the blocked targets, the side effects and the total."""
    if not isinstance(result, dict) or not isinstance(result.get("files"), list):
        return render_generic(result, ns)
    files = [[inline(f.get(k)) for k in ("media_file_id", "candidate_id", "integration")]
             + [_gb(f.get("size_bytes")), inline(f.get("quality")), inline(f.get("path"))]
             for f in result["files"]]  # fmt: skip
    blocked = [[inline(b.get(k)) for k in ("candidate_id", "title", "blocker_flags", "error_code")]
               for b in result.get("blocked") or []]  # fmt: skip
    lines = _indented(
        f"files to delete ({len(files)}):",
        ["FILE", "TARGET", "INTEGRATION", "GB", "QUALITY", "PATH"],
        files,
    ) or ["nothing to delete"]
    lines += _indented(
        f"blocked, not deleted ({len(blocked)}):", ["TARGET", "TITLE", "BLOCKERS", "ERROR"], blocked
    )
    lines += _side_effects(result.get("side_effects"))
    lines.append(f"total: {len(files)} files, {_gb(result.get('total_bytes'))} GB")
    if getattr(ns, "out", None):
        lines.append(f"plan written to {ns.out}")
    return "\n".join(lines)


def _deleted(run: dict[str, Any]) -> str:
    return f"{_gb(run.get('deleted_bytes'))} of {_gb(run.get('total_bytes'))} GB"


def _counts(counts: Any) -> str:
    if not isinstance(counts, dict) or not counts:
        return "no actions"
    return ", ".join(f"{n} {status}" for status, n in counts.items())


def deletion_progress_line(event: dict[str, Any]) -> str:
    """One line per change of a followed deletion run."""
    return f"deletion run {event.get('run_id')} {event.get('status')}: {_counts(event['actions'])}"


def _deletion_outcome(run: dict[str, Any]) -> str:
    line = (
        f"deletion run {run.get('id')}: {run.get('status')} ({_counts(run.get('action_counts'))});"
        f" {_deleted(run)} deleted"
    )
    if run.get("error_code"):
        line += f"\nerror {run['error_code']}: {run.get('error_message') or ''}"
    return line


def render_delete(result: Any, ns: argparse.Namespace) -> str:
    """A created, canceled or (with ``--wait``) finished deletion run."""
    run = result.get("run") if isinstance(result, dict) else None
    if not isinstance(run, dict):
        return render_generic(result, ns)
    if ns.action == "cancel":
        return f"cancel requested for deletion run {run.get('id')}: {run.get('status')}"
    if not ns.wait:
        lead = f"started deletion run {run.get('id')}: {run.get('status')}"
        return f"{lead}, {_gb(run.get('total_bytes'))} GB\nfollow it with: {_details(run)}"
    return f"{_deletion_outcome(run)}\ndetails: {_details(run)}"


def _details(run: dict[str, Any]) -> str:
    return f"cullarrctl run --deletion {run.get('id')}"


def render_deletion_runs(result: Any, ns: argparse.Namespace) -> str:
    """Deletion runs, newest first."""
    runs = result.get("runs") if isinstance(result, dict) else None
    if not isinstance(runs, list):
        return render_generic(result, ns)
    rows = [
        [inline(r.get(k)) for k in ("id", "status", "scope")]
        + [_gb(r.get("deleted_bytes")), _gb(r.get("total_bytes")), _counts(r.get("action_counts"))]
        + [inline(r.get(k)) for k in ("created_at", "finished_at", "error_code")]
        for r in runs
    ]
    headers = ["ID", "STATUS", "SCOPE", "DELETED GB", "PLANNED GB", "ACTIONS", "CREATED_AT",
               "FINISHED_AT", "ERROR_CODE"]  # fmt: skip
    return "\n".join(_table(headers, rows)) if rows else "no deletion runs yet"


def render_deletion_run(result: Any, ns: argparse.Namespace) -> str:
    """One deletion run: its facts, each action's stage, status and error, the side effects."""
    run = result.get("run") if isinstance(result, dict) else None
    if not isinstance(run, dict):
        return render_generic(result, ns)
    facts = [(k, inline(run.get(k))) for k in
             ("id", "status", "scope", "created_at", "started_at", "finished_at",
              "cancel_requested", "error_code", "error_message")]  # fmt: skip
    facts += [("actions", _counts(run.get("action_counts"))), ("deleted", _deleted(run))]
    actions = [
        [inline(a.get(k)) for k in ("id", "candidate_id", "integration", "arr_file_id")]
        + [_gb(a.get("size_bytes"))]
        + [inline(a.get(k)) for k in ("status", "stage", "retry_count", "error_code")]
        + [_action_notes(a), inline(a.get("path"))]
        for a in run.get("actions") or []
    ]
    headers = ["ACTION", "TARGET", "INTEGRATION", "ARR FILE", "GB", "STATUS", "STAGE", "RETRIES",
               "ERROR", "NOTES", "PATH"]  # fmt: skip
    lines = [*_aligned(facts), "", *(_table(headers, actions) if actions else ["no actions"])]
    side = _side_effects(run.get("side_effects"))
    return "\n".join([*lines, *(["", *side] if side else [])])


def _action_notes(action: dict[str, Any]) -> str:
    notes = [action.get("error_message"), *(action.get("warnings") or [])]
    return "; ".join(inline(note) for note in notes if note) or "-"
