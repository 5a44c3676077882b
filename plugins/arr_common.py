"""Defensive field readers shared by the Sonarr and Radarr adapters.

Sonarr and Radarr leave null fields out, so a missing optional key reads as ``None``. A missing
required key, a value of the wrong JSON type or a document of the wrong shape raises
``IntegrationError(code="integration_contract_mismatch")`` naming the field, never a
``KeyError``/``TypeError``. ``where`` says which document is read (``"movie 12"``,
``"GET api/v3/movie"``) so the message points at the culprit.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from cullarrd.errors import IntegrationError

MISMATCH = "integration_contract_mismatch"
_TYPE_NAMES = {int: "an integer", str: "a string", bool: "a boolean", dict: "an object"}


def mismatch(where: str, problem: str) -> IntegrationError:
    """The error for an upstream document that does not match the contract."""
    return IntegrationError(f"{where}: {problem}", code=MISMATCH, details={"where": where})


def _typed(value: Any, kind: type, where: str, key: str) -> Any:
    # JSON true/false are Python ints too; an id that arrives as a boolean is still wrong.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise mismatch(where, f"field {key!r} is not {_TYPE_NAMES[kind]} ({value!r:.60})")
    return value


def _required(doc: dict[str, Any], key: str, where: str) -> Any:
    value = doc.get(key)
    if value is None:
        raise mismatch(where, f"required field {key!r} is missing")
    return value


def req_int(doc: dict[str, Any], key: str, where: str) -> int:
    """A required integer field."""
    return _typed(_required(doc, key, where), int, where, key)


def opt_int(doc: dict[str, Any], key: str, where: str) -> int | None:
    """An optional integer field (absent or null: ``None``)."""
    value = doc.get(key)
    return None if value is None else _typed(value, int, where, key)


def req_str(doc: dict[str, Any], key: str, where: str) -> str:
    """A required string field."""
    return _typed(_required(doc, key, where), str, where, key)


def opt_str(doc: dict[str, Any], key: str, where: str) -> str | None:
    """An optional string field (absent or null: ``None``)."""
    value = doc.get(key)
    return None if value is None else _typed(value, str, where, key)


def req_bool(doc: dict[str, Any], key: str, where: str) -> bool:
    """A required boolean field."""
    return _typed(_required(doc, key, where), bool, where, key)


def opt_bool(doc: dict[str, Any], key: str, where: str) -> bool | None:
    """An optional boolean field (absent or null: ``None``)."""
    value = doc.get(key)
    return None if value is None else _typed(value, bool, where, key)


def opt_dict(doc: dict[str, Any], key: str, where: str) -> dict[str, Any] | None:
    """An optional nested object (absent or null: ``None``)."""
    value = doc.get(key)
    return None if value is None else _typed(value, dict, where, key)


def int_list(doc: dict[str, Any], key: str, where: str) -> tuple[int, ...]:
    """An optional list of integers (e.g. tag ids); absent reads as empty."""
    value = doc.get(key)
    if value is None:
        return ()
    if not isinstance(value, list):
        raise mismatch(where, f"field {key!r} is not a list")
    return tuple(_typed(item, int, where, f"{key}[]") for item in value)


def opt_datetime(doc: dict[str, Any], key: str, where: str) -> dt.datetime | None:
    """An optional ISO-8601 date-time as an aware UTC datetime (``0001-01-01`` reads as None)."""
    value = opt_str(doc, key, where)
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        problem = f"field {key!r} is not an ISO-8601 date-time ({value!r:.60})"
        raise mismatch(where, problem) from None
    if parsed.year == 1:  # .NET's DateTime.MinValue: the *arrs' way of saying "never"
        return None
    if parsed.tzinfo is None:  # the *arrs write UTC; a bare time is still UTC
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def as_object(data: Any, where: str) -> dict[str, Any]:
    """A document that must be one JSON object."""
    if not isinstance(data, dict):
        raise mismatch(where, f"expected a JSON object, got {_json_type(data)}")
    return data


def as_object_list(data: Any, where: str) -> list[dict[str, Any]]:
    """A document that must be a JSON array of objects."""
    if not isinstance(data, list):
        raise mismatch(where, f"expected a JSON array, got {_json_type(data)}")
    for index, item in enumerate(data):
        if not isinstance(item, dict):
            raise mismatch(where, f"item {index} is {_json_type(item)}, not an object")
    return data


def quality_name(doc: dict[str, Any], where: str) -> str | None:
    """The quality name of a file (``quality.quality.name``), ``None`` when absent."""
    model = opt_dict(doc, "quality", where)
    inner = opt_dict(model, "quality", where) if model else None
    return opt_str(inner, "name", where) if inner else None


def version_major(version: str) -> int | None:
    """The major number of a version string (``"5.28.0.10274"`` → 5, ``"v2.17"`` → 2)."""
    head = version.strip().lstrip("vV").split(".", 1)[0]
    return int(head) if head.isdigit() else None


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    return "a number"
