"""The Tautulli adapter: Plex users, watch history, metadata and libraries as plain records.

Tautulli answers ``{"response": {"result", "message", "data"}}``, with HTTP 400 for every error
and numbers that are sometimes strings. Everything here follows
``../shared/contracts/tautulli-api.md`` (checked against a real Tautulli v2.17.2). An upstream
that did not answer, or answered "I don't know" (``get_metadata`` → ``{}``), is never turned into
"absent" or "unwatched": it is ``None`` or an ``IntegrationError``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import structlog

from cullarrd.errors import IntegrationError
from cullarrd.types import (
    HealthRecord,
    HistoryRecord,
    LibraryItemRecord,
    LibraryRecord,
    PlexMetadata,
    PlexUserRecord,
)
from cullarrd_plugins.tautulli.parsing import (
    parse_float,
    parse_int,
    rating_key_text,
    text_or_none,
)

log = structlog.get_logger(__name__)

API_PATH = "api/v2"
WATCHED_MEDIA_TYPES = frozenset({"movie", "episode"})
DEFAULT_PAGE_SIZE = 1000
_MISSING = object()


class TautulliAdapter:
    """Watch-role adapter for one Tautulli integration (Tautulli >= 2.12)."""

    ROLE = "watch"
    MIN_READ_VERSION = "2.12"
    MIN_DELETE_VERSION = None

    def __init__(self, integration: Any, http: Any, settings: Any) -> None:
        self.integration = integration
        self.http = http
        self.settings = settings
        self.name = getattr(integration, "name", "tautulli")
        self.page_size = int(getattr(integration, "page_size", None) or DEFAULT_PAGE_SIZE)
        api_key = getattr(integration, "api_key", None)
        self._key = api_key.reveal() if hasattr(api_key, "reveal") else None
        http.use_query_auth("apikey")

    # --- the envelope ------------------------------------------------------------------------

    async def _call(self, cmd: str, **params: Any) -> Any:
        """One API command; returns ``response.data`` or raises a classified IntegrationError."""
        query = {"cmd": cmd, **{k: v for k, v in params.items() if v is not None}}
        answer = await self.http.request("GET", API_PATH, params=query, ok_statuses=(400,))
        response = answer.data.get("response") if isinstance(answer.data, dict) else None
        if not isinstance(response, dict) or "result" not in response:
            raise self._mismatch(f"{cmd} answered without the response envelope", answer.status)
        message = response.get("message")
        if answer.status == 400 or response.get("result") != "success":
            text = str(message) if message else "no message"
            if "apikey" in text.lower() or "api key" in text.lower():
                raise self._error(
                    f"{cmd} refused the API key: {text}",
                    "integration_auth_failed",
                    answer.status,
                    cmd=cmd,
                    upstream_message=text,
                )
            raise self._mismatch(
                f"{cmd} failed: {text}", answer.status, cmd=cmd, upstream_message=text
            )
        if "data" not in response:
            raise self._mismatch(f"{cmd} answered without data", answer.status, cmd=cmd)
        return response["data"]

    def _error(
        self, message: str, code: str, status: int | None, **details: Any
    ) -> IntegrationError:
        merged = {"integration": self.name, **details}
        return IntegrationError(
            self._redact(f"{self.name}: {message}"),
            code=code,
            status=status,
            details={k: self._redact(v) if isinstance(v, str) else v for k, v in merged.items()},
        )

    def _mismatch(
        self, message: str, status: int | None = None, **details: Any
    ) -> IntegrationError:
        return self._error(message, "integration_contract_mismatch", status, **details)

    def _redact(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text

    def _expect(self, value: Any, kind: type, cmd: str, what: str = "data") -> Any:
        if not isinstance(value, kind):
            raise self._mismatch(
                f"{cmd} answered {what} of type {type(value).__name__}, expected {kind.__name__}",
                cmd=cmd,
            )
        return value

    # --- health and users --------------------------------------------------------------------

    async def check_health(self) -> HealthRecord:
        """Ask ``get_tautulli_info``; the version keeps its ``v`` (the core strips it)."""
        data = self._expect(await self._call("get_tautulli_info"), dict, "get_tautulli_info")
        version = data.get("tautulli_version")
        if not isinstance(version, str) or not version.strip():
            raise self._mismatch(
                "get_tautulli_info has no tautulli_version", cmd="get_tautulli_info"
            )
        details = {
            key: data.get(f"tautulli_{key}")
            for key in ("branch", "install_type", "platform", "python_version")
            if data.get(f"tautulli_{key}") is not None
        }
        return HealthRecord(
            app_name="Tautulli",
            version=version.strip(),
            min_read_version=self.MIN_READ_VERSION,
            min_delete_version=self.MIN_DELETE_VERSION,
            details=details,
        )

    async def iter_users(self) -> AsyncIterator[PlexUserRecord]:
        """Every non-deleted Plex user Tautulli knows (incl. user 0 "Local"); [] is valid."""
        rows = self._expect(await self._call("get_users"), list, "get_users")
        for row in rows:
            row = self._expect(row, dict, "get_users", "a user")
            yield PlexUserRecord(
                user_id=self._required_int(row, "user_id", "get_users"),
                username=text_or_none(row.get("username")),
                friendly_name=text_or_none(row.get("friendly_name")),
                email=text_or_none(row.get("email")),
                is_active=self._flag(row, "is_active", True, "get_users"),
                is_admin=self._flag(row, "is_admin", False, "get_users"),
            )

    # --- history -----------------------------------------------------------------------------

    async def iter_history(
        self, since_id: int | None = None, *, page_size: int | None = None
    ) -> AsyncIterator[list[HistoryRecord]]:
        """Pages of history, newest first; stops after the page that reaches ``since_id``."""
        length = self._length(page_size)
        start = 0
        while True:
            data = await self._call(
                "get_history",
                order_column="date",
                order_dir="desc",
                grouping=0,
                include_activity=0,
                start=start,
                length=length,
            )
            rows, filtered = self._table(data, "get_history")
            if not rows:
                return
            records: list[HistoryRecord] = []
            reached = False
            for row in rows:
                row = self._expect(row, dict, "get_history", "a history row")
                history_id = self._history_id(row)
                if since_id is not None and history_id <= since_id:
                    reached = True
                record = self._history_record(row, history_id)
                if record is not None:
                    records.append(record)
            yield records
            start += len(rows)
            if reached or (filtered is not None and start >= filtered):
                return

    def _history_id(self, row: dict) -> int:
        key = "row_id" if row.get("row_id") is not None else "id"
        if row.get(key) is None:
            raise self._mismatch("get_history row has no row_id", cmd="get_history", field="row_id")
        return self._required_int(row, key, "get_history")

    def _history_record(self, row: dict, history_id: int) -> HistoryRecord | None:
        """Map one row; None for media types other than movie/episode."""
        cmd = "get_history"
        media_type = row.get("media_type")
        if not isinstance(media_type, str) or not media_type:
            raise self._mismatch(
                f"get_history row {history_id} has no media_type", cmd=cmd, field="media_type"
            )
        user_id = self._required_int(row, "user_id", cmd)
        if media_type not in WATCHED_MEDIA_TYPES:
            return None
        duration_key = "play_duration" if row.get("play_duration") is not None else "duration"
        return HistoryRecord(
            history_id=history_id,
            user_id=user_id,
            media_type=media_type,
            rating_key=rating_key_text(row.get("rating_key")),
            parent_rating_key=rating_key_text(row.get("parent_rating_key")),
            grandparent_rating_key=rating_key_text(row.get("grandparent_rating_key")),
            season_number=self._int(row, "parent_media_index", cmd),
            episode_number=self._int(row, "media_index", cmd),
            title=text_or_none(row.get("title")),
            grandparent_title=text_or_none(row.get("grandparent_title")),
            year=self._int(row, "year", cmd),
            guid=text_or_none(row.get("guid")),
            started_at=self._epoch(row, "started", cmd),
            stopped_at=self._epoch(row, "stopped", cmd),
            play_duration_s=self._required_int(row, duration_key, cmd, name="play_duration"),
            percent_complete=self._required_int(row, "percent_complete", cmd),
            watched_status=self._required_float(row, "watched_status", cmd),
        )

    # --- metadata ----------------------------------------------------------------------------

    async def get_metadata(self, rating_key: str | int) -> PlexMetadata | None:
        """One item's Plex metadata; None when Tautulli answered ``{}`` (Plex down or unknown)."""
        cmd = "get_metadata"
        data = await self._call(cmd, rating_key=str(rating_key))
        if data is None or data == {} or data == []:
            return None
        data = self._expect(data, dict, cmd)
        media_type = data.get("media_type")
        if not isinstance(media_type, str) or not media_type:
            raise self._mismatch("get_metadata has no media_type", cmd=cmd, field="media_type")
        own_key = rating_key_text(data.get("rating_key"))
        if own_key is None:
            raise self._mismatch("get_metadata has no rating_key", cmd=cmd, field="rating_key")
        return PlexMetadata(
            rating_key=own_key,
            media_type=media_type,
            title=text_or_none(data.get("title")),
            year=self._int(data, "year", cmd),
            section_id=self._int(data, "section_id", cmd),
            parent_rating_key=rating_key_text(data.get("parent_rating_key")),
            grandparent_rating_key=rating_key_text(data.get("grandparent_rating_key")),
            media_index=self._int(data, "media_index", cmd),
            parent_media_index=self._int(data, "parent_media_index", cmd),
            grandparent_title=text_or_none(data.get("grandparent_title")),
            guid=text_or_none(data.get("guid")),
            guids=self._guids(data, "guids"),
            parent_guids=self._guids(data, "parent_guids"),
            grandparent_guids=self._guids(data, "grandparent_guids"),
            duration_ms=self._int(data, "duration", cmd),
            files=self._files(data),
        )

    def _guids(self, data: dict, field: str) -> tuple[str, ...]:
        value = data.get(field)
        if value in (None, ""):
            return ()
        value = self._expect(value, list, "get_metadata", field)
        return tuple(str(g) for g in value if isinstance(g, str) and g)

    def _files(self, data: dict) -> tuple[str, ...]:
        media_info = data.get("media_info") or []
        media_info = self._expect(media_info, list, "get_metadata", "media_info")
        files: list[str] = []
        for media in media_info:
            if not isinstance(media, dict):
                raise self._mismatch(
                    "get_metadata media_info holds a non-object", cmd="get_metadata"
                )
            for part in media.get("parts") or []:
                path = part.get("file") if isinstance(part, dict) else None
                if isinstance(path, str) and path and path not in files:
                    files.append(path)
        return tuple(files)

    # --- libraries ---------------------------------------------------------------------------

    async def iter_libraries(self) -> AsyncIterator[LibraryRecord]:
        """Library sections from Tautulli's database (``get_library_names`` works without Plex)."""
        cmd = "get_library_names"
        rows = self._expect(await self._call(cmd), list, cmd)
        for row in rows:
            row = self._expect(row, dict, cmd, "a library")
            section_type = row.get("section_type")
            if not isinstance(section_type, str) or not section_type:
                raise self._mismatch(
                    f"{cmd} row has no section_type", cmd=cmd, field="section_type"
                )
            yield LibraryRecord(
                section_id=self._required_int(row, "section_id", cmd),
                name=text_or_none(row.get("section_name")) or "",
                section_type=section_type,
                count=self._int(row, "count", cmd),
            )

    async def iter_library_items(
        self, section_id: int, *, page_size: int | None = None
    ) -> AsyncIterator[list[LibraryItemRecord]]:
        """Pages of one section's items (``get_library_media_info``, from Tautulli's cache)."""
        cmd = "get_library_media_info"
        length = self._length(page_size)
        start = 0
        while True:
            data = await self._call(
                cmd,
                section_id=int(section_id),
                order_column="sort_title",
                order_dir="asc",
                start=start,
                length=length,
            )
            rows, filtered = self._table(data, cmd)
            if start == 0 and not rows and data.get("draw") == 0:
                # Tautulli's "nothing to say" answer: no cache and Plex unreachable, or an empty
                # library. It cannot tell which, so the caller gets no items, never "removed".
                log.warning("tautulli.library_items_unavailable", section_id=section_id)
            if not rows:
                return
            yield [self._library_item(row, int(section_id)) for row in rows]
            start += len(rows)
            if filtered is not None and start >= filtered:
                return

    def _library_item(self, row: Any, section_id: int) -> LibraryItemRecord:
        cmd = "get_library_media_info"
        row = self._expect(row, dict, cmd, "a library item")
        rating_key = rating_key_text(row.get("rating_key"))
        if rating_key is None:
            raise self._mismatch(f"{cmd} row has no rating_key", cmd=cmd, field="rating_key")
        media_type = row.get("media_type")
        if not isinstance(media_type, str) or not media_type:
            raise self._mismatch(f"{cmd} row has no media_type", cmd=cmd, field="media_type")
        own_section = self._int(row, "section_id", cmd)
        return LibraryItemRecord(
            rating_key=rating_key,
            media_type=media_type,
            title=text_or_none(row.get("title")),
            year=self._int(row, "year", cmd),
            section_id=own_section if own_section is not None else section_id,
            parent_rating_key=rating_key_text(row.get("parent_rating_key")),
            grandparent_rating_key=rating_key_text(row.get("grandparent_rating_key")),
            media_index=self._int(row, "media_index", cmd),
            parent_media_index=self._int(row, "parent_media_index", cmd),
            file_size=self._int(row, "file_size", cmd),
        )

    # --- parsing helpers ---------------------------------------------------------------------

    def _length(self, page_size: int | None) -> int:
        length = int(page_size or self.page_size)
        if length <= 0:  # Tautulli's length=-1 silently drops a row: never send it
            raise ValueError("page_size must be positive")
        return length

    def _table(self, data: Any, cmd: str) -> tuple[list, int | None]:
        """``(rows, recordsFiltered)`` of a DataTables-style answer."""
        data = self._expect(data, dict, cmd)
        rows = data.get("data", _MISSING)
        if rows is _MISSING:
            raise self._mismatch(f"{cmd} answered without data.data", cmd=cmd, field="data")
        rows = self._expect(rows, list, cmd, "data.data")
        return rows, self._int(data, "recordsFiltered", cmd)

    def _int(self, row: dict, field: str, cmd: str) -> int | None:
        value = row.get(field)
        try:
            return parse_int(value)
        except ValueError:
            raise self._mismatch(
                f"{cmd} field {field} is not a number: {value!r}"[:200], cmd=cmd, field=field
            ) from None

    def _required_int(self, row: dict, field: str, cmd: str, *, name: str | None = None) -> int:
        value = self._int(row, field, cmd)
        if value is None:
            name = name or field
            raise self._mismatch(f"{cmd} row has no {name}", cmd=cmd, field=name)
        return value

    def _required_float(self, row: dict, field: str, cmd: str) -> float:
        value = row.get(field)
        try:
            number = parse_float(value)
        except ValueError:
            raise self._mismatch(
                f"{cmd} field {field} is not a number: {value!r}"[:200], cmd=cmd, field=field
            ) from None
        if number is None:
            raise self._mismatch(f"{cmd} row has no {field}", cmd=cmd, field=field)
        return number

    def _flag(self, row: dict, field: str, default: bool, cmd: str) -> bool:
        if isinstance(row.get(field), bool):
            return row[field]
        value = self._int(row, field, cmd)
        return default if value is None else bool(value)

    def _epoch(self, row: dict, field: str, cmd: str) -> dt.datetime | None:
        value = self._int(row, field, cmd)
        if not value:
            return None
        return dt.datetime.fromtimestamp(value, dt.UTC)
