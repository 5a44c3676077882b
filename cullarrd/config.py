"""Load ``config.yaml`` into frozen dataclasses and report every problem at once (SPEC §2).

Conventions (also documented in ``config.example.yaml``):
- an absent key takes its default; ``null`` means "unset" only for keys whose default is unset or
  comes from the environment (``default=None`` in the tables); a ``null`` section or list is empty;
- SQLite URLs follow SQLAlchemy/Peewee: ``sqlite:///rel.db`` is relative to the config file's
  directory, ``sqlite:////abs/path.db`` is absolute; the loaded URL is always the absolute form;
- relative file paths resolve against the config file's directory (secret files first try
  ``$CREDENTIALS_DIRECTORY``); integration ``base_url`` is kept without a trailing ``/``.
Problem messages never contain a secret value.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml

from cullarrd.errors import ConfigError
from cullarrd.netguard import check_base_url, parse_ip

DEFAULT_CONFIG_PATH = "/etc/cullarr/config.yaml"
DEFAULT_KINDS = ("sonarr", "radarr", "tautulli")
DELETE_SECRET_ENV = "CULLARRD_DELETE_MODE_SECRET"
DELETE_SECRET_CREDENTIAL = "delete_mode_secret"


class Secret:
    """A secret string that shows itself only through ``reveal()``, never in repr or str."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself, for the one place that needs it (a header, an HMAC key)."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, self._value))


@dataclass(frozen=True, repr=False)
class DatabaseConfig:
    url: str

    def __repr__(self) -> str:
        return f"DatabaseConfig(url={self.redacted_url!r})"

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return "sqlite" if self.url.startswith("sqlite:") else "postgresql"

    @property
    def sqlite_path(self) -> str | None:
        """The SQLite file path (absolute, or ``:memory:``), None for PostgreSQL."""
        return self.url[len("sqlite:///") :] if self.backend == "sqlite" else None

    @property
    def password(self) -> str | None:
        """The PostgreSQL password embedded in the URL, if any (a secret)."""
        return None if self.backend == "sqlite" else urlsplit(self.url).password

    @property
    def redacted_url(self) -> str:
        """The URL with its password replaced by ``***``, safe to log and show."""
        if not self.password:
            return self.url
        parts = urlsplit(self.url)
        userinfo, _, hostinfo = parts.netloc.rpartition("@")
        return parts._replace(netloc=f"{userinfo.split(':', 1)[0]}:***@{hostinfo}").geturl()


@dataclass(frozen=True)
class WebConfig:
    enabled: bool = True
    listen: str = "127.0.0.1:8787"
    base_path: str = ""
    metrics_public: bool = True

    @property
    def host(self) -> str:
        """Listen host without IPv6 brackets (``::1``)."""
        return self.listen.rsplit(":", 1)[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])


@dataclass(frozen=True)
class SocketConfig:
    path: str
    mode: int = 0o660
    group: str | None = None


@dataclass(frozen=True)
class LogConfig:
    format: str
    level: str = "info"


@dataclass(frozen=True)
class DeleteModeConfig:
    enabled: bool = False
    secret: Secret | None = None


@dataclass(frozen=True)
class SecurityConfig:
    allowed_integration_hosts: tuple[str, ...] = ()
    allowed_integration_networks: tuple[str, ...] = ()


@dataclass(frozen=True)
class PathMappingConfig:
    from_prefix: str
    to_prefix: str
    enabled: bool = True


@dataclass(frozen=True)
class IntegrationConfig:
    kind: str
    name: str
    base_url: str
    api_key: Secret
    verify_ssl: bool = True
    compatibility_mode: str = "strict_latest"
    request_timeout_seconds: int = 15
    retry_max_attempts: int = 5
    fetch_workers: int = 4
    page_size: int = 1000
    path_mappings: tuple[PathMappingConfig, ...] = ()


@dataclass(frozen=True)
class Config:
    database: DatabaseConfig
    web: WebConfig
    socket: SocketConfig
    log: LogConfig
    delete_mode: DeleteModeConfig
    security: SecurityConfig
    integrations: tuple[IntegrationConfig, ...] = ()
    source_path: str | None = None

    def secret_values(self) -> list[str]:
        """Every configured secret string (API keys, delete secret, DB password) for redaction."""
        found = [i.api_key.reveal() for i in self.integrations]
        if self.delete_mode.secret is not None:
            found.append(self.delete_mode.secret.reveal())
        password = self.database.password
        if password:
            found += [password, unquote(password)]
        return [value for i, value in enumerate(found) if value and value not in found[:i]]


# --- readers: one per type; each returns the clean value or raises _Invalid ------------------

_INVALID: Any = type("Invalid", (), {"__repr__": lambda self: "_INVALID"})()
_REQUIRED: Any = type("Required", (), {"__repr__": lambda self: "_REQUIRED"})()


class _Invalid(Exception):
    """A value failed its reader; the message is plain and never echoes the value."""


@dataclass
class _Ctx:
    env: Mapping[str, str]
    base_dir: str
    known_kinds: tuple[str, ...]
    problems: list[str]

    def add(self, path: str, message: str) -> None:
        self.problems.append(f"{path or 'config'}: {message}")


Reader = Callable[[Any, _Ctx, str], Any]


@dataclass(frozen=True)
class _Key:
    read: Reader
    default: Any = _REQUIRED  # _REQUIRED: must be given; None: null allowed and means "unset"
    attr: str | None = None
    schema: dict[str, _Key] | None = None  # nested keys, so KNOWN_KEYS can be derived
    many: bool = False


def _bool(value: Any, ctx: _Ctx, path: str) -> bool:
    if not isinstance(value, bool):
        raise _Invalid("must be true or false")
    return value


def _int(lo: int, hi: int) -> Reader:
    def read(value: Any, ctx: _Ctx, path: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Invalid("must be an integer")
        if not lo <= value <= hi:
            raise _Invalid(f"must be between {lo} and {hi}")
        return value

    return read


def _enum(*choices: str) -> Reader:
    def read(value: Any, ctx: _Ctx, path: str) -> str:
        if not isinstance(value, str) or value not in choices:
            raise _Invalid("must be one of: " + ", ".join(choices))
        return value

    return read


def _str(pattern: str | None = None, hint: str = "") -> Reader:
    def read(value: Any, ctx: _Ctx, path: str) -> str:
        if not isinstance(value, str):
            raise _Invalid("must be a string")
        if not value.strip():
            raise _Invalid("must not be empty")
        if pattern is not None and not re.fullmatch(pattern, value.strip()):
            raise _Invalid(hint)
        return value.strip()

    return read


def _list(item: Reader) -> Reader:
    def read(value: Any, ctx: _Ctx, path: str) -> tuple[Any, ...]:
        if not isinstance(value, list):
            raise _Invalid("must be a list")
        return tuple(_read_one(item, v, ctx, f"{path}[{i}]") for i, v in enumerate(value))

    return read


def _read_one(read: Reader, value: Any, ctx: _Ctx, path: str) -> Any:
    try:
        return read(value, ctx, path)
    except _Invalid as exc:
        ctx.add(path, str(exc))
        return _INVALID


_text = _str()
_env_name = _str(r"[A-Za-z_][A-Za-z0-9_]*", "must be an environment variable name")
_name = _str(r"[A-Za-z0-9_.-]{1,64}", "must be 1 to 64 characters of A-Z a-z 0-9 _ . -")
_SQLITE_HINT = "must be sqlite:///relative.db or sqlite:////absolute/path.db"
_URL_HINT = "must be sqlite:///path or postgresql://user:pass@host:port/db"


def _kind(value: Any, ctx: _Ctx, path: str) -> str:
    kind = _text(value, ctx, path)
    if kind not in ctx.known_kinds:
        raise _Invalid("must be one of: " + ", ".join(sorted(ctx.known_kinds)))
    return kind


def _local_path(value: Any, ctx: _Ctx, path: str) -> str:
    return os.path.normpath(os.path.join(ctx.base_dir, _text(value, ctx, path)))


def _then(read: Reader, convert: Callable[[Any], Any]) -> Reader:
    return lambda value, ctx, path: convert(read(value, ctx, path))


def _db_url(value: Any, ctx: _Ctx, path: str) -> str:
    url = _text(value, ctx, path)
    scheme = url.split(":", 1)[0].lower()
    if scheme == "sqlite":
        rest = url[len("sqlite:///") :]
        if not url.startswith("sqlite:///") or not rest.strip("/"):
            raise _Invalid(_SQLITE_HINT)
        if rest == ":memory:":
            return url
        return "sqlite:///" + "/" + os.path.normpath(os.path.join(ctx.base_dir, rest)).lstrip("/")
    if scheme not in {"postgresql", "postgres"}:
        raise _Invalid(_URL_HINT)
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError:
        raise _Invalid("must have a valid port: postgresql://user:pass@host:port/db") from None
    if not parts.path.strip("/"):
        raise _Invalid("must name a database: postgresql://user:pass@host:port/db")
    return url


_LISTEN = re.compile(r"(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9.-]+)):(?P<port>\d{1,5})")


def _listen(value: Any, ctx: _Ctx, path: str) -> str:
    text = _text(value, ctx, path)
    match = _LISTEN.fullmatch(text)
    if not match or (match["v6"] and not isinstance(parse_ip(match["v6"]), ipaddress.IPv6Address)):
        raise _Invalid("must be host:port")
    if not 1 <= int(match["port"]) <= 65535:
        raise _Invalid("port must be between 1 and 65535")
    return text


def _base_path(value: Any, ctx: _Ctx, path: str) -> str:
    if not isinstance(value, str):
        raise _Invalid("must be a string")
    text = value.strip()
    if text and (text[0] != "/" or text[-1] == "/" or "//" in text or re.search(r"[\s?#]", text)):
        raise _Invalid("must be empty or a path starting with '/' and not ending with '/'")
    return text


def _mode(value: Any, ctx: _Ctx, path: str) -> int:
    match = (
        re.fullmatch(r"(?:0[oO])?([0-7]{1,4})", value.strip()) if isinstance(value, str) else None
    )
    if match:
        value = int(match[1], 8)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Invalid("must be an octal mode such as 0660")
    if not 0 <= value <= 0o777:
        raise _Invalid("must be an octal mode between 0000 and 0777")
    return value


def _cidr(value: Any, ctx: _Ctx, path: str) -> str:
    text = _text(value, ctx, path)
    try:
        return str(ipaddress.ip_network(text, strict=False))
    except ValueError:
        raise _Invalid(f"'{text}' is not a CIDR network") from None


def normalize_path(text: str) -> str:
    """SPEC §5.5: trim, ``\\`` to ``/``, collapse ``//``, drop a trailing ``/`` (root stays)."""
    path = re.sub(r"/{2,}", "/", text.strip().replace("\\", "/"))
    return path.rstrip("/") or ("/" if path else "")


def _mapped_path(value: Any, ctx: _Ctx, path: str) -> str:
    normal = normalize_path(_text(value, ctx, path))
    if not (normal.startswith("/") or re.fullmatch(r"[A-Za-z]:(/.*)?", normal)):
        raise _Invalid("must be an absolute path")
    return normal


# --- tables and builders ----------------------------------------------------------------------


def _read_table(data: Any, path: str, table: dict[str, _Key], ctx: _Ctx) -> dict[str, Any] | None:
    """Read one mapping by its table: unknown keys, required keys, defaults, one reader per key."""
    data = {} if data is None else data
    if not isinstance(data, dict):
        ctx.add(path, "must be a mapping")
        return None
    ctx.problems.extend(f"{path or 'config'}: unknown key '{k}'" for k in data if k not in table)
    out: dict[str, Any] = {}
    for key, spec in table.items():
        sub = f"{path}.{key}" if path else key
        raw = data.get(key, spec.default)
        if raw is None and isinstance(spec.default, list | dict):
            raw = spec.default
        if raw is _REQUIRED:
            ctx.add(sub, "required")
            value = _INVALID
        elif raw is None and spec.default is None:
            value = None
        else:
            value = _read_one(spec.read, raw, ctx, sub)
        out[spec.attr or key] = value
    return out


Builder = Callable[[dict[str, Any], _Ctx, str], Any]


def _section(table: dict[str, _Key], build: Builder, *, many: bool = False) -> _Key:
    def read_one(value: Any, ctx: _Ctx, path: str) -> Any:
        raw = _read_table(value, path, table, ctx)
        return _INVALID if raw is None else build(raw, ctx, path)

    reader = _list(read_one) if many else read_one
    return _Key(reader, default=[] if many else {}, schema=table, many=many)


def _plain(cls: type) -> Builder:
    return lambda raw, ctx, path: cls(**raw)


def _first_dir(value: str | None) -> str | None:
    """systemd passes several directories separated by ``:``; the first is ours."""
    return value.split(":", 1)[0] if value else None


def _build_database(raw: dict[str, Any], ctx: _Ctx, path: str) -> DatabaseConfig:
    state = _first_dir(ctx.env.get("STATE_DIRECTORY")) or "/var/lib/cullarr"
    return DatabaseConfig(url=raw["url"] or f"sqlite:///{state}/cullarr.db")


def _build_socket(raw: dict[str, Any], ctx: _Ctx, path: str) -> SocketConfig:
    runtime = _first_dir(ctx.env.get("RUNTIME_DIRECTORY")) or "/run/cullarr"
    return SocketConfig(**{**raw, "path": raw["path"] or f"{runtime}/cullarrd.sock"})


def _build_log(raw: dict[str, Any], ctx: _Ctx, path: str) -> LogConfig:
    default = "json" if ctx.env.get("JOURNAL_STREAM") else "console"
    return LogConfig(format=raw["format"] or default, level=raw["level"])


def _read_secret_file(name: str, ctx: _Ctx) -> Secret:
    """Read a secret file; a relative name tries ``$CREDENTIALS_DIRECTORY``, then the config dir."""
    creds = ctx.env.get("CREDENTIALS_DIRECTORY")
    path = os.path.join(ctx.base_dir, name)
    if creds and not os.path.isabs(name) and os.path.exists(os.path.join(creds, name)):
        path = os.path.join(creds, name)
    try:
        with open(path, encoding="utf-8") as handle:
            value = handle.read().strip()
    except OSError as exc:
        raise _Invalid(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise _Invalid(f"file {path} is not UTF-8 text") from None
    if not value:
        raise _Invalid(f"file {path} is empty")
    return Secret(value)


def _read_secret_env(name: str, ctx: _Ctx) -> Secret:
    if name not in ctx.env:
        raise _Invalid(f"environment variable {name} is not set")
    if not ctx.env[name].strip():
        raise _Invalid(f"environment variable {name} is empty")
    return Secret(ctx.env[name].strip())


def _pick_secret(raw: dict[str, Any], keys: tuple[str, str, str], ctx: _Ctx, path: str) -> Any:
    """Resolve one secret from inline / file / env keys; None if none given, _INVALID on error."""
    given = [key for key in keys if raw[key] is not None]
    if len(given) > 1:
        ctx.add(path, "use only one of " + ", ".join(keys))
        return _INVALID
    if not given or raw[given[0]] is _INVALID:
        return _INVALID if given else None
    key, value = given[0], raw[given[0]]
    if key == keys[0]:
        return value
    reader = _read_secret_file if key == keys[1] else _read_secret_env
    return _read_one(lambda v, c, p: reader(v, c), value, ctx, f"{path}.{key}")


def _build_delete_mode(raw: dict[str, Any], ctx: _Ctx, path: str) -> DeleteModeConfig:
    secret = _pick_secret(raw, ("secret", "secret_file", "secret_env"), ctx, path)
    creds = ctx.env.get("CREDENTIALS_DIRECTORY")
    if secret is None and ctx.env.get(DELETE_SECRET_ENV, "").strip():
        secret = Secret(ctx.env[DELETE_SECRET_ENV].strip())
    elif secret is None and creds and os.path.isfile(os.path.join(creds, DELETE_SECRET_CREDENTIAL)):
        secret = _read_one(
            lambda v, c, p: _read_secret_file(v, c), DELETE_SECRET_CREDENTIAL, ctx, f"{path}.secret"
        )
    if raw["enabled"] is True and secret is None:
        ctx.add(f"{path}.secret", "required when delete_mode.enabled is true")
    return DeleteModeConfig(enabled=raw["enabled"], secret=secret)


def _build_integration(raw: dict[str, Any], ctx: _Ctx, path: str) -> IntegrationConfig:
    api_key = _pick_secret(raw, ("api_key", "api_key_file", "api_key_env"), ctx, path)
    if api_key is None:
        ctx.add(f"{path}.api_key", "required (set one of api_key, api_key_file, api_key_env)")
    seen: set[tuple[str, str]] = set()
    mappings = raw["path_mappings"] if isinstance(raw["path_mappings"], tuple) else ()
    for i, mapping in enumerate(mappings):
        if isinstance(mapping, PathMappingConfig):
            pair = (mapping.from_prefix, mapping.to_prefix)
            if pair in seen:
                ctx.add(
                    f"{path}.path_mappings[{i}]", f"duplicate mapping '{pair[0]}' -> '{pair[1]}'"
                )
            seen.add(pair)
    fields = {k: v for k, v in raw.items() if k not in {"api_key_file", "api_key_env"}}
    return IntegrationConfig(**{**fields, "api_key": api_key})


_PATH_MAPPING = {
    "from": _Key(_mapped_path, attr="from_prefix"),
    "to": _Key(_mapped_path, attr="to_prefix"),
    "enabled": _Key(_bool, True),
}
_INTEGRATION = {
    "kind": _Key(_kind),
    "name": _Key(_name),
    "base_url": _Key(_then(_text, lambda url: url.rstrip("/"))),
    "api_key": _Key(_then(_text, Secret), None),
    "api_key_file": _Key(_text, None),
    "api_key_env": _Key(_env_name, None),
    "verify_ssl": _Key(_bool, True),
    "compatibility_mode": _Key(_enum("strict_latest", "warn_only_read_only"), "strict_latest"),
    "request_timeout_seconds": _Key(_int(1, 120), 15),
    "retry_max_attempts": _Key(_int(1, 10), 5),
    "fetch_workers": _Key(_int(1, 32), 4),
    "page_size": _Key(_int(50, 10000), 1000),
    "path_mappings": _section(_PATH_MAPPING, _plain(PathMappingConfig), many=True),
}
_TOP = {
    "database": _section({"url": _Key(_db_url, None)}, _build_database),
    "web": _section(
        {
            "enabled": _Key(_bool, True),
            "listen": _Key(_listen, "127.0.0.1:8787"),
            "base_path": _Key(_base_path, ""),
            "metrics_public": _Key(_bool, True),
        },
        _plain(WebConfig),
    ),
    "socket": _section(
        {"path": _Key(_local_path, None), "mode": _Key(_mode, 0o660), "group": _Key(_text, None)},
        _build_socket,
    ),
    "log": _section(
        {
            "format": _Key(_enum("json", "console"), None),
            "level": _Key(_enum("debug", "info", "warning", "error"), "info"),
        },
        _build_log,
    ),
    "delete_mode": _section(
        {
            "enabled": _Key(_bool, False),
            "secret": _Key(_then(_text, Secret), None),
            "secret_file": _Key(_text, None),
            "secret_env": _Key(_env_name, None),
        },
        _build_delete_mode,
    ),
    "security": _section(
        {
            "allowed_integration_hosts": _Key(_list(_then(_text, str.lower)), []),
            "allowed_integration_networks": _Key(_list(_cidr), []),
        },
        _plain(SecurityConfig),
    ),
    "integrations": _section(_INTEGRATION, _build_integration, many=True),
}


def _known_keys(table: dict[str, _Key], prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for key, spec in table.items():
        keys.add(prefix + key)
        if spec.schema is not None:
            keys |= _known_keys(spec.schema, prefix + key + ("[]." if spec.many else "."))
    return keys


KNOWN_KEYS: frozenset[str] = frozenset(_known_keys(_TOP))
"""Every key path the loader knows, e.g. ``web.listen``, ``integrations[].path_mappings[].from``."""


# --- entry points -----------------------------------------------------------------------------


def _check_integrations(integrations: Any, security: Any, ctx: _Ctx) -> None:
    """Cross-entry rules: unique names, and base-URL safety against the allow-lists."""
    if not isinstance(security, SecurityConfig):
        security = SecurityConfig()
    first_seen: dict[str, int] = {}
    for i, integ in enumerate(integrations if isinstance(integrations, tuple) else ()):
        if not isinstance(integ, IntegrationConfig):
            continue
        if isinstance(integ.name, str) and integ.name in first_seen:
            ctx.add(
                f"integrations[{i}].name",
                f"duplicate name '{integ.name}' (also integrations[{first_seen[integ.name]}])",
            )
        elif isinstance(integ.name, str):
            first_seen[integ.name] = i
        if isinstance(integ.base_url, str):
            problem = check_base_url(integ.base_url, security)
            if problem is not None:
                ctx.add(f"integrations[{i}].base_url", problem)


def parse_config(
    data: object,
    *,
    env: Mapping[str, str],
    base_dir: str,
    known_kinds: Collection[str] | None = None,
    source_path: str | None = None,
) -> Config:
    """Validate already-parsed YAML data; raise ``ConfigError`` listing every problem."""
    kinds = tuple(known_kinds) if known_kinds is not None else DEFAULT_KINDS
    ctx = _Ctx(env=env, base_dir=os.path.abspath(base_dir), known_kinds=kinds, problems=[])
    raw = _read_table(data, "", _TOP, ctx)
    if raw is None:
        raise ConfigError(ctx.problems)
    _check_integrations(raw["integrations"], raw["security"], ctx)
    if ctx.problems:
        raise ConfigError(ctx.problems)
    return Config(**raw, source_path=source_path)


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


def load_config(
    path: str,
    env: Mapping[str, str] | None = None,
    known_kinds: Collection[str] | None = None,
) -> Config:
    """Read and validate the YAML file at ``path``; raise ``ConfigError`` listing every problem."""
    env = os.environ if env is None else env
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise ConfigError([f"config: cannot read {path}: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"config: cannot read {path}: not UTF-8 text"]) from None
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError([f"config: invalid YAML{where}: {exc.problem or exc}"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"config: invalid YAML: {exc}"]) from None
    base_dir = os.path.dirname(os.path.abspath(path))
    return parse_config(
        data, env=env, base_dir=base_dir, known_kinds=known_kinds, source_path=os.path.abspath(path)
    )


def config_path_from(cli_path: str | None, env: Mapping[str, str]) -> str:
    """The config path: ``--config``, else ``$CULLARRD_CONFIG``, else the default."""
    return cli_path or env.get("CULLARRD_CONFIG") or DEFAULT_CONFIG_PATH


def check_main(argv_path: str | None) -> int:
    """``cullarrd config check``: print ``ok`` (exit 0) or one line per problem (exit 2)."""
    try:
        load_config(config_path_from(argv_path, os.environ))
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem)
        return 2
    print("ok")
    return 0
