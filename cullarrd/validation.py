"""Shared validation machinery: value readers and the table reader behind ``config.yaml``.

A reader is called as ``read(value, ctx, path)`` and returns the clean value or raises
``Invalid`` with a plain message that never echoes a secret. Readers that need no context are
written ``read(value, *_)`` so they also work alone, as ``read(value)`` (runtime settings use
them that way). A table maps each key to a ``Key``; ``read_table`` applies it to one mapping
and collects every problem in the ``Context`` as ``key.path: message``.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import yaml

from cullarrd.netguard import parse_ip
from cullarrd.paths import normalize_path

INVALID: Any = type("Invalid", (), {"__repr__": lambda self: "_INVALID"})()
"""Stands in for a value that failed its reader (its problem is already recorded)."""
REQUIRED: Any = type("Required", (), {"__repr__": lambda self: "_REQUIRED"})()
"""A ``Key`` default meaning the key must be given."""


class Invalid(ValueError):
    """A value failed its reader; the message is plain and never echoes a secret."""


@dataclass
class Context:
    """Collects problems while a document is read; subclass it to carry what readers need."""

    problems: list[str] = field(default_factory=list)
    base_dir: str = "."  # relative paths in the document resolve against this directory
    root: str = "config"  # how a problem at the top level names its place

    def add(self, path: str, message: str) -> None:
        self.problems.append(f"{path or self.root}: {message}")


Reader = Callable[[Any, Any, str], Any]  # (value, ctx: a Context, path) -> clean value
Builder = Callable[[dict[str, Any], Any, str], Any]  # (raw values, ctx, path) -> object


@dataclass(frozen=True)
class Key:
    read: Reader
    default: Any = REQUIRED  # REQUIRED: must be given; None: null allowed and means "unset"
    attr: str | None = None
    schema: dict[str, Key] | None = None  # nested keys, so known_keys() can list them
    many: bool = False


# --- value readers ----------------------------------------------------------------------------


def bounded(read: Reader, **bounds: Any) -> Reader:
    """``read`` with its bounds attached, for forms that describe a field (``bounds_of``)."""
    read.bounds = bounds  # type: ignore[attr-defined]
    return read


def bounds_of(read: Reader) -> dict[str, Any]:
    """What a reader built by ``integer``/``one_of``/``text`` accepts; ``{}`` for others."""
    return dict(getattr(read, "bounds", {}))


def boolean(value: Any, *_: Any) -> bool:
    if not isinstance(value, bool):
        raise Invalid("must be true or false")
    return value


def integer(lo: int, hi: int) -> Reader:
    def read(value: Any, *_: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise Invalid("must be an integer")
        if not lo <= value <= hi:
            raise Invalid(f"must be between {lo} and {hi}")
        return value

    return bounded(read, min=lo, max=hi)


def one_of(*choices: str) -> Reader:
    def read(value: Any, *_: Any) -> str:
        if not isinstance(value, str) or value not in choices:
            raise Invalid("must be one of: " + ", ".join(choices))
        return value

    return bounded(read, choices=list(choices))


def text(pattern: str | None = None, hint: str = "", max_length: int | None = None) -> Reader:
    """A non-empty string, stripped; optionally at most ``max_length`` long and matching
    ``pattern`` (``hint`` is the message when it does not)."""

    def read(value: Any, *_: Any) -> str:
        if not isinstance(value, str):
            raise Invalid("must be a string")
        value = value.strip()
        if not value:
            raise Invalid("must not be empty")
        if max_length is not None and len(value) > max_length:
            raise Invalid(f"must be 1 to {max_length} characters long")
        if pattern is not None and not re.fullmatch(pattern, value):
            raise Invalid(hint)
        return value

    return bounded(read, max_length=max_length)


_text = text()


def then(read: Reader, convert: Callable[[Any], Any]) -> Reader:
    """``read``, then ``convert`` the clean value."""
    return lambda value, ctx, path: convert(read(value, ctx, path))


def as_list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise Invalid("must be a list")
    return value


def list_of(item: Reader) -> Reader:
    """A list read item by item; each bad item is recorded at ``path[i]``."""

    def read(value: Any, ctx: Any, path: str) -> tuple[Any, ...]:
        items = as_list(value)
        return tuple(read_one(item, v, ctx, f"{path}[{i}]") for i, v in enumerate(items))

    return read


def read_one(read: Reader, value: Any, ctx: Context, path: str) -> Any:
    """Apply one reader; on ``Invalid`` record the problem at ``path`` and return ``INVALID``."""
    try:
        return read(value, ctx, path)
    except Invalid as exc:
        ctx.add(path, str(exc))
        return INVALID


env_name = text(r"[A-Za-z_][A-Za-z0-9_]*", "must be an environment variable name")


def local_path(value: Any, ctx: Context, path: str) -> str:
    """A file path; a relative one resolves against ``ctx.base_dir``."""
    return os.path.normpath(os.path.join(ctx.base_dir, _text(value)))


_SQLITE_HINT = "must be sqlite:///relative.db or sqlite:////absolute/path.db"
_URL_HINT = "must be sqlite:///path or postgresql://user:pass@host:port/db"


def database_url(value: Any, ctx: Context, path: str) -> str:
    """A PostgreSQL URL, or a SQLite one made absolute: ``sqlite:///rel.db`` is relative to
    ``ctx.base_dir``, ``sqlite:////abs/path.db`` absolute, ``sqlite:///:memory:`` kept."""
    url = _text(value)
    scheme = url.split(":", 1)[0].lower()
    if scheme == "sqlite":
        rest = url[len("sqlite:///") :]
        if not url.startswith("sqlite:///") or not rest.strip("/"):
            raise Invalid(_SQLITE_HINT)
        if rest == ":memory:":
            return url
        return "sqlite:///" + "/" + os.path.normpath(os.path.join(ctx.base_dir, rest)).lstrip("/")
    if scheme not in {"postgresql", "postgres"}:
        raise Invalid(_URL_HINT)
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError:
        raise Invalid("must have a valid port: postgresql://user:pass@host:port/db") from None
    if not parts.path.strip("/"):
        raise Invalid("must name a database: postgresql://user:pass@host:port/db")
    return url


_LISTEN = re.compile(r"(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9.-]+)):(?P<port>\d{1,5})")


def listen_address(value: Any, *_: Any) -> str:
    """``host:port`` or ``[v6]:port``."""
    address = _text(value)
    match = _LISTEN.fullmatch(address)
    if not match or (match["v6"] and not isinstance(parse_ip(match["v6"]), ipaddress.IPv6Address)):
        raise Invalid("must be host:port")
    if not 1 <= int(match["port"]) <= 65535:
        raise Invalid("port must be between 1 and 65535")
    return address


def url_path_prefix(value: Any, *_: Any) -> str:
    """Empty, or a URL path like ``/cullarr``: no trailing ``/``, ``//``, space, ``?`` or ``#``."""
    if not isinstance(value, str):
        raise Invalid("must be a string")
    prefix = value.strip()
    if prefix and (
        prefix[0] != "/" or prefix[-1] == "/" or "//" in prefix or re.search(r"[\s?#]", prefix)
    ):
        raise Invalid("must be empty or a path starting with '/' and not ending with '/'")
    return prefix


def file_mode(value: Any, *_: Any) -> int:
    """A permission mode: an int, or an octal string such as ``'0660'`` or ``'0o660'``."""
    match = (
        re.fullmatch(r"(?:0[oO])?([0-7]{1,4})", value.strip()) if isinstance(value, str) else None
    )
    if match:
        value = int(match[1], 8)
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid("must be an octal mode such as 0660")
    if not 0 <= value <= 0o777:
        raise Invalid("must be an octal mode between 0000 and 0777")
    return value


def cidr(value: Any, *_: Any) -> str:
    network = _text(value)
    try:
        return str(ipaddress.ip_network(network, strict=False))
    except ValueError:
        raise Invalid(f"'{network}' is not a CIDR network") from None


def absolute_path(*, drive_letters: bool = False) -> Reader:
    """An absolute path, normalised (``paths.normalize_path``); ``drive_letters`` also allows
    Windows paths such as ``C:/Media``."""

    def read(value: Any, *_: Any) -> str:
        path = normalize_path(_text(value))
        if not (path.startswith("/") or (drive_letters and re.fullmatch(r"[A-Za-z]:(/.*)?", path))):
            raise Invalid("must be an absolute path")
        return path

    return read


# --- documents and tables -------------------------------------------------------------------


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys instead of silently keeping the last one."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[tuple[str, str]] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                continue
            if (key_node.tag, key_node.value) in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key '{key_node.value}'", key_node.start_mark
                )
            seen.add((key_node.tag, key_node.value))
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: str) -> Any:
    """Parse the YAML file at ``path`` safely, refusing duplicate keys; raise ``Invalid``."""
    try:
        with open(path, encoding="utf-8") as handle:
            source = handle.read()
    except OSError as exc:
        raise Invalid(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise Invalid(f"cannot read {path}: not UTF-8 text") from None
    try:
        return yaml.load(source, Loader=_StrictLoader)  # a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise Invalid(f"invalid YAML{where}: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise Invalid(f"invalid YAML: {exc}") from None


def read_table(data: Any, path: str, table: dict[str, Key], ctx: Context) -> dict[str, Any] | None:
    """Read one mapping by its table: unknown keys, required keys, defaults, one reader per key."""
    data = {} if data is None else data
    if not isinstance(data, dict):
        ctx.add(path, "must be a mapping")
        return None
    for key in data:
        if key not in table:
            ctx.add(path, f"unknown key '{key}'")
    out: dict[str, Any] = {}
    for key, spec in table.items():
        sub = f"{path}.{key}" if path else key
        raw = data.get(key, spec.default)
        if raw is None and isinstance(spec.default, list | dict):
            raw = spec.default
        if raw is REQUIRED:
            ctx.add(sub, "required")
            value = INVALID
        elif raw is None and spec.default is None:
            value = None
        else:
            value = read_one(spec.read, raw, ctx, sub)
        out[spec.attr or key] = value
    return out


def section(table: dict[str, Key], build: Builder, *, many: bool = False) -> Key:
    """A nested mapping (or, with ``many``, a list of them) read by ``table``, then ``build``."""

    def read_one_section(value: Any, ctx: Context, path: str) -> Any:
        raw = read_table(value, path, table, ctx)
        return INVALID if raw is None else build(raw, ctx, path)

    reader = list_of(read_one_section) if many else read_one_section
    return Key(reader, default=[] if many else {}, schema=table, many=many)


def plain(cls: type) -> Builder:
    """A builder that passes the read values straight to ``cls``."""
    return lambda raw, ctx, path: cls(**raw)


def known_keys(table: dict[str, Key], prefix: str = "") -> set[str]:
    """Every key path in ``table``, e.g. ``web.listen``, ``integrations[].path_mappings[].from``."""
    keys: set[str] = set()
    for key, spec in table.items():
        keys.add(prefix + key)
        if spec.schema is not None:
            keys |= known_keys(spec.schema, prefix + key + ("[]." if spec.many else "."))
    return keys
