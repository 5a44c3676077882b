"""Diffing upserts of one table's rows of one integration: the store side of the inventory.

``Rows`` holds the existing rows, loaded in one query and keyed by the upstream key. ``Rows.sync``
compares the fields the inventory owns and writes only what changed: new rows go in through
multi-row ``INSERT … RETURNING``, a changed row gets one ``UPDATE`` of just its changed columns
(and only then a new ``updated_at``), an unchanged row is not touched. The statements are written
here rather than by peewee's query builder, which costs about 100 µs a row (ten times the
database's own work on a cold sync), but values still pass through the model fields' conversions,
so both backends store exactly what the models would. Everything runs on the store's writer
thread, inside the transaction ``Store.write`` opens.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from typing import Any

from peewee import Field, JSONField

from cullarrd.store.db import dialect
from cullarrd.store.models import BaseModel
from cullarrd.sync.inventory_support import KEEP, batches

INSERT_BATCH = 500  # rows per INSERT (well under both backends' parameter limits)
ASSIGN_BATCH = 500  # rows per CASE update


def _quote(name: str) -> str:
    return f'"{name}"'


class Statements:
    """Hand-built statements for one model on the database the models are bound to."""

    def __init__(self, model: type[BaseModel]) -> None:
        self.model = model
        self.db = model._meta.database
        real = getattr(self.db, "obj", self.db)  # the proxy's bound database
        self.sqlite = dialect(real) == "sqlite"
        self.param = real.param
        self.table = _quote(model._meta.table_name)
        self._updates: dict[tuple[str, ...], str] = {}

    def _field(self, name: str) -> Field:
        return self.model._meta.fields[name]

    def _holder(self, field: Field) -> str:
        # SQLite keeps JSON as text; json() stores it minified, as peewee's own inserts do.
        return f"json({self.param})" if self.sqlite and isinstance(field, JSONField) else self.param

    def _value(self, field: Field, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(field, JSONField) and self.sqlite:
            return json.dumps(value)
        return field.db_value(value)

    def insert(
        self, names: Sequence[str], rows: Sequence[Sequence[Any]], returning: Sequence[str]
    ) -> list[tuple]:
        """Insert ``rows`` (values in ``names`` order) in one statement; the ``returning`` rows."""
        fields = [self._field(name) for name in names]
        holder = "(" + ", ".join(self._holder(field) for field in fields) + ")"
        columns = ", ".join(_quote(field.column_name) for field in fields)
        back = ", ".join(_quote(self._field(name).column_name) for name in returning)
        values = ", ".join([holder] * len(rows))
        sql = f"INSERT INTO {self.table} ({columns}) VALUES {values} RETURNING {back}"
        params = [self._value(f, v) for row in rows for f, v in zip(fields, row, strict=True)]
        return list(self.db.execute_sql(sql, params).fetchall())

    def update(self, row_id: int, changes: dict[str, Any], now: dt.datetime) -> None:
        """One row's changed columns, and ``updated_at``."""
        names = (*changes, "updated_at")
        sql = self._updates.get(names)
        if sql is None:
            fields = [self._field(name) for name in names]
            sets = ", ".join(f"{_quote(f.column_name)} = {self._holder(f)}" for f in fields)
            sql = self._updates[names] = f"UPDATE {self.table} SET {sets} WHERE id = {self.param}"
        params = [self._value(self._field(n), v) for n, v in changes.items()]
        self.db.execute_sql(sql, [*params, self._value(self._field("updated_at"), now), row_id])

    def assign(self, name: str, pairs: Sequence[tuple[int, Any]], now: dt.datetime) -> None:
        """Set one column of many rows (id, value) in one statement, and ``updated_at``."""
        field, p = self._field(name), self.param
        column = _quote(field.column_name)
        stamp = self._value(self._field("updated_at"), now)
        ids = [row_id for row_id, _ in pairs]
        where = f"WHERE id IN ({', '.join([p] * len(ids))})"
        if all(value is None for _, value in pairs):
            # A CASE of only NULLs has no type PostgreSQL could assign to the column.
            sql = f"UPDATE {self.table} SET {column} = NULL, updated_at = {p} {where}"
            self.db.execute_sql(sql, [stamp, *ids])
            return
        whens = " ".join([f"WHEN {p} THEN {self._holder(field)}"] * len(pairs))
        sql = f"UPDATE {self.table} SET {column} = CASE id {whens} END, updated_at = {p} {where}"
        params = [x for row_id, v in pairs for x in (row_id, self._value(field, v))]
        self.db.execute_sql(sql, [*params, stamp, *ids])


def _frozen(value: Any) -> Any:
    """A hashable stand-in for a JSON value (lists and objects become tuples)."""
    if isinstance(value, dict):
        return tuple(sorted((key, _frozen(item)) for key, item in value.items()))
    if isinstance(value, list):
        return tuple(_frozen(item) for item in value)
    return value


class Rows:
    """One table's rows of one integration: key → ``(id, missing_since, digest, *tracked)``.

    Only a digest of the owned values is kept per row (a cold library of 100,000 episodes
    would otherwise hold every title and path twice); ``tracked`` fields (links the writers
    read back, or set later with ``assign``) are kept as they are. A row whose digest differs
    is re-read and compared column by column before anything is written, so a digest can only
    cause an extra read, never a missed or a needless write.
    """

    def __init__(
        self,
        model: type[BaseModel],
        key_fields: tuple[str, ...],
        fields: tuple[str, ...],
        scope: dict[str, Any],
        *,
        tracked: tuple[str, ...] = (),
        json_keys: tuple[str, ...] = (),
    ) -> None:
        self.model = model
        self.key_fields = key_fields
        self.fields = fields  # every owned column, in the order of the desired tuples
        self.scope = scope  # constant columns of new rows, e.g. {"integration": 3}
        self.json_keys = json_keys  # the keys of ``metadata_json`` this phase owns
        self._slots = {name: 3 + i for i, name in enumerate(tracked)}
        self._tracked = [fields.index(name) for name in tracked]
        self._digested = [i for i, name in enumerate(fields) if name not in tracked]
        self.rows: dict[Any, tuple] = {}
        self.written = 0
        self.sql = Statements(model)

    def load(self, query_filter: Callable[[Any], Any]) -> Rows:
        """Read the existing rows once (``query_filter`` narrows the select to the integration)."""
        model = self.model
        columns = [model.id, model.missing_since]
        columns += [getattr(model, name) for name in (*self.fields, *self.key_fields)]
        width = 2 + len(self.fields)
        for row in query_filter(model.select(*columns)).tuples().iterator():
            self.rows[self._key(row[width:])] = self._entry(row[0], row[1], row[2:width])
        return self

    def _entry(self, row_id: int | None, missing: Any, values: Sequence[Any]) -> tuple:
        tracked = (None if values[i] is KEEP else values[i] for i in self._tracked)
        return (row_id, missing, self._digest(values), *tracked)

    def _digest(self, values: Sequence[Any]) -> int:
        parts = []
        for index in self._digested:
            value = values[index]
            if self.fields[index].endswith("_json"):
                document = value if isinstance(value, dict) else {}
                value = tuple(_frozen(document.get(key)) for key in self.json_keys)
            parts.append(value)
        return hash(tuple(parts))

    def _key(self, values: Sequence[Any]) -> Any:
        return values[0] if len(self.key_fields) == 1 else tuple(values)

    def id_of(self, key: Any) -> int | None:
        """The store id of the row with upstream ``key`` (None when there is none)."""
        row = self.rows.get(key)
        return None if row is None else row[0]

    def tracked(self, row: tuple, name: str) -> Any:
        """A tracked field of one entry of ``rows``."""
        return row[self._slots[name]]

    def sync(self, desired: dict[Any, tuple], now: dt.datetime) -> int:
        """Insert new keys, update changed ones (clearing ``missing_since``); rows written."""
        self._check_json_keys(desired)
        new = {key: values for key, values in desired.items() if key not in self.rows}
        suspects = [key for key, values in desired.items() if self._differs(key, values)]
        current = self._reread([self.rows[key][0] for key in suspects])
        updated = sum(
            self._update(key, desired[key], current[self.rows[key][0]], now) for key in suspects
        )
        self._insert(new, now)
        written = updated + len(new)
        self.written += written
        return written

    def _check_json_keys(self, desired: dict[Any, tuple]) -> None:
        """A JSON key the digest does not cover would make its changes invisible: refuse it."""
        sample = next(iter(desired.values()), None)
        if sample is None:
            return
        documents = [sample[i] for i in self._digested if isinstance(sample[i], dict)]
        extra = {key for document in documents for key in document} - set(self.json_keys)
        if extra:
            raise ValueError(f"{self.model.__name__}: JSON keys {sorted(extra)} are not digested")

    def _differs(self, key: Any, values: tuple) -> bool:
        row = self.rows.get(key)
        if row is None:
            return False
        if row[1] is not None or row[2] != self._digest(values):
            return True
        return any(
            values[i] is not KEEP and values[i] != row[3 + n] for n, i in enumerate(self._tracked)
        )

    def _reread(self, ids: list[int]) -> dict[int, tuple]:
        """The owned values of some rows, as stored now."""
        model = self.model
        columns = [model.id, *(getattr(model, name) for name in self.fields)]
        found: dict[int, tuple] = {}
        for batch in batches(ids, INSERT_BATCH):
            for row in model.select(*columns).where(model.id.in_(list(batch))).tuples():
                found[row[0]] = row[1:]
        return found

    def _update(self, key: Any, values: tuple, stored: tuple, now: dt.datetime) -> int:
        row = self.rows[key]
        changes: dict[str, Any] = {}
        merged = list(stored)
        for index, (name, want) in enumerate(zip(self.fields, values, strict=True)):
            have = stored[index]
            if want is KEEP:
                continue
            if name.endswith("_json") and isinstance(have, dict):
                want = {**have, **want}  # keys other phases keep in the document survive
            if want != have:
                changes[name] = merged[index] = want
        if row[1] is not None:
            changes["missing_since"] = None
        self.rows[key] = self._entry(row[0], None, merged)
        if not changes:
            return 0
        self.sql.update(row[0], changes, now)
        return 1

    def _insert(self, new: dict[Any, tuple], now: dt.datetime) -> None:
        names = (*self.scope, *self.key_fields, *self.fields, "created_at", "updated_at")
        defaults = self._defaults(names)
        names += tuple(defaults)
        returning = ("id", *self.key_fields)
        for batch in batches(list(new.items()), INSERT_BATCH):
            records = []
            for key, values in batch:
                keys = (key,) if len(self.key_fields) == 1 else key
                kept = tuple(None if value is KEEP else value for value in values)
                extra = (value() if callable(value) else value for value in defaults.values())
                records.append((*self.scope.values(), *keys, *kept, now, now, *extra))
                self.rows[key] = self._entry(None, None, kept)
            for row in self.sql.insert(names, records, returning):
                key = self._key(row[1:])
                self.rows[key] = (row[0], *self.rows[key][1:])

    def _defaults(self, names: tuple[str, ...]) -> dict[str, Any]:
        """The model defaults of the columns a new row does not set (as peewee would fill)."""
        return {
            name: field.default
            for name, field in self.model._meta.fields.items()
            if name not in names and name != "id" and field.default is not None
        }

    def assign(self, field: str, values: dict[Any, Any], now: dt.datetime) -> int:
        """Set one tracked field of existing rows where it differs, in batched statements."""
        slot = self._slots[field]
        changed = [(key, value) for key, value in values.items() if self.rows[key][slot] != value]
        for group in (
            [pair for pair in changed if pair[1] is None],
            [pair for pair in changed if pair[1] is not None],
        ):
            for batch in batches(group, ASSIGN_BATCH):
                self.sql.assign(field, [(self.rows[key][0], value) for key, value in batch], now)
        for key, value in changed:
            current = list(self.rows[key])
            current[slot] = value
            self.rows[key] = tuple(current)
        self.written += len(changed)
        return len(changed)
