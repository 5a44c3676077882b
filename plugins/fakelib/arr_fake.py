"""What the fake Sonarr and the fake Radarr share: error answers, ids, tags, commands, JSON helpers.

Both play a Servarr API v3: ``{"message"}`` objects for 400/404/409/500, FluentValidation arrays
for a refused resource, tags lower-cased and deduplicated (201 on create), and a command queue
that answers 201, returns an equal queued command again and fails an unknown name with 500. Where
the two apps answer differently the caller says how (``placeholders``, ``trim``, the clock).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from cullarrd_plugins.fakelib.model import Tag

NO_SUCH_COMMAND = "Sequence contains no matching element"  # .Single() on the name throws


class FakeError(Exception):
    """An error answer (``status`` with the JSON ``body``), raised anywhere in a handler."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


def message(status: int, text: str) -> FakeError:
    """The ``{"message": text}`` error answer with ``status``."""
    return FakeError(status, {"message": text})


def valid_id(value: Any) -> int:
    """A route or body id; anything but a positive integer answers 400 "<id> is not a valid ID"."""
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise message(400, f"{value} is not a valid ID")
    return value


def iso(moment: dt.datetime) -> str:
    """An aware datetime as the *arrs write it (``2024-01-01T00:00:00Z``)."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def compact(doc: dict[str, Any]) -> dict[str, Any]:
    """Drop null-valued keys: the *arrs leave them out (``WhenWritingNull``)."""
    return {key: value for key, value in doc.items() if value is not None}


def query_values(request: Request, name: str) -> list[str]:
    """Every value of a query parameter; ASP.NET and Nancy match the key ignoring case."""
    return [v for k, v in request.query_params.multi_items() if k.lower() == name.lower()]


def location(request: Request, resource: str) -> dict[str, str]:
    """The ``Location`` header of a created ``resource`` (``"tag/5"``) below the URL base."""
    return {"Location": f"{request.scope.get('root_path', '')}/api/v3/{resource}"}


# --- FluentValidation ----------------------------------------------------------------------


def validation_failure(
    prop: str, text: str, attempted: Any, code: str, *, placeholders: bool
) -> dict[str, Any]:
    """One failure of a 400 array; Sonarr also sends ``formattedMessagePlaceholderValues``."""
    failure = {
        "propertyName": prop,
        "errorMessage": text,
        "attemptedValue": attempted,
        "severity": "error",
        "errorCode": code,
    }
    if placeholders:
        values = {"PropertyName": prop, "PropertyValue": attempted}
        failure["formattedMessagePlaceholderValues"] = compact(values)
    return compact(failure)


def not_empty(prop: str, value: Any, *, placeholders: bool) -> dict[str, Any]:
    """The ``NotEmptyValidator`` failure of ``prop``."""
    text = f"'{prop}' must not be empty."
    return validation_failure(prop, text, value, "NotEmptyValidator", placeholders=placeholders)


def unknown_quality_profile(value: Any, *, placeholders: bool) -> dict[str, Any]:
    """The ``QualityProfileExistsValidator`` failure of a full resource."""
    return validation_failure(
        "QualityProfileId",
        "Quality Profile does not exist",
        value,
        "QualityProfileExistsValidator",
        placeholders=placeholders,
    )


# --- tags ----------------------------------------------------------------------------------


def tag_resource(tag: Tag) -> dict[str, Any]:
    """A ``TagResource``."""
    return {"id": tag.id, "label": tag.label}


def tag_list(tags: Mapping[int, Tag]) -> list[dict[str, Any]]:
    """``GET tag``: every tag, sorted by label."""
    return [tag_resource(t) for t in sorted(tags.values(), key=lambda t: t.label)]


def create_tag(tags: dict[int, Tag], label: Any, *, placeholders: bool, trim: bool) -> Tag:
    """``POST tag``: 400 for an empty label; an existing label (any case) returns that tag."""
    if not isinstance(label, str) or not label.strip():
        raise FakeError(400, [not_empty("Label", label, placeholders=placeholders)])
    wanted = (label.strip() if trim else label).lower()  # Sonarr's fake trims, Radarr's does not
    tag = next((t for t in tags.values() if t.label.lower() == wanted), None)
    if tag is None:
        tag = Tag(max(tags, default=0) + 1, wanted)
        tags[tag.id] = tag
    return tag


# --- commands ------------------------------------------------------------------------------


@dataclass
class Command:
    """One command a fake accepted; it completes the first time it is polled."""

    id: int
    name: str  # the class name minus "Command", e.g. "RescanSeries"
    label: str  # the ``commandName``, e.g. "Rescan Series"
    params: dict[str, Any]  # the command's own fields (``seriesId``...), echoed in ``body``
    queued: dt.datetime
    status: str = "queued"
    ended: dt.datetime | None = None


class CommandQueue:
    """``POST command`` and ``GET command/{id}`` as ``CommandQueueManager`` keeps them."""

    def __init__(
        self,
        names: Mapping[str, tuple[str, str]],
        params: Callable[[str, dict[str, Any]], dict[str, Any]],
        *,
        clock: Callable[[], dt.datetime],
        finish: Callable[[Command], dt.datetime],
        unknown: Mapping[str, str] | None = None,
    ) -> None:
        self.names = names  # lower-cased name -> (name, commandName)
        self.params = params  # the command's own fields from the body; raises FakeError
        self.clock = clock
        self.finish = finish  # when a command polled for the first time ended
        self.unknown = dict(unknown or {"message": NO_SUCH_COMMAND})
        self.items: dict[int, Command] = {}

    def push(self, body: dict[str, Any]) -> tuple[Command, bool]:
        """Queue the command ``body`` names; an equal one still queued is returned (``False``)."""
        name = body.get("name")
        known = self.names.get(name.lower()) if isinstance(name, str) else None
        if known is None:
            raise FakeError(500, self.unknown)
        params = self.params(known[0], body)
        for command in self.items.values():
            if command.status == "queued" and command.name == known[0] and command.params == params:
                return command, False
        command = Command(len(self.items) + 1, known[0], known[1], params, self.clock())
        self.items[command.id] = command
        return command, True

    def poll(self, command_id: int) -> Command | None:
        """``GET command/{id}``: a queued command has run by the time it is polled."""
        command = self.items.get(command_id)
        if command is not None and command.status == "queued":
            command.status, command.ended = "completed", self.finish(command)
        return command

    def all(self) -> list[Command]:
        """Every command, oldest first."""
        return list(self.items.values())
