"""The commands of the fake Sonarr: the names it knows, their fields and ``CommandResource``.

Like ``CommandQueueManager`` (``arr_fake.CommandQueue``): the name is matched ignoring case (an
unknown one fails with 500), the command's own fields sit at the top level of the body, an equal
command still queued is returned instead of a new one, and ``body`` echoes the parsed command.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from cullarrd_plugins.fakelib.arr_fake import Command, compact, iso, message

COMMANDS = {"rescanseries": ("RescanSeries", "Rescan Series"),
            "refreshseries": ("RefreshSeries", "Refresh Series")}  # fmt: skip
FINISHED = frozenset({"completed", "failed", "aborted", "cancelled", "orphaned"})
STARTED_AFTER = dt.timedelta(milliseconds=5)  # queued → started, when polled
RUN_TIME = STARTED_AFTER + dt.timedelta(milliseconds=12)  # queued → ended


def command_params(major: int, name: str, body: dict[str, Any]) -> dict[str, Any]:
    """The command-specific fields the server parses out of the body."""
    lower = {key.lower(): value for key, value in body.items()}
    series_id = lower.get("seriesid")
    if series_id is not None and (not isinstance(series_id, int) or isinstance(series_id, bool)):
        raise message(400, "The JSON value could not be converted to System.Int32.")
    if name == "RescanSeries":
        return {"seriesId": series_id} if series_id is not None else {}
    if major < 4:
        return {"isNewSeries": False} | ({"seriesId": series_id} if series_id else {})
    series_ids = lower.get("seriesids") or ([series_id] if series_id else [])
    return {"seriesIds": list(series_ids), "isNewSeries": False}


def render_command(command: Command) -> dict[str, Any]:
    """A ``CommandResource``; ``body`` echoes the parsed command (ENDPOINTS.md §1)."""
    done = command.status in FINISHED
    ended = command.ended if done else None
    body = {**command.params, "sendUpdatesToClient": True, "updateScheduledTask": True,
            "completionMessage": "Completed", "requiresDiskAccess": False,
            "isExclusive": False, "isLongRunning": False, "name": command.name,
            "trigger": "manual", "suppressMessages": False}  # fmt: skip
    doc = {
        "id": command.id,
        "name": command.name,
        "commandName": command.label,
        "message": "Completed" if done else None,
        "body": body,
        "priority": "normal",
        "status": command.status,
        "result": "successful" if done else "unknown",
        "queued": iso(command.queued),
        "started": iso(command.queued + STARTED_AFTER) if done else None,
        "ended": iso(ended) if ended else None,
        "duration": "00:00:00.0120000" if done else None,
        "trigger": "manual",
        "stateChangeTime": iso(command.ended or command.queued),
        "sendUpdatesToClient": True,
        "updateScheduledTask": True,
        "lastExecutionTime": iso(ended) if ended else None,
    }
    return compact(doc)
