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
import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from cullarrd.errors import ConfigError
from cullarrd.netguard import check_base_url
from cullarrd.paths import normalize_path as normalize_path  # re-exported for callers
from cullarrd.validation import (
    INVALID,
    Context,
    Invalid,
    Key,
    absolute_path,
    boolean,
    cidr,
    database_url,
    env_name,
    file_mode,
    integer,
    known_keys,
    list_of,
    listen_address,
    local_path,
    one_of,
    plain,
    read_one,
    read_table,
    read_yaml,
    section,
    text,
    then,
    url_path_prefix,
)

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
    compatibility_mode: str | None = None  # None: the compatibility_mode_default setting
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


# --- config-specific readers (the generic ones live in cullarrd.validation) --------------------


@dataclass(kw_only=True)
class _Ctx(Context):
    env: Mapping[str, str]
    known_kinds: tuple[str, ...]


_text = text()
_name = text(r"[A-Za-z0-9_.-]{1,64}", "must be 1 to 64 characters of A-Z a-z 0-9 _ . -")


def _kind(value: Any, ctx: _Ctx, path: str) -> str:
    return one_of(*sorted(ctx.known_kinds))(_text(value))


# --- builders ---------------------------------------------------------------------------------


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
        raise Invalid(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise Invalid(f"file {path} is not UTF-8 text") from None
    if not value:
        raise Invalid(f"file {path} is empty")
    return Secret(value)


def _read_secret_env(name: str, ctx: _Ctx) -> Secret:
    if name not in ctx.env:
        raise Invalid(f"environment variable {name} is not set")
    if not ctx.env[name].strip():
        raise Invalid(f"environment variable {name} is empty")
    return Secret(ctx.env[name].strip())


def _pick_secret(raw: dict[str, Any], keys: tuple[str, str, str], ctx: _Ctx, path: str) -> Any:
    """Resolve one secret from inline / file / env keys; None if none given, INVALID on error."""
    given = [key for key in keys if raw[key] is not None]
    if len(given) > 1:
        ctx.add(path, "use only one of " + ", ".join(keys))
        return INVALID
    if not given or raw[given[0]] is INVALID:
        return INVALID if given else None
    key, value = given[0], raw[given[0]]
    if key == keys[0]:
        return value
    reader = _read_secret_file if key == keys[1] else _read_secret_env
    return read_one(lambda v, c, p: reader(v, c), value, ctx, f"{path}.{key}")


def _build_delete_mode(raw: dict[str, Any], ctx: _Ctx, path: str) -> DeleteModeConfig:
    secret = _pick_secret(raw, ("secret", "secret_file", "secret_env"), ctx, path)
    creds = ctx.env.get("CREDENTIALS_DIRECTORY")
    if secret is None and ctx.env.get(DELETE_SECRET_ENV, "").strip():
        secret = Secret(ctx.env[DELETE_SECRET_ENV].strip())
    elif secret is None and creds and os.path.isfile(os.path.join(creds, DELETE_SECRET_CREDENTIAL)):
        secret = read_one(
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
        if isinstance(mapping, PathMappingConfig) and all(
            isinstance(p, str) for p in (mapping.from_prefix, mapping.to_prefix)
        ):
            pair = (mapping.from_prefix, mapping.to_prefix)
            if pair in seen:
                ctx.add(
                    f"{path}.path_mappings[{i}]", f"duplicate mapping '{pair[0]}' -> '{pair[1]}'"
                )
            seen.add(pair)
    fields = {k: v for k, v in raw.items() if k not in {"api_key_file", "api_key_env"}}
    return IntegrationConfig(**{**fields, "api_key": api_key})


_PATH_MAPPING = {
    "from": Key(absolute_path(drive_letters=True), attr="from_prefix"),
    "to": Key(absolute_path(drive_letters=True), attr="to_prefix"),
    "enabled": Key(boolean, True),
}
_INTEGRATION = {
    "kind": Key(_kind),
    "name": Key(_name),
    "base_url": Key(then(_text, lambda url: url.rstrip("/"))),
    "api_key": Key(then(_text, Secret), None),
    "api_key_file": Key(_text, None),
    "api_key_env": Key(env_name, None),
    "verify_ssl": Key(boolean, True),
    "compatibility_mode": Key(one_of("strict_latest", "warn_only_read_only"), None),
    "request_timeout_seconds": Key(integer(1, 120), 15),
    "retry_max_attempts": Key(integer(1, 10), 5),
    "fetch_workers": Key(integer(1, 32), 4),
    "page_size": Key(integer(50, 10000), 1000),
    "path_mappings": section(_PATH_MAPPING, plain(PathMappingConfig), many=True),
}
_TOP = {
    "database": section({"url": Key(database_url, None)}, _build_database),
    "web": section(
        {
            "enabled": Key(boolean, True),
            "listen": Key(listen_address, "127.0.0.1:8787"),
            "base_path": Key(url_path_prefix, ""),
            "metrics_public": Key(boolean, True),
        },
        plain(WebConfig),
    ),
    "socket": section(
        {"path": Key(local_path, None), "mode": Key(file_mode, 0o660), "group": Key(_text, None)},
        _build_socket,
    ),
    "log": section(
        {
            "format": Key(one_of("json", "console"), None),
            "level": Key(one_of("debug", "info", "warning", "error"), "info"),
        },
        _build_log,
    ),
    "delete_mode": section(
        {
            "enabled": Key(boolean, False),
            "secret": Key(then(_text, Secret), None),
            "secret_file": Key(_text, None),
            "secret_env": Key(env_name, None),
        },
        _build_delete_mode,
    ),
    "security": section(
        {
            "allowed_integration_hosts": Key(list_of(then(_text, str.lower)), []),
            "allowed_integration_networks": Key(list_of(cidr), []),
        },
        plain(SecurityConfig),
    ),
    "integrations": section(_INTEGRATION, _build_integration, many=True),
}


KNOWN_KEYS: frozenset[str] = frozenset(known_keys(_TOP))
"""Every key path the loader knows, e.g. ``web.listen``, ``integrations[].path_mappings[].from``."""


# --- entry points -----------------------------------------------------------------------------


def _check_integrations(integrations: Any, security: Any, ctx: _Ctx) -> None:
    """Cross-entry rules: unique names, and base-URL safety against the allow-lists."""
    lists_ok = isinstance(security, SecurityConfig) and all(
        isinstance(v, tuple)
        for v in (security.allowed_integration_hosts, security.allowed_integration_networks)
    )
    if not lists_ok:  # already reported; the config is refused either way
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
    raw = read_table(data, "", _TOP, ctx)
    if raw is None:
        raise ConfigError(ctx.problems)
    _check_integrations(raw["integrations"], raw["security"], ctx)
    if ctx.problems:
        raise ConfigError(ctx.problems)
    return Config(**raw, source_path=source_path)


def load_config(
    path: str,
    env: Mapping[str, str] | None = None,
    known_kinds: Collection[str] | None = None,
) -> Config:
    """Read and validate the YAML file at ``path``; raise ``ConfigError`` listing every problem."""
    env = os.environ if env is None else env
    try:
        data = read_yaml(path)
    except Invalid as exc:
        raise ConfigError([f"config: {exc}"]) from None
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
