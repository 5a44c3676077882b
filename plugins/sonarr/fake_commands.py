"""The command queue of the fake Sonarr: ``POST command`` and ``GET command/{id}``.

Like ``CommandQueueManager``: the name is matched ignoring case (an unknown one fails with 500),
the command's own fields sit at the top level of the body, an equal command still queued or
running is returned instead of a new one, and ``body`` echoes the parsed command.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from cullarrd_plugins.sonarr.fake_render import compact, iso

COMMANDS = {"rescanseries": ("RescanSeries", "Rescan Series"),
            "refreshseries": ("RefreshSeries", "Refresh Series")}  # fmt: skip
FINISHED = frozenset({"completed", "failed", "aborted", "cancelled", "orphaned"})


class CommandError(Exception):
    """A command POST the real server refuses: ``status`` and its ``{"message"}``."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


class CommandQueue:
    """Commands as ``CommandQueueManager`` keeps them: queued, then completed when polled."""

    def __init__(self, major: int) -> None:
        self.major = major
        self.items: dict[int, dict[str, Any]] = {}

    def push(self, body: dict[str, Any]) -> dict[str, Any]:
        """Queue ``body`` (fields at the top level next to ``name``); a duplicate in flight wins."""
        name = body.get("name")
        known = COMMANDS.get(name.lower()) if isinstance(name, str) else None
        if known is None:  # the name lookup is a .Single() that throws
            raise CommandError(500, "Sequence contains no matching element")
        fields = self._fields(known[0], body)
        for item in self.items.values():
            same = item["name"] == known[0] and item["fields"] == fields
            if same and item["status"] not in FINISHED:
                return self.render(item)
        now = dt.datetime.now(dt.UTC)
        item = {"id": len(self.items) + 1, "name": known[0], "commandName": known[1],
                "fields": fields, "status": "queued", "queued": now, "changed": now}  # fmt: skip
        self.items[item["id"]] = item
        return self.render(item)

    def poll(self, command_id: int) -> dict[str, Any] | None:
        """``GET command/{id}``: a queued command has run by the time it is polled."""
        item = self.items.get(command_id)
        if item is None:
            return None
        if item["status"] == "queued":
            item["status"] = "completed"
            item["started"] = item["queued"] + dt.timedelta(milliseconds=5)
            item["ended"] = item["started"] + dt.timedelta(milliseconds=12)
            item["changed"] = item["ended"]
        return self.render(item)

    def render_all(self) -> list[dict[str, Any]]:
        return [self.render(item) for item in self.items.values()]

    def _fields(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """The command-specific fields the server parses out of the body."""
        lower = {key.lower(): value for key, value in body.items()}
        series_id = lower.get("seriesid")
        if series_id is not None and (
            not isinstance(series_id, int) or isinstance(series_id, bool)
        ):
            raise CommandError(400, "The JSON value could not be converted to System.Int32.")
        if name == "RescanSeries":
            return {"seriesId": series_id} if series_id is not None else {}
        if self.major < 4:
            return {"isNewSeries": False} | ({"seriesId": series_id} if series_id else {})
        series_ids = lower.get("seriesids") or ([series_id] if series_id else [])
        return {"seriesIds": list(series_ids), "isNewSeries": False}

    @staticmethod
    def render(item: dict[str, Any]) -> dict[str, Any]:
        """A ``CommandResource``; ``body`` echoes the parsed command (ENDPOINTS.md §1)."""
        done = item["status"] in FINISHED
        body = {**item["fields"], "sendUpdatesToClient": True, "updateScheduledTask": True,
                "completionMessage": "Completed", "requiresDiskAccess": False,
                "isExclusive": False, "isLongRunning": False, "name": item["name"],
                "trigger": "manual", "suppressMessages": False}  # fmt: skip
        doc = {
            "id": item["id"],
            "name": item["name"],
            "commandName": item["commandName"],
            "message": "Completed" if done else None,
            "body": body,
            "priority": "normal",
            "status": item["status"],
            "result": "successful" if done else "unknown",
            "queued": iso(item["queued"]),
            "started": iso(item["started"]) if done else None,
            "ended": iso(item["ended"]) if done else None,
            "duration": "00:00:00.0120000" if done else None,
            "trigger": "manual",
            "stateChangeTime": iso(item["changed"]),
            "sendUpdatesToClient": True,
            "updateScheduledTask": True,
            "lastExecutionTime": iso(item["ended"]) if done else None,
        }
        return compact(doc)
