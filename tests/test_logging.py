"""Logging: one JSON object per line with context, and no configured secret ever in the output."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator

import pytest
import structlog

from cullarrd.logging import configure_logging, get_logger, redact, set_secrets

SECRET = "s3cr3t-Sonarr-key-9f8e7d"
OTHER_SECRET = "tautulli-key-0a1b2c3d"


# Loggers configure_logging adjusts, restored after each test so other tests see stock logging.
_TOUCHED = (
    "",
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "apscheduler",
    "peewee",
    "httpx",
    "httpcore",
)


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Leave logging as other tests expect it: no cullarrd handler, no secrets, no context."""
    saved = {}
    for name in _TOUCHED:
        logger = logging.getLogger(name)
        saved[name] = (list(logger.handlers), logger.level, logger.propagate)
    yield
    structlog.contextvars.clear_contextvars()
    for name, (handlers, level, propagate) in saved.items():
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            if handler not in handlers:
                logger.removeHandler(handler)
        for handler in handlers:
            if handler not in logger.handlers:
                logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate
    set_secrets(())
    logging.captureWarnings(False)
    structlog.reset_defaults()


def _json_lines(err: str) -> list[dict]:
    """Parse captured stderr, asserting every non-empty line is one JSON object."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines, "nothing was logged"
    return [json.loads(line) for line in lines]


def test_json_lines_carry_level_timestamp_event_and_context(capfd: pytest.CaptureFixture) -> None:
    configure_logging("json", "info")
    log = get_logger("cullarrd.test")
    structlog.contextvars.bind_contextvars(correlation_id="req-123", run_id=7)
    log.info("sync.phase_completed", phase="inventory", rows=12, integration="sonarr-main")
    log.debug("hidden.at_info_level")
    log.warning("multi\nline event")

    events = _json_lines(capfd.readouterr().err)
    assert len(events) == 2
    first = events[0]
    assert first["event"] == "sync.phase_completed"
    assert first["level"] == "info"
    assert first["correlation_id"] == "req-123"
    assert first["run_id"] == 7
    assert first["integration"] == "sonarr-main"
    assert first["rows"] == 12
    assert first["logger"] == "cullarrd.test"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", first["timestamp"])
    assert events[1] == {**events[1], "event": "multi\nline event", "level": "warning"}


def test_secrets_never_reach_the_output(capfd: pytest.CaptureFixture) -> None:
    configure_logging("json", "debug", secrets=[SECRET])
    log = get_logger("cullarrd.test")

    log.info("plain", detail=f"header was {SECRET}!")
    log.info(f"event text {SECRET}")
    log.info("nested", payload={"outer": [{"inner": f"x{SECRET}x"}], "n": (1, SECRET)})
    log.info("url", url="http://tautulli:8181/api/v2?apikey=abcdef123456&cmd=get_history")
    log.info("url.end", url="http://tautulli:8181/api/v2?cmd=arnold&apikey=zzzz9999")
    log.info("percent", url=f"http://x/?q={SECRET.replace('-', '%2D')}")
    try:
        raise RuntimeError(f"upstream refused key {SECRET}")
    except RuntimeError:
        log.exception("sync.failed")
    try:
        raise ValueError(f"bad {SECRET}")
    except ValueError as exc:
        log.error("as.value", error=exc)

    err = capfd.readouterr().err
    assert SECRET not in err
    assert "abcdef123456" not in err
    assert "zzzz9999" not in err
    events = {event["event"]: event for event in _json_lines(err)}
    assert events["plain"]["detail"] == "header was ***!"
    assert events["event text ***"]
    assert events["nested"]["payload"] == {"outer": [{"inner": "x***x"}], "n": [1, "***"]}
    assert events["url"]["url"] == "http://tautulli:8181/api/v2?apikey=***&cmd=get_history"
    assert events["url.end"]["url"].endswith("cmd=arnold&apikey=***")
    failed = events["sync.failed"]
    assert "Traceback (most recent call last)" in failed["exception"]
    assert "RuntimeError: upstream refused key ***" in failed["exception"]
    assert events["as.value"]["error"] == "ValueError: bad ***"


def test_sensitive_key_names_are_redacted(capfd: pytest.CaptureFixture) -> None:
    configure_logging("json", "info")
    log = get_logger("cullarrd.test")
    log.info(
        "keys",
        api_key="k1k1k1",
        ApiKey="k2k2k2",
        password="hunter22",
        delete_secret="d3d3d3",
        session_token="t4t4t4",
        headers={"X-Api-Key": "h5h5h5", "Authorization": "Bearer b6b6b6", "Accept": "json"},
        secret_file=None,
        name="sonarr-main",
    )
    err = capfd.readouterr().err
    for value in ("k1k1k1", "k2k2k2", "hunter22", "d3d3d3", "t4t4t4", "h5h5h5", "b6b6b6"):
        assert value not in err
    (event,) = _json_lines(err)
    assert event["api_key"] == event["ApiKey"] == event["password"] == "***"
    assert event["delete_secret"] == event["session_token"] == "***"
    assert event["headers"] == {"X-Api-Key": "***", "Authorization": "***", "Accept": "json"}
    assert event["secret_file"] is None
    assert event["name"] == "sonarr-main"


def test_stdlib_loggers_share_renderer_and_redaction(capfd: pytest.CaptureFixture) -> None:
    configure_logging("json", "info", secrets=[SECRET])
    structlog.contextvars.bind_contextvars(correlation_id="req-9")
    logging.getLogger("uvicorn.error").error("connection dropped, key %s leaked", SECRET)
    try:
        raise ConnectionError(f"could not reach http://sonarr/api?apikey={SECRET}")
    except ConnectionError:
        logging.getLogger("apscheduler.executors.default").exception("job failed")
    logging.getLogger("peewee").debug("SELECT 1 -- never shown")

    err = capfd.readouterr().err
    assert SECRET not in err
    assert "never shown" not in err
    uvicorn, scheduler = _json_lines(err)
    assert uvicorn["event"] == "connection dropped, key *** leaked"
    assert uvicorn["level"] == "error"
    assert uvicorn["logger"] == "uvicorn.error"
    assert uvicorn["correlation_id"] == "req-9"
    assert "timestamp" in uvicorn
    assert scheduler["event"] == "job failed"
    assert "ConnectionError: could not reach http://sonarr/api?apikey=***" in scheduler["exception"]


def test_set_secrets_updates_without_reconfiguring(capfd: pytest.CaptureFixture) -> None:
    configure_logging("json", "info", secrets=[SECRET])
    log = get_logger("cullarrd.test")
    set_secrets([OTHER_SECRET, "abc"])  # "abc" is too short to be treated as a secret
    log.info("after.reload", old=SECRET, new=OTHER_SECRET, short="abc")
    (event,) = _json_lines(capfd.readouterr().err)
    assert event["old"] == SECRET
    assert event["new"] == "***"
    assert event["short"] == "abc"
    assert redact(f"key={OTHER_SECRET}") == "key=***"


def test_reconfigure_replaces_handler_and_console_format(capfd: pytest.CaptureFixture) -> None:
    configure_logging("json", "info", secrets=[SECRET])
    configure_logging("console", "warning", secrets=[SECRET])
    log = get_logger("cullarrd.test")
    log.info("dropped")
    log.warning("integration.unhealthy", integration="radarr", error=f"401 for {SECRET}")

    err = capfd.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err  # one handler, not two
    assert "integration.unhealthy" in lines[0]
    assert "integration=radarr" in lines[0]
    assert SECRET not in err
    assert "\x1b[" not in err  # no colours when stderr is not a terminal


def test_database_url_password_is_redacted() -> None:
    text = "could not connect to postgresql://cullarr:pa55word@db:5432/cullarr"
    assert redact(text) == "could not connect to postgresql://cullarr:***@db:5432/cullarr"


def test_bad_format_or_level_is_refused() -> None:
    with pytest.raises(ValueError, match="format"):
        configure_logging("xml", "info")
    with pytest.raises(ValueError, match="level"):
        configure_logging("json", "chatty")
