"""One error hierarchy: every "no" carries a stable code, an HTTP status and a plain message.

The web, the JSON API and the control socket all render a ``CullarrError`` the same way
(SPEC §10.1): ``{"error": {"code", "message", "correlation_id", "details"}}``.
"""

from __future__ import annotations

from typing import Any

# Stable code -> HTTP status. Codes not listed here render as 500.
HTTP_STATUS: dict[str, int] = {
    "unauthenticated": 401,
    "forbidden": 403,
    "csrf_invalid": 403,
    "validation_failed": 422,
    "not_found": 404,
    "conflict": 409,
    "internal_error": 500,
    "sync_already_running": 409,
    "sync_queued_next": 202,
    "integration_unreachable": 502,
    "integration_auth_failed": 502,
    "integration_contract_mismatch": 502,
    "rate_limited": 429,
    "integration_url_forbidden": 403,
    "integration_kind_unknown": 422,
    "integration_history_reset": 409,
    "unsupported_integration_version": 422,
    "delete_mode_disabled": 403,
    "delete_unlock_required": 403,
    "delete_unlock_invalid": 403,
    "delete_unlock_expired": 403,
    "multi_version_selection_required": 422,
    "guardrail_path_excluded": 422,
    "guardrail_keep_marker": 422,
    "guardrail_in_progress": 422,
    "guardrail_ambiguous_mapping": 422,
    "guardrail_ambiguous_ownership": 422,
    "guardrail_unattributed_history": 422,
    "guardrail_watch_rule": 422,
    "guardrail_rollup_not_strictly_eligible": 422,
    "deletion_target_changed": 409,
    "deletion_confirmation_timeout": 504,
    "settings_immutable": 422,
    "retention_setting_unsafe": 422,
    # control-socket protocol errors
    "bad_request": 400,
    "method_not_allowed": 405,
    "unknown_command": 404,
    "protocol_version_unsupported": 400,
    "peer_forbidden": 403,
    # configuration and store
    "config_invalid": 422,
    "store_too_new": 500,
}


class CullarrError(Exception):
    """Base of every error the daemon reports to a user; ``code`` is stable, ``message`` plain."""

    code = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message
        self.details = details or {}

    @property
    def http_status(self) -> int:
        return HTTP_STATUS.get(self.code, 500)

    def to_dict(self, correlation_id: str | None = None) -> dict[str, Any]:
        """The error envelope body shared by HTTP and the socket."""
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "correlation_id": correlation_id,
                "details": self.details,
            }
        }


class ValidationFailed(CullarrError):
    """Input that does not pass validation; ``fields`` maps each bad field to its messages."""

    code = "validation_failed"

    def __init__(self, fields: dict[str, list[str]], message: str | None = None) -> None:
        self.fields = {key: list(msgs) for key, msgs in fields.items()}
        summary = "; ".join(f"{key}: {', '.join(msgs)}" for key, msgs in self.fields.items())
        super().__init__(message or f"invalid input: {summary}", details={"fields": self.fields})


class NotFound(CullarrError):
    code = "not_found"


class Conflict(CullarrError):
    code = "conflict"


class Forbidden(CullarrError):
    code = "forbidden"


class ConfigError(CullarrError):
    """The configuration file is unusable; ``problems`` are ``"key.path: message"`` lines."""

    code = "config_invalid"

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__(
            "invalid configuration: " + "; ".join(self.problems),
            details={"problems": self.problems},
        )


class StoreTooNew(CullarrError):
    """The store was migrated by a newer cullarrd; refusing to run protects its data."""

    code = "store_too_new"


class IntegrationError(CullarrError):
    """An upstream service answered badly or not at all (SPEC §4.2 classification)."""

    code = "integration_contract_mismatch"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        body: str | None = None,
        retry_after: float | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        merged = dict(details or {})
        if status is not None:
            merged["status"] = status
        if body is not None:
            merged["body"] = body[:500]
        super().__init__(message, code=code, details=merged)
        self.status = status
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return self.code in {"integration_unreachable", "rate_limited"}
