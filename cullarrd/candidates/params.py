"""The inputs of a candidate query and of a saved view, validated in one place (SPEC §6.1, §6.4).

``parse_query`` turns command arguments (plus a saved view's stored filters, which explicit
arguments override) into a ``CandidateQuery``; ``validate_view`` checks what a saved view may
store. Both report every bad field at once as ``{field: [messages]}``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from cullarrd.errors import ValidationFailed

SCOPES = ("movie", "tv_episode", "tv_season", "tv_show")
MATCH_MODES = ("all", "any", "none")
# Each sort and the direction it takes unless ``order`` says otherwise: biggest first, and the
# longest-unwatched / oldest / alphabetical first.
SORTS = {"reclaimable_bytes": "desc", "last_watched_at": "asc", "added_at": "asc", "title": "asc"}
ORDERS = ("asc", "desc")
DEFAULT_LIMIT, MAX_LIMIT = 50, 200
# What a saved view stores besides its name and scope (SPEC §6.4).
VIEW_FILTER_KEYS = ("plex_user_ids", "watched_match_mode", "include_blocked", "sort", "order")
QUERY_KEYS = {
    "scope", "plex_user_ids", "users", "watched_match_mode", "include_blocked", "sort", "order",
    "limit", "cursor", "saved_view_id", "saved_view",
}  # fmt: skip
CURSOR_VERSION = 1


@dataclass(frozen=True)
class CandidateQuery:
    """One validated candidate query. ``plex_user_ids`` are store ids; empty = all non-hidden."""

    scope: str
    plex_user_ids: tuple[int, ...] = ()
    watched_match_mode: str = "all"
    include_blocked: bool = False
    sort: str = "reclaimable_bytes"
    order: str = "desc"
    limit: int = DEFAULT_LIMIT
    cursor: tuple[Any, int] | None = None  # decoded (sort key, row id) to continue after
    saved_view_id: int | None = None
    # Deletion planning re-evaluates named rows only (ids of the scope's own table).
    target_ids: tuple[int, ...] | None = None

    def filters(self) -> dict[str, Any]:
        """The effective filters, as the response echoes them."""
        return {
            "plex_user_ids": list(self.plex_user_ids),
            "watched_match_mode": self.watched_match_mode,
            "include_blocked": self.include_blocked,
            "sort": self.sort,
            "order": self.order,
            "limit": self.limit,
            "saved_view_id": self.saved_view_id,
        }

    def fingerprint(self) -> str:
        """What a cursor is bound to: the same scope, filters and sort (not the limit)."""
        basis = {k: v for k, v in self.filters().items() if k not in ("limit", "saved_view_id")}
        basis["scope"] = self.scope
        text = json.dumps(basis, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


class Fields:
    """Collects per-field errors while reading values."""

    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}

    def fail(self, key: str, message: str) -> None:
        self.errors.setdefault(key, []).append(message)

    def choice(self, key: str, value: Any, choices: tuple[str, ...] | Mapping[str, Any]) -> Any:
        if value is None or (isinstance(value, str) and value in choices):
            return value
        self.fail(key, f"must be one of: {', '.join(choices)}")
        return None

    def boolean(self, key: str, value: Any) -> Any:
        if value is None or isinstance(value, bool):
            return value
        self.fail(key, "must be true or false")
        return None

    def user_ids(self, key: str, value: Any) -> tuple[int, ...] | None:
        if value is None:
            return None
        if not isinstance(value, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) and 0 < v < 2**63 for v in value
        ):
            self.fail(key, "must be a list of positive integer user ids")
            return None
        return tuple(sorted(set(value)))

    def limit(self, key: str, value: Any) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_LIMIT:
            self.fail(key, f"must be an integer from 1 to {MAX_LIMIT}")
            return None
        return value


def validate_view(scope: Any, filters: Any) -> dict[str, list[str]]:
    """Problems with a saved view's scope and filters (empty when it may be stored)."""
    fields = Fields()
    if scope not in SCOPES:
        fields.fail("scope", f"must be one of: {', '.join(SCOPES)}")
    if not isinstance(filters, dict):
        fields.fail("filters", "must be an object")
        return fields.errors
    for key in filters:
        if key not in VIEW_FILTER_KEYS:
            fields.fail(f"filters.{key}", f"unknown filter; known: {', '.join(VIEW_FILTER_KEYS)}")
    fields.user_ids("filters.plex_user_ids", filters.get("plex_user_ids"))
    fields.choice("filters.watched_match_mode", filters.get("watched_match_mode"), MATCH_MODES)
    fields.boolean("filters.include_blocked", filters.get("include_blocked"))
    fields.choice("filters.sort", filters.get("sort"), SORTS)
    fields.choice("filters.order", filters.get("order"), ORDERS)
    return fields.errors


def parse_query(
    args: Mapping[str, Any],
    view: Mapping[str, Any] | None = None,
    *,
    resolved_users: tuple[int, ...] | None = None,
    errors: Mapping[str, list[str]] | None = None,
) -> CandidateQuery:
    """Validate ``args`` over ``view`` (``{id, scope, filters}``); raise with every bad field.

    ``resolved_users`` are the store ids the caller resolved from ``users`` (names or Tautulli
    ids), and ``errors`` problems found while resolving them or the view.
    """
    fields = Fields()
    for key, messages in (errors or {}).items():
        for message in messages:
            fields.fail(key, message)
    for key in args:
        if key not in QUERY_KEYS:
            fields.fail(key, "unknown argument")
    stored = dict((view or {}).get("filters") or {})
    explicit = {k: v for k, v in args.items() if v is not None}

    def pick(key: str) -> Any:
        return explicit.get(key, stored.get(key))

    scope = explicit.get("scope", (view or {}).get("scope"))
    if scope is None:
        fields.fail("scope", "is required (or give a saved view)")
    else:
        scope = fields.choice("scope", scope, SCOPES)
    users = fields.user_ids("plex_user_ids", explicit.get("plex_user_ids"))
    if users is not None and resolved_users is not None:
        fields.fail("users", "give either users or plex_user_ids, not both")
    if users is None:
        users = resolved_users
    if users is None:
        users = fields.user_ids("plex_user_ids", stored.get("plex_user_ids"))
    mode = fields.choice("watched_match_mode", pick("watched_match_mode"), MATCH_MODES)
    include_blocked = fields.boolean("include_blocked", pick("include_blocked"))
    sort = fields.choice("sort", pick("sort"), SORTS) or "reclaimable_bytes"
    order = fields.choice("order", pick("order"), ORDERS) or SORTS[sort]
    limit = fields.limit("limit", explicit.get("limit"))
    query = CandidateQuery(
        scope=scope or "movie",
        plex_user_ids=users or (),
        watched_match_mode=mode or "all",
        include_blocked=bool(include_blocked),
        sort=sort,
        order=order,
        limit=limit or DEFAULT_LIMIT,
        saved_view_id=(view or {}).get("id"),
    )
    cursor = explicit.get("cursor")
    if cursor is not None:
        decoded = decode_cursor(cursor, query.fingerprint())
        if isinstance(decoded, str):
            fields.fail("cursor", decoded)
        elif isinstance(decoded[0], str) != (query.sort == "title"):
            fields.fail("cursor", "is not a valid cursor")
        else:
            query = replace(query, cursor=decoded)
    if fields.errors:
        raise ValidationFailed(fields.errors)
    return query


def _id_like(value: Any, low: int = 1) -> bool:
    """An integer a store column can hold (never a bool)."""
    return isinstance(value, int) and not isinstance(value, bool) and low <= value < 2**63


def encode_cursor(query: CandidateQuery, sort_key: Any, row_id: int) -> str:
    """An opaque cursor continuing after ``(sort_key, row_id)`` under this query's sort."""
    body = {"v": CURSOR_VERSION, "f": query.fingerprint(), "k": sort_key, "i": row_id}
    raw = json.dumps(body, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: Any, fingerprint: str) -> tuple[Any, int] | str:
    """``(sort key, row id)``, or the message saying why ``text`` is not a cursor of this query."""
    if not isinstance(text, str) or not text:
        return "must be a cursor string from a previous page"
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        body = json.loads(raw)
    except (binascii.Error, ValueError):
        return "is not a valid cursor"
    if not isinstance(body, dict) or body.get("v") != CURSOR_VERSION:
        return "is not a valid cursor"
    key, row_id = body.get("k"), body.get("i")
    if not _id_like(row_id) or not (isinstance(key, str) or _id_like(key, low=-1)):
        return "is not a valid cursor"
    if body.get("f") != fingerprint:
        return "belongs to a query with other filters or another sort; start from the first page"
    return key, row_id
