"""Config loading (SPEC §2): defaults, environment, secrets, all problems at once, URL safety."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from cullarrd.config import (
    DEFAULT_CONFIG_PATH,
    KNOWN_KEYS,
    Config,
    DatabaseConfig,
    PathMappingConfig,
    Secret,
    SecurityConfig,
    check_main,
    config_path_from,
    load_config,
    normalize_path,
    parse_config,
)
from cullarrd.errors import ConfigError
from cullarrd.netguard import check_base_url

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.yaml"

ONE_INTEGRATION = """
integrations:
  - kind: sonarr
    name: tv
    base_url: http://127.0.0.1:8989/
    api_key: k
"""


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def load(
    tmp_path: Path,
    text: str,
    env: dict[str, str] | None = None,
    known_kinds: list[str] | None = None,
) -> Config:
    return load_config(str(write(tmp_path, text)), env=env or {}, known_kinds=known_kinds)


def problems(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text, env)
    return caught.value.problems


def integration(extra: str = "", **overrides: str) -> str:
    """One integration entry as YAML, with keys replaced or removed (value "-")."""
    keys = {"kind": "sonarr", "name": "tv", "base_url": "http://127.0.0.1:8989", "api_key": "k"}
    keys.update(overrides)
    lines = [f"    {k}: {v}" for k, v in keys.items() if v != "-"]
    lines[0] = "  - " + lines[0].lstrip()
    return "integrations:\n" + "\n".join(lines) + "\n" + textwrap.indent(extra, "    ")


# --- the example and the defaults ------------------------------------------------------------


def test_example_config_passes_with_an_empty_environment() -> None:
    config = load_config(str(EXAMPLE), env={})
    assert [i.name for i in config.integrations] == ["sonarr", "radarr", "tautulli"]
    assert config.integrations[0].path_mappings == (
        PathMappingConfig("/tv", "/data/media/tv", True),
    )
    assert config.source_path == str(EXAMPLE)


def test_every_loader_key_is_in_the_example_and_every_example_key_is_known() -> None:
    def walk(node: object, prefix: str = "") -> set[str]:
        keys: set[str] = set()
        if isinstance(node, dict):
            for key, value in node.items():
                keys.add(prefix + key)
                keys |= walk(value, prefix + key + ".")
                for item in value if isinstance(value, list) else ():
                    keys |= walk(item, prefix + key + "[].")
        return keys

    example_keys = walk(yaml.safe_load(EXAMPLE.read_text()))
    assert sorted(KNOWN_KEYS - example_keys) == [], "keys missing from config.example.yaml"
    assert sorted(example_keys - KNOWN_KEYS) == [], "example keys the loader does not know"
    assert "integrations[].path_mappings[].from" in KNOWN_KEYS


def test_empty_file_gives_every_default(tmp_path: Path) -> None:
    config = load(tmp_path, "")
    assert config.database == DatabaseConfig("sqlite:////var/lib/cullarr/cullarr.db")
    assert config.database.sqlite_path == "/var/lib/cullarr/cullarr.db"
    assert (config.web.enabled, config.web.listen, config.web.base_path) == (
        True,
        "127.0.0.1:8787",
        "",
    )
    assert (config.web.host, config.web.port, config.web.metrics_public) == (
        "127.0.0.1",
        8787,
        True,
    )
    assert (config.socket.path, config.socket.mode, config.socket.group) == (
        "/run/cullarr/cullarrd.sock",
        0o660,
        None,
    )
    assert (config.log.format, config.log.level) == ("console", "info")
    assert (config.delete_mode.enabled, config.delete_mode.secret) == (False, None)
    assert config.security == SecurityConfig((), ())
    assert config.integrations == ()


def test_integration_defaults_and_normalisation(tmp_path: Path) -> None:
    config = load(tmp_path, ONE_INTEGRATION)
    (tv,) = config.integrations
    assert tv.base_url == "http://127.0.0.1:8989"
    assert tv.api_key == Secret("k")
    assert (tv.verify_ssl, tv.compatibility_mode) == (True, None)  # None: the setting decides
    assert (tv.request_timeout_seconds, tv.retry_max_attempts, tv.fetch_workers, tv.page_size) == (
        15,
        5,
        4,
        1000,
    )
    assert tv.path_mappings == ()


def test_null_sections_and_lists_are_empty(tmp_path: Path) -> None:
    config = load(tmp_path, "web:\nsecurity:\n  allowed_integration_hosts:\nintegrations:\n")
    assert config.web.listen == "127.0.0.1:8787"
    assert config.security.allowed_integration_hosts == ()
    assert config.integrations == ()


def test_environment_dependent_defaults(tmp_path: Path) -> None:
    env = {
        "STATE_DIRECTORY": "/srv/state:/srv/other",
        "RUNTIME_DIRECTORY": "/run/x",
        "JOURNAL_STREAM": "8:1234",
    }
    config = load(tmp_path, "", env)
    assert config.database.url == "sqlite:////srv/state/cullarr.db"
    assert config.socket.path == "/run/x/cullarrd.sock"
    assert config.log.format == "json"
    explicit = load(tmp_path, "log:\n  format: console\nsocket:\n  path: /tmp/s.sock\n", env)
    assert (explicit.log.format, explicit.socket.path) == ("console", "/tmp/s.sock")


def test_database_url_conventions(tmp_path: Path) -> None:
    def url(value: str) -> DatabaseConfig:
        return load(tmp_path, f"database:\n  url: '{value}'\n").database

    assert url("sqlite:///data/c.db").url == f"sqlite:///{tmp_path}/data/c.db"
    assert url("sqlite:////abs/c.db").sqlite_path == "/abs/c.db"
    assert url("sqlite:///:memory:").sqlite_path == ":memory:"
    pg = url("postgresql://cullarr:pw@db.lan:5432/cullarr")
    assert (pg.backend, pg.password, pg.sqlite_path) == ("postgresql", "pw", None)
    assert pg.redacted_url == "postgresql://cullarr:***@db.lan:5432/cullarr"
    assert url("postgres://db.lan/cullarr").backend == "postgresql"


def test_web_listen_ipv6_base_path_and_socket_modes(tmp_path: Path) -> None:
    config = load(tmp_path, "web:\n  listen: '[::1]:9000'\n  base_path: /cullarr\n")
    assert (config.web.host, config.web.port, config.web.base_path) == ("::1", 9000, "/cullarr")
    for given in ("0640", "'0640'", "416", "'0o640'"):
        assert load(tmp_path, f"socket:\n  mode: {given}\n").socket.mode == 0o640
    relative = load(tmp_path, "socket:\n  path: run/c.sock\n  group: media\n").socket
    assert (relative.path, relative.group) == (f"{tmp_path}/run/c.sock", "media")


def test_path_mappings_are_normalised(tmp_path: Path) -> None:
    text = integration(
        "path_mappings:\n"
        "  - {from: ' /tv//shows/ ', to: '\\\\data\\\\tv'}\n"
        "  - {from: /, to: /mnt, enabled: false}\n"
    )
    (tv,) = load(tmp_path, text).integrations
    assert tv.path_mappings == (
        PathMappingConfig("/tv/shows", "/data/tv", True),
        PathMappingConfig("/", "/mnt", False),
    )
    assert normalize_path("C:\\Media\\TV\\") == "C:/Media/TV"


# --- secrets ----------------------------------------------------------------------------------


def test_api_key_from_file_next_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "sonarr").write_text("  from-config-dir\n")
    config = load(tmp_path, integration(api_key="-", api_key_file="keys/sonarr"))
    assert config.integrations[0].api_key.reveal() == "from-config-dir"


def test_api_key_file_prefers_credentials_directory(tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "sonarr_key").write_text("from-credentials\n")
    (tmp_path / "sonarr_key").write_text("from-config-dir\n")
    (tmp_path / "only_here").write_text("fallback\n")
    env = {"CREDENTIALS_DIRECTORY": str(creds)}
    text = integration(api_key="-", api_key_file="sonarr_key")
    assert load(tmp_path, text, env).integrations[0].api_key.reveal() == "from-credentials"
    text = integration(api_key="-", api_key_file="only_here")
    assert load(tmp_path, text, env).integrations[0].api_key.reveal() == "fallback"
    absolute = integration(api_key="-", api_key_file=str(creds / "sonarr_key"))
    assert load(tmp_path, absolute).integrations[0].api_key.reveal() == "from-credentials"


def test_api_key_from_environment(tmp_path: Path) -> None:
    text = integration(api_key="-", api_key_env="SONARR_API_KEY")
    config = load(tmp_path, text, {"SONARR_API_KEY": "from-env"})
    assert config.integrations[0].api_key == Secret("from-env")


def test_delete_mode_secret_sources(tmp_path: Path) -> None:
    def secret(text: str, env: dict[str, str]) -> str | None:
        found = load(tmp_path, text, env).delete_mode.secret
        return None if found is None else found.reveal()

    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "delete_mode_secret").write_text("from-credential\n")
    (tmp_path / "dm").write_text("from-file\n")
    on = "delete_mode:\n  enabled: true\n"
    assert secret(on + "  secret: inline\n", {"CULLARRD_DELETE_MODE_SECRET": "env"}) == "inline"
    assert secret(on + "  secret_file: dm\n", {}) == "from-file"
    assert secret(on + "  secret_env: DM\n", {"DM": "from-named-env"}) == "from-named-env"
    assert secret(on, {"CULLARRD_DELETE_MODE_SECRET": "from-env"}) == "from-env"
    assert secret(on, {"CREDENTIALS_DIRECTORY": str(creds)}) == "from-credential"
    assert secret("", {}) is None
    assert load(tmp_path, on, {"CULLARRD_DELETE_MODE_SECRET": "x"}).delete_mode.enabled is True


def test_secret_wrapper() -> None:
    secret = Secret("hunter2")
    assert (repr(secret), str(secret), f"{secret}") == ("Secret('***')", "***", "***")
    assert secret == Secret("hunter2") and secret != Secret("other") and secret != "hunter2"
    assert len({secret, Secret("hunter2")}) == 1


def test_secrets_never_appear_in_repr_str_or_problems(tmp_path: Path) -> None:
    api_key, delete_secret, db_password = "APIKEY-7f3a9c", "DELSECRET-b1d2", "DBPASS-c0ffee"
    good = (
        f"database:\n  url: postgresql://u:{db_password}@db/cullarr\n"
        f"delete_mode:\n  enabled: true\n  secret: {delete_secret}\n" + integration(api_key=api_key)
    )
    config = load(tmp_path, good)
    assert set(config.secret_values()) >= {api_key, delete_secret, db_password}
    for text in (repr(config), str(config), repr(config.database), repr(config.integrations)):
        for value in (api_key, delete_secret, db_password):
            assert value not in text
    bad = good.replace("url: postgresql", "url: mysql") + "web:\n  listen: nope\n"
    bad += f"socket:\n  group: [{api_key}]\n"
    bad = bad.replace("base_url: http://127.0.0.1:8989", f"base_url: http://u:{api_key}@h")
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, bad)
    assert len(caught.value.problems) == 4
    for text in (*caught.value.problems, str(caught.value), repr(caught.value.details)):
        for value in (api_key, delete_secret, db_password):
            assert value not in text


# --- problems ---------------------------------------------------------------------------------

BAD_INPUTS = [
    ("unknown top-level key", "colour: red\n", "config: unknown key 'colour'"),
    ("unknown nested key", "database:\n  urll: x\n", "database: unknown key 'urll'"),
    (
        "unknown integration key",
        integration("apikey: k\n"),
        "integrations[0]: unknown key 'apikey'",
    ),
    ("section not a mapping", "web: 5\n", "web: must be a mapping"),
    ("list not a list", "integrations: {}\n", "integrations: must be a list"),
    ("bool wrong type", "web:\n  enabled: 'yes'\n", "web.enabled: must be true or false"),
    (
        "string for an int",
        integration(request_timeout_seconds="'15'"),
        "integrations[0].request_timeout_seconds: must be an integer",
    ),
    (
        "bool for an int",
        integration(fetch_workers="true"),
        "integrations[0].fetch_workers: must be an integer",
    ),
    (
        "int out of range",
        integration(request_timeout_seconds="121"),
        "integrations[0].request_timeout_seconds: must be between 1 and 120",
    ),
    (
        "page size out of range",
        integration(page_size="49"),
        "integrations[0].page_size: must be between 50 and 10000",
    ),
    (
        "bad enum",
        "log:\n  level: verbose\n",
        "log.level: must be one of: debug, info, warning, error",
    ),
    (
        "bad compatibility mode",
        integration(compatibility_mode="loose"),
        "integrations[0].compatibility_mode: must be one of: strict_latest, warn_only_read_only",
    ),
    (
        "unknown kind",
        integration(kind="lidarr"),
        "integrations[0].kind: must be one of: radarr, sonarr, tautulli",
    ),
    ("missing kind", integration(kind="-"), "integrations[0].kind: required"),
    (
        "bad name",
        integration(name="'my tv'"),
        "integrations[0].name: must be 1 to 64 characters of A-Z a-z 0-9 _ . -",
    ),
    (
        "base_url scheme",
        integration(base_url="ftp://nas"),
        "integrations[0].base_url: must be http or https",
    ),
    (
        "base_url without host",
        integration(base_url="'http:///sonarr'"),
        "integrations[0].base_url: must include a host",
    ),
    (
        "base_url with query",
        integration(base_url="'http://nas/?x=1'"),
        "integrations[0].base_url: must not contain a query or fragment",
    ),
    (
        "base_url with credentials",
        integration(base_url="http://me:pw@nas"),
        "integrations[0].base_url: must not contain credentials "
        "(use api_key, api_key_file or api_key_env)",
    ),
    (
        "duplicate names",
        integration() + integration().replace("integrations:\n", ""),
        "integrations[1].name: duplicate name 'tv' (also integrations[0])",
    ),
    (
        "two api key sources",
        integration(api_key_env="SONARR_API_KEY"),
        "integrations[0]: use only one of api_key, api_key_file, api_key_env",
    ),
    (
        "no api key",
        integration(api_key="-"),
        "integrations[0].api_key: required (set one of api_key, api_key_file, api_key_env)",
    ),
    (
        "missing key file",
        integration(api_key="-", api_key_file="nokey"),
        "integrations[0].api_key_file: cannot read {dir}/nokey: No such file or directory",
    ),
    (
        "empty key file",
        integration(api_key="-", api_key_file="empty"),
        "integrations[0].api_key_file: file {dir}/empty is empty",
    ),
    (
        "empty env var",
        integration(api_key="-", api_key_env="BLANK"),
        "integrations[0].api_key_env: environment variable BLANK is empty",
    ),
    (
        "unset env var",
        integration(api_key="-", api_key_env="NOPE"),
        "integrations[0].api_key_env: environment variable NOPE is not set",
    ),
    (
        "bad CIDR",
        "security:\n  allowed_integration_networks: [10.0.0.0/8, not-a-net]\n",
        "security.allowed_integration_networks[1]: 'not-a-net' is not a CIDR network",
    ),
    (
        "relative path mapping",
        integration("path_mappings:\n  - {from: tv, to: /data/tv}\n"),
        "integrations[0].path_mappings[0].from: must be an absolute path",
    ),
    (
        "path mapping without to",
        integration("path_mappings:\n  - {from: /tv}\n"),
        "integrations[0].path_mappings[0].to: required",
    ),
    (
        "duplicate path mapping",
        integration("path_mappings:\n  - {from: /tv, to: /d}\n  - {from: /tv/, to: /d}\n"),
        "integrations[0].path_mappings[1]: duplicate mapping '/tv' -> '/d'",
    ),
    (
        "delete mode without secret",
        "delete_mode:\n  enabled: true\n",
        "delete_mode.secret: required when delete_mode.enabled is true",
    ),
    (
        "two delete secret sources",
        "delete_mode:\n  secret: a\n  secret_env: B\n",
        "delete_mode: use only one of secret, secret_file, secret_env",
    ),
    ("bad listen", "web:\n  listen: localhost\n", "web.listen: must be host:port"),
    (
        "listen port 0",
        "web:\n  listen: '[::1]:0'\n",
        "web.listen: port must be between 1 and 65535",
    ),
    (
        "base_path trailing slash",
        "web:\n  base_path: /cullarr/\n",
        "web.base_path: must be empty or a path starting with '/' and not ending with '/'",
    ),
    (
        "socket mode too large",
        "socket:\n  mode: 660\n",
        "socket.mode: must be an octal mode between 0000 and 0777",
    ),
    (
        "unknown database",
        "database:\n  url: mysql://db/cullarr\n",
        "database.url: must be sqlite:///path or postgresql://user:pass@host:port/db",
    ),
    (
        "postgres without database",
        "database:\n  url: postgresql://u:p@db\n",
        "database.url: must name a database: postgresql://user:pass@host:port/db",
    ),
    ("non-mapping document", "- a\n- b\n", "config: must be a mapping"),
    (
        "invalid YAML",
        "web:\n  listen: x\n bad: 1\n",
        "config: invalid YAML at line 3: expected <block end>, but found '<block mapping start>'",
    ),
    (
        "duplicate YAML key",
        "web:\n  listen: '127.0.0.1:1'\n  listen: '127.0.0.1:2'\n",
        "config: invalid YAML at line 3: duplicate key 'listen'",
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"), [(t, e) for _, t, e in BAD_INPUTS], ids=[i for i, _, _ in BAD_INPUTS]
)
def test_each_bad_input_gives_its_exact_problem(tmp_path: Path, text: str, expected: str) -> None:
    (tmp_path / "empty").write_text("  \n")
    found = problems(tmp_path, text, {"BLANK": " "})
    assert found == [expected.format(dir=tmp_path)]


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = "web:\n  listen: nope\nlog:\n  level: loud\n" + integration(retry_max_attempts="0")
    assert problems(tmp_path, text) == [
        "web.listen: must be host:port",
        "log.level: must be one of: debug, info, warning, error",
        "integrations[0].retry_max_attempts: must be between 1 and 10",
    ]


def test_a_broken_allow_list_is_reported_not_crashed_on(tmp_path: Path) -> None:
    text = "security:\n  allowed_integration_networks: 10.0.0.0/8\n" + integration()
    assert problems(tmp_path, text) == ["security.allowed_integration_networks: must be a list"]


def test_invalid_path_mappings_are_not_also_called_duplicates(tmp_path: Path) -> None:
    extra = "path_mappings:\n  - {from: rel, to: /x}\n  - {from: rel, to: /x}\n"
    assert problems(tmp_path, integration(extra)) == [
        "integrations[0].path_mappings[0].from: must be an absolute path",
        "integrations[0].path_mappings[1].from: must be an absolute path",
    ]


def test_unreadable_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as caught:
        load_config(str(missing), env={})
    assert caught.value.problems == [f"config: cannot read {missing}: No such file or directory"]
    assert caught.value.code == "config_invalid"


def test_third_party_kinds(tmp_path: Path) -> None:
    text = integration(kind="lidarr")
    assert load(tmp_path, text, known_kinds=["lidarr"]).integrations[0].kind == "lidarr"
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, integration(), known_kinds=["lidarr"])
    assert caught.value.problems == ["integrations[0].kind: must be one of: lidarr"]


# --- base-URL allow-lists ---------------------------------------------------------------------


def test_allow_list_host_glob(tmp_path: Path) -> None:
    text = "security:\n  allowed_integration_hosts: ['*.LAN']\n"
    config = load(tmp_path, text + integration(base_url="http://Sonarr.lan:8989/sonarr"))
    assert config.integrations[0].base_url == "http://Sonarr.lan:8989/sonarr"
    assert problems(tmp_path, text + integration(base_url="http://sonarr.example.org")) == [
        "integrations[0].base_url: host 'sonarr.example.org' is not in "
        "security.allowed_integration_hosts/networks"
    ]


def test_allow_list_networks(tmp_path: Path) -> None:
    nets = "[192.168.1.0/24, 127.0.0.0/8, '::1/128']"
    text = f"security:\n  allowed_integration_networks: {nets}\n"
    assert load(tmp_path, text + integration(base_url="http://192.168.1.20:8989"))
    assert load(tmp_path, text + integration(base_url="'http://[::1]:8989'"))
    assert load(tmp_path, text + integration(base_url="http://localhost:8989"))
    assert problems(tmp_path, text + integration(base_url="http://10.1.2.3")) == [
        "integrations[0].base_url: host '10.1.2.3' is not in "
        "security.allowed_integration_hosts/networks"
    ]


def test_check_base_url_directly() -> None:
    open_ = SecurityConfig()
    assert check_base_url("https://anything.example:443/x", open_) is None
    assert check_base_url("gopher://x", open_) == "must be http or https"
    nets = SecurityConfig(allowed_integration_networks=("10.0.0.0/8",))
    assert check_base_url("http://10.0.0.5", nets) is None
    assert check_base_url("http://name.invalid", nets) == (
        "host 'name.invalid' is not in security.allowed_integration_hosts/networks"
        " (it does not resolve)"
    )


# --- command line -----------------------------------------------------------------------------


def test_config_path_from() -> None:
    assert config_path_from("/a.yaml", {"CULLARRD_CONFIG": "/b.yaml"}) == "/a.yaml"
    assert config_path_from(None, {"CULLARRD_CONFIG": "/b.yaml"}) == "/b.yaml"
    assert config_path_from(None, {}) == DEFAULT_CONFIG_PATH == "/etc/cullarr/config.yaml"


def test_check_main(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert check_main(str(EXAMPLE)) == 0
    assert capsys.readouterr().out == "ok\n"
    bad = write(tmp_path, "web:\n  listen: nope\ncolour: red\n")
    assert check_main(str(bad)) == 2
    assert capsys.readouterr().out.splitlines() == [
        "config: unknown key 'colour'",
        "web.listen: must be host:port",
    ]


def test_parse_config_accepts_parsed_data(tmp_path: Path) -> None:
    config = parse_config({"web": {"enabled": False}}, env={}, base_dir=str(tmp_path))
    assert config.web.enabled is False and config.source_path is None
