"""The deletion gate (SPEC §7.1): delete mode on, a secret configured, and a single-use unlock.

An unlock token is 32 random bytes (URL-safe text) given to the operator once; the store keeps
only HMAC-SHA256(secret, token), so neither a copy of the store nor the audit trail can be used
to delete. It expires after ``sensitive_action_reauthentication_window_minutes``, belongs to the
operator who asked, and is consumed when a deletion run is created. Every refusal says which
rule refused, with a stable code.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from typing import Any

from cullarrd.errors import CullarrError
from cullarrd.store.models import DeleteModeUnlock

TOKEN_BYTES = 32


def digest(secret: str, token: str) -> str:
    """What the store keeps of a token."""
    return hmac.new(secret.encode(), token.encode(), hashlib.sha256).hexdigest()


def delete_secret(config: Any) -> str:
    """The configured secret when delete mode is on, else ``delete_mode_disabled``."""
    mode = config.delete_mode
    if not mode.enabled:
        raise CullarrError(
            "delete mode is off (delete_mode.enabled in the config)", code="delete_mode_disabled"
        )
    if mode.secret is None:
        raise CullarrError("delete mode has no secret configured", code="delete_mode_disabled")
    return mode.secret.reveal()


def issue(
    secret: str, operator_id: int, ttl_minutes: int, now: dt.datetime
) -> tuple[str, dt.datetime]:
    """A new token for the operator (inside a write); ``(token, expires_at)``."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    expires_at = now + dt.timedelta(minutes=ttl_minutes)
    DeleteModeUnlock.create(
        operator=operator_id, token_digest=digest(secret, token), expires_at=expires_at
    )
    return token, expires_at


def consume(secret: str, token: Any, operator_id: int, now: dt.datetime) -> DeleteModeUnlock:
    """Spend a token (inside the write that creates the run); refused with the reason's code."""
    if not isinstance(token, str) or not token:
        raise CullarrError(
            "an unlock token is required (cullarrctl unlock)", code="delete_unlock_required"
        )
    row = DeleteModeUnlock.get_or_none(DeleteModeUnlock.token_digest == digest(secret, token))
    if row is None or row.operator_id != operator_id:
        raise CullarrError("the unlock token is not valid", code="delete_unlock_invalid")
    if row.used_at is not None:
        raise CullarrError(
            "the unlock token was already used; unlock again", code="delete_unlock_invalid"
        )
    if row.expires_at <= now:
        raise CullarrError(
            "the unlock token has expired; unlock again", code="delete_unlock_expired"
        )
    updated = (
        DeleteModeUnlock.update(used_at=now, updated_at=now)
        .where(DeleteModeUnlock.id == row.id, DeleteModeUnlock.used_at.is_null())
        .execute()
    )
    if updated != 1:  # spent by a racing request between the read and this write
        raise CullarrError(
            "the unlock token was already used; unlock again", code="delete_unlock_invalid"
        )
    return row
