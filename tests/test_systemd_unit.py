"""The shipped systemd unit: SPEC §11 directives present, and `systemd-analyze verify` clean."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[1] / "contrib" / "systemd" / "cullarrd.service"
REQUIRE_ANALYZE = os.environ.get("CULLARR_REQUIRE_SYSTEMD_ANALYZE") == "1"

# (section, key, value) triples SPEC §11 and the operations notes require, value as written.
REQUIRED = [
    ("Service", "Type", "notify"),
    ("Service", "NotifyAccess", "main"),
    ("Service", "WatchdogSec", "30"),
    ("Service", "ExecReload", "/bin/kill -HUP $MAINPID"),
    ("Service", "Restart", "on-failure"),
    ("Service", "TimeoutStopSec", "10"),
    ("Service", "DynamicUser", "yes"),
    ("Service", "StateDirectory", "cullarr"),
    ("Service", "RuntimeDirectory", "cullarr"),
    ("Service", "RuntimeDirectoryMode", "0750"),
    ("Service", "ConfigurationDirectory", "cullarr"),
    ("Service", "Environment", "PYTHONUNBUFFERED=1"),
    ("Service", "ProtectSystem", "strict"),
    ("Service", "ProtectHome", "yes"),
    ("Service", "PrivateTmp", "yes"),
    ("Service", "PrivateDevices", "yes"),
    ("Service", "NoNewPrivileges", "yes"),
    ("Service", "ProtectKernelTunables", "yes"),
    ("Service", "ProtectKernelModules", "yes"),
    ("Service", "ProtectKernelLogs", "yes"),
    ("Service", "ProtectControlGroups", "yes"),
    ("Service", "ProtectClock", "yes"),
    ("Service", "ProtectHostname", "yes"),
    ("Service", "RestrictNamespaces", "yes"),
    ("Service", "RestrictRealtime", "yes"),
    ("Service", "RestrictSUIDSGID", "yes"),
    ("Service", "LockPersonality", "yes"),
    ("Service", "MemoryDenyWriteExecute", "yes"),
    ("Service", "RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6"),
    ("Service", "SystemCallFilter", "@system-service"),
    ("Service", "SystemCallArchitectures", "native"),
    ("Service", "CapabilityBoundingSet", ""),
    ("Service", "UMask", "0027"),
    ("Install", "WantedBy", "multi-user.target"),
]

# Credential names the config resolves against $CREDENTIALS_DIRECTORY.
CREDENTIALS = ("sonarr_api_key", "radarr_api_key", "tautulli_api_key", "delete_mode_secret")


def parse_unit(text: str) -> list[tuple[str, str, str]]:
    """(section, key, value) for every assignment, duplicates kept, continuations joined."""
    entries: list[tuple[str, str, str]] = []
    section = ""
    pending = ""
    for raw in text.splitlines():
        line = pending + raw.strip() if pending else raw.strip()
        pending = ""
        if not line or line.startswith(("#", ";")):
            continue
        if line.endswith("\\"):
            pending = line[:-1].rstrip() + " "
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, sep, value = line.partition("=")
        assert sep, f"not an assignment: {line!r}"
        entries.append((section, key.strip(), value.strip()))
    return entries


def _values(entries: list[tuple[str, str, str]], section: str, key: str) -> list[str]:
    return [v for s, k, v in entries if (s, k) == (section, key)]


def test_unit_has_every_required_directive() -> None:
    entries = parse_unit(UNIT.read_text())
    missing = [
        f"[{section}] {key}={value}"
        for section, key, value in REQUIRED
        if value not in _values(entries, section, key)
    ]
    assert not missing, f"missing from {UNIT.name}: {missing}"


def test_exec_start_reads_config_from_configuration_directory() -> None:
    entries = parse_unit(UNIT.read_text())
    (exec_start,) = _values(entries, "Service", "ExecStart")
    # systemd expands ${CONFIGURATION_DIRECTORY} itself (it is set from ConfigurationDirectory=).
    assert exec_start == "/usr/bin/cullarrd serve --config ${CONFIGURATION_DIRECTORY}/config.yaml"


def test_unit_loads_every_credential() -> None:
    entries = parse_unit(UNIT.read_text())
    loaded = dict(value.split(":", 1) for value in _values(entries, "Service", "LoadCredential"))
    assert set(loaded) == set(CREDENTIALS)
    for name, source in loaded.items():
        assert source == f"/etc/cullarr/credentials/{name}"


def test_parser_keeps_duplicates_and_joins_continuations() -> None:
    entries = parse_unit("[Service]\n# c\nA=1\nA=2\nB=x \\\n  y\n[Install]\nA=3\n")
    assert entries == [
        ("Service", "A", "1"),
        ("Service", "A", "2"),
        ("Service", "B", "x y"),
        ("Install", "A", "3"),
    ]


def _systemd_analyze() -> str:
    """Path of systemd-analyze; skip without it, unless the CI demands it."""
    found = shutil.which("systemd-analyze")
    if found is None:
        if REQUIRE_ANALYZE:
            pytest.fail("systemd-analyze not found but CULLARR_REQUIRE_SYSTEMD_ANALYZE=1")
        pytest.skip("systemd-analyze not installed (set CULLARR_REQUIRE_SYSTEMD_ANALYZE=1 to fail)")
    if not os.access("/bin/kill", os.X_OK) and not REQUIRE_ANALYZE:
        # ExecReload= names /bin/kill (procps); verify rightly fails without it.
        pytest.skip("/bin/kill missing (install procps)")
    return found


def _daemon_command() -> str:
    """An existing absolute command line for the daemon, in place of /usr/bin/cullarrd."""
    script = Path(sys.executable).parent / "cullarrd"
    if script.is_file() and os.access(script, os.X_OK):
        return str(script)
    installed = shutil.which("cullarrd")
    if installed:
        return str(Path(installed).resolve())
    return f"{sys.executable} -m cullarrd.cli"


def _verify(analyze: str, unit_text: str, directory: Path) -> subprocess.CompletedProcess[str]:
    """Run `systemd-analyze verify` on ``unit_text`` saved as cullarrd.service in ``directory``."""
    unit = directory / "cullarrd.service"
    unit.write_text(unit_text)
    # --man=no: Documentation= man pages need not be installed on the machine running tests.
    # verify needs neither a running systemd nor --root: it loads the file in a test manager.
    return subprocess.run(
        [analyze, "verify", "--man=no", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "SYSTEMD_LOG_COLOR": "0", "SYSTEMD_PAGER": ""},
    )


def _lines_about_unit(result: subprocess.CompletedProcess[str]) -> list[str]:
    output = result.stderr + result.stdout
    return [line for line in output.splitlines() if "cullarrd" in line]


def test_systemd_analyze_verify_is_clean(tmp_path: Path) -> None:
    analyze = _systemd_analyze()
    text = UNIT.read_text().replace("/usr/bin/cullarrd", _daemon_command())
    result = _verify(analyze, text, tmp_path)
    assert result.returncode == 0, result.stderr
    assert not _lines_about_unit(result), result.stderr


def test_systemd_analyze_verify_would_catch_a_mistake(tmp_path: Path) -> None:
    """Guards the test above: a typo in the unit does show up as a line about our unit."""
    analyze = _systemd_analyze()
    text = UNIT.read_text().replace("/usr/bin/cullarrd", _daemon_command())
    text = text.replace("ProtectHome=yes", "ProtectHome=perhaps")
    assert "ProtectHome=perhaps" in text
    result = _verify(analyze, text, tmp_path)
    assert any("perhaps" in line for line in _lines_about_unit(result)), result.stderr
