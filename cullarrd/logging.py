"""Structured logging: structlog and stdlib ``logging`` through one renderer, never with secrets.

``configure_logging`` owns the root logger: every record, from structlog or from libraries
(uvicorn, apscheduler, peewee, httpx), goes through the same chain: context from
``structlog.contextvars`` (``correlation_id``, ``run_id``, ``integration``), level, UTC timestamp,
exceptions rendered to text, then the redactor, then a JSON or console renderer on stderr.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

import structlog
from structlog.typing import EventDict, WrappedLogger

__all__ = [
    "MIN_SECRET_LENGTH",
    "REDACTED",
    "configure_logging",
    "default_log_format",
    "get_logger",
    "redact",
    "set_secrets",
]

REDACTED = "***"
# Shorter strings would turn ordinary words and numbers into *** all over the log.
MIN_SECRET_LENGTH = 4

# Key names (lower-cased, "-" read as "_") whose values are secrets wherever they appear.
_SENSITIVE_KEY_PARTS = (
    "api_key",
    "apikey",
    "password",
    "secret",
    "token",
    "authorization",
    "cookie",
)

# `apikey=…` (Tautulli puts its key in the query string) and friends, up to the next & or the end.
_QUERY_SECRET_RE = re.compile(
    r"(?i)((?:api_?key|x-api-key|token|password|passwd|secret)=)[^&\s#\"'<>]*"
)
# The password in `scheme://user:password@host` (database URLs end up in driver errors).
_URL_PASSWORD_RE = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s/]+@")
# Header dumps in exception texts: `X-Api-Key: …`, `'Authorization': 'Bearer …'`.
_HEADER_SECRET_RE = re.compile(
    r"(?i)((?:x-api-key|authorization)[\"']?\s*[:=]\s*[\"']?(?:(?:bearer|basic|token)\s+)?)"
    r"[^\s,;\"'}]+"
)
# Deeper structures than this are flattened to (redacted) text instead of walked.
_MAX_DEPTH = 8

# Libraries that log per request or per job at INFO; their detail is only wanted when debugging.
_CHATTY_LOGGERS = ("apscheduler", "httpx", "httpcore")
# Libraries whose own handlers (uvicorn's dictConfig) would bypass the redactor.
_ROUTED_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "apscheduler", "peewee", "httpx")

_HANDLER_MARK = "_cullarrd_handler"


def _is_sensitive_key(key: object) -> bool:
    """Whether a key's value is hidden whole (``api_key``, ``delete_secret``, ``X-Api-Key``)."""
    if not isinstance(key, str):
        return False
    normalized = key.lower().replace("-", "_")
    return any(part in normalized for part in _SENSITIVE_KEY_PARTS)


class _Redactor:
    """Structlog processor hiding configured secrets, secret-named keys and secrets in URLs."""

    def __init__(self) -> None:
        self._pattern: re.Pattern[str] | None = None

    def set_secrets(self, secrets: Iterable[str]) -> None:
        """Replace the secret list; swapped in one assignment so other threads see old or new."""
        variants: set[str] = set()
        for secret in secrets:
            if not isinstance(secret, str) or len(secret) < MIN_SECRET_LENGTH:
                continue
            # A key with reserved characters shows up percent-encoded in logged URLs.
            variants.update((secret, quote(secret, safe=""), quote_plus(secret)))
        # Longest first, so a secret containing another is hidden whole.
        ordered = sorted(variants, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def redact_text(self, text: str) -> str:
        """Return ``text`` with secrets replaced by ``***``."""
        pattern = self._pattern
        if pattern is not None:
            text = pattern.sub(REDACTED, text)
        text = _QUERY_SECRET_RE.sub(r"\1" + REDACTED, text)
        text = _URL_PASSWORD_RE.sub(r"\1" + REDACTED + "@", text)
        return _HEADER_SECRET_RE.sub(r"\1" + REDACTED, text)

    def redact_value(self, value: Any, depth: int = 0) -> Any:
        """Return a redacted copy of ``value``; anything not plain data becomes redacted text."""
        if isinstance(value, str):
            return self.redact_text(value)
        if value is None or isinstance(value, bool | int | float):
            return value
        if depth >= _MAX_DEPTH:
            return self.redact_text(str(value))
        if isinstance(value, Mapping):
            return {
                key: (_hide(item) if _is_sensitive_key(key) else self.redact_value(item, depth + 1))
                for key, item in value.items()
            }
        if isinstance(value, list | tuple | set | frozenset):
            return [self.redact_value(item, depth + 1) for item in value]
        if isinstance(value, bytes | bytearray):
            return self.redact_text(bytes(value).decode("utf-8", "backslashreplace"))
        if isinstance(value, BaseException):
            return self.redact_text(f"{type(value).__name__}: {value}")
        # Renderers would call repr()/str() after us, beyond the redactor's reach: do it here.
        return self.redact_text(str(value))

    def __call__(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
        """Process one event: render any exception to text first, then redact every value."""
        if "exc_info" in event_dict:
            event_dict = structlog.processors.format_exc_info(logger, method_name, event_dict)
        return {
            key: (
                _hide(value)
                if key != "event" and _is_sensitive_key(key)
                else self.redact_value(value)
            )
            for key, value in event_dict.items()
        }


def _hide(value: Any) -> Any:
    """Value of a secret-named key: ``***``, except None/bools, which cannot carry a secret."""
    if value is None or isinstance(value, bool):
        return value
    return REDACTED


_REDACTOR = _Redactor()


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at emit time (pytest and embedders swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def _parse_level(level: str) -> int:
    """Map a level name (any case) to its number, refusing unknown names."""
    number = logging.getLevelNamesMapping().get(level.strip().upper())
    if number is None:
        raise ValueError(f"unknown log level {level!r}")
    return number


def _shared_processors() -> list[Any]:
    """Processors every event gets, whichever side (structlog or stdlib) it came from."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
    ]


def _strip_foreign_event(
    logger: WrappedLogger, method_name: str, event_dict: EventDict
) -> EventDict:
    """Drop the trailing newline some libraries (``warnings``) put on their messages."""
    event = event_dict.get("event")
    if isinstance(event, str):
        event_dict["event"] = event.rstrip()
    return event_dict


_LEADING_KEYS = ("timestamp", "level", "event", "logger")


def _leading_keys_first(
    logger: WrappedLogger, method_name: str, event_dict: EventDict
) -> EventDict:
    """Put timestamp, level, event and logger first, so raw JSON lines read well in journalctl."""
    ordered = {key: event_dict[key] for key in _LEADING_KEYS if key in event_dict}
    ordered.update(event_dict)
    return ordered


def _renderers(fmt: str) -> list[Any]:
    """The final processors for ``fmt``."""
    if fmt == "json":
        # ASCII-only JSON: one valid line whatever bytes a media path decodes to.
        return [_leading_keys_first, structlog.processors.JSONRenderer()]
    if fmt == "console":
        return [structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())]
    raise ValueError(f"unknown log format {fmt!r} (expected 'json' or 'console')")


def configure_logging(fmt: str, level: str, secrets: Iterable[str] = ()) -> None:
    """Route structlog and stdlib logging to stderr as ``fmt`` at ``level``, redacting ``secrets``.

    Safe to call again (reload): the previous handler is replaced, not duplicated.
    """
    renderers = _renderers(fmt)
    number = _parse_level(level)
    set_secrets(secrets)

    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared_processors(),
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            # Rendered here, while sys.exc_info() still describes the exception being logged.
            structlog.processors.format_exc_info,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(ignore_frame_names=[__name__]),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Not cached, so a later configure (reload, structlog.testing.capture_logs) takes effect
        # for loggers that already logged.
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*_shared_processors(), _strip_foreign_event],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            _REDACTOR,
            *renderers,
        ],
    )
    handler = _StderrHandler()
    setattr(handler, _HANDLER_MARK, True)
    handler.setFormatter(formatter)

    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, _HANDLER_MARK, False):
            root.removeHandler(old)
            old.close()
    root.addHandler(handler)
    root.setLevel(number)

    for name in _ROUTED_LOGGERS:
        routed = logging.getLogger(name)
        for own in list(routed.handlers):
            routed.removeHandler(own)
        routed.propagate = True
        routed.setLevel(logging.NOTSET)
    for name in _CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(
            logging.NOTSET if number <= logging.DEBUG else logging.WARNING
        )
    # Peewee's DEBUG lines carry query parameters: password hashes and session tokens.
    logging.getLogger("peewee").setLevel(max(number, logging.INFO))
    logging.captureWarnings(True)


def set_secrets(secrets: Iterable[str]) -> None:
    """Replace the strings the redactor hides (strings shorter than 4 characters are ignored)."""
    _REDACTOR.set_secrets(secrets)


def redact(value: Any) -> Any:
    """Return ``value`` redacted as the log would show it (for error messages and payloads)."""
    return _REDACTOR.redact_value(value)


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    """A structlog logger named ``name`` (default: the calling module)."""
    if name is None:
        return structlog.stdlib.get_logger()
    return structlog.stdlib.get_logger(name)


def default_log_format(environ: Mapping[str, str] | None = None) -> str:
    """``json`` when stderr is connected to the journal (``$JOURNAL_STREAM``), else ``console``."""
    env = os.environ if environ is None else environ
    stream = env.get("JOURNAL_STREAM", "")
    if not stream:
        return "console"
    # systemd's advice: only trust the variable if stderr is still that stream, not a redirect.
    try:
        device, inode = (int(part) for part in stream.split(":", 1))
        stat = os.fstat(sys.stderr.fileno())
    except (ValueError, OSError, AttributeError):
        return "json"
    return "json" if (stat.st_dev, stat.st_ino) == (device, inode) else "console"
