"""What the Sonarr and Radarr adapters share: defensive field readers and the ``ArrAdapter`` base.

Sonarr and Radarr leave null fields out, so a missing optional key reads as ``None``. A missing
required key, a value of the wrong JSON type or a document of the wrong shape raises
``IntegrationError(code="integration_contract_mismatch")`` naming the field, never a
``KeyError``/``TypeError``. ``where`` says which document is read (``"movie 12"``,
``"GET api/v3/movie"``) so the message points at the culprit. ``ArrAdapter`` holds the calls both
make alike (``system/status``, tag find-or-create, a delete whose 404 means "gone", id checks);
each adapter supplies its paths, parsers and its own wording of the errors.
"""

from __future__ import annotations

import abc
import datetime as dt
from typing import Any

from cullarrd.errors import IntegrationError
from cullarrd.types import HealthRecord, TagRecord

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


def parse_tag(doc: dict[str, Any], where: str) -> TagRecord:
    """One ``TagResource``."""
    return TagRecord(arr_tag_id=req_int(doc, "id", where), label=req_str(doc, "label", where))


def upstream_message(data: Any) -> str:
    """The ``message`` of an *arr error body, or "no message"."""
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        return data["message"]
    return "no message"


class ArrAdapter(abc.ABC):
    """The calls the Sonarr and Radarr adapters make alike; subclasses word their own errors."""

    role = "inventory"
    MIN_READ_VERSION = ""
    MIN_DELETE_VERSION = ""
    TAG_POST_IDEMPOTENT: bool | None = None  # None: the HTTP client's default for a POST
    TAG_MISMATCH = "created tag {got!r} instead of {wanted!r}"

    def __init__(self, integration: Any, http: Any, settings: Any) -> None:
        self.integration = integration
        self.http = http
        self.settings = settings

    def _where(self, what: str) -> str:
        return f"{self.integration.name}: {what}"

    @staticmethod
    def _item(where: str, doc: dict[str, Any], index: int) -> str:
        ident = doc.get("id")
        return f"{where} item {index}" + (f" (id {ident})" if isinstance(ident, int) else "")

    # --- health -------------------------------------------------------------------------

    async def _system_status(self) -> tuple[dict[str, Any], str]:
        """``GET system/status`` (one object) and the ``where`` naming it."""
        where = self._where("GET api/v3/system/status")
        return as_object(await self.http.get_json("api/v3/system/status"), where), where

    def _health(self, app_name: str, version: str, details: dict[str, Any]) -> HealthRecord:
        """The health record; the core applies the version policy to it."""
        return HealthRecord(
            app_name=app_name,
            version=version,
            min_read_version=self.MIN_READ_VERSION,
            min_delete_version=self.MIN_DELETE_VERSION,
            details=details,
        )

    # --- ids ----------------------------------------------------------------------------

    def _positive_id(self, value: Any, what: str) -> int:
        """An id about to go into a URL or body: a positive int, never a bool or a string."""
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise self._bad_id(value, what)
        return value

    @abc.abstractmethod
    def _bad_id(self, value: Any, what: str) -> Exception:
        """The error for an id that is not a positive integer."""

    # --- tags ---------------------------------------------------------------------------

    async def _tag_labelled(self, wanted: str) -> TagRecord:
        """The tag labelled ``wanted`` (lower-case; compared ignoring case), created if missing."""
        where = self._where("GET api/v3/tag")
        for i, doc in enumerate(as_object_list(await self.http.get_json("api/v3/tag"), where)):
            tag = parse_tag(doc, self._tag_where(where, doc, i))
            if tag.label.lower() == wanted:
                return tag
        where = self._where("POST api/v3/tag")
        answer = await self.http.request(
            "POST", "api/v3/tag", json_body={"label": wanted}, idempotent=self.TAG_POST_IDEMPOTENT
        )
        tag = parse_tag(as_object(answer.data, where), where)
        if tag.label.lower() != wanted:
            raise mismatch(where, self.TAG_MISMATCH.format(got=tag.label, wanted=wanted))
        return tag

    def _tag_where(self, where: str, doc: dict[str, Any], index: int) -> str:
        return self._item(where, doc, index)

    # --- deletes ------------------------------------------------------------------------

    async def _delete(self, file_id: int, path: str) -> bool:
        """DELETE one file: True when deleted now, False when the app's own 404 says it is gone."""
        answer = await self.http.request("DELETE", path, ok_statuses=(404, 409))
        if answer.status == 404:
            self._check_not_found(answer, f"DELETE {path}")
            return False
        if answer.status == 409:
            raise self._delete_refused(answer, file_id, path)
        return True

    def _check_not_found(self, answer: Any, what: str) -> None:
        """The app's 404 is a ``{"message"}`` object; any other 404 means "gone" is unknown."""
        # A proxy's page or an empty routing miss means the URL does not reach the app at all.
        if not isinstance(answer.data, dict) or "message" not in answer.data:
            raise self._foreign_not_found(answer, what)

    @abc.abstractmethod
    def _foreign_not_found(self, answer: Any, what: str) -> IntegrationError:
        """The error for a 404 without the app's own body (a proxy, a wrong URL base)."""

    @abc.abstractmethod
    def _delete_refused(self, answer: Any, file_id: int, path: str) -> IntegrationError:
        """The error for a 409: the app refused to delete the file."""
