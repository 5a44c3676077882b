"""The single operator: email plus a password hashed with Argon2id (memory-hard)."""

from __future__ import annotations

import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from cullarrd.audit import AuditRecorder
from cullarrd.errors import ValidationFailed
from cullarrd.store.models import Operator
from cullarrd.timeutil import utcnow

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters


def hash_password(password: str) -> str:
    """An Argon2id digest of ``password`` (salted; never reversible)."""
    return _hasher.hash(password)


def verify_password(digest: str, password: str) -> bool:
    """True when ``password`` matches ``digest``; any malformed digest is a mismatch."""
    try:
        return _hasher.verify(digest, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def validate_credentials(email: object, password: object) -> tuple[str, str]:
    """Check an email/password pair, reporting every bad field at once."""
    errors: dict[str, list[str]] = {}
    if not isinstance(email, str) or not EMAIL.match(email.strip()) or len(email) > 254:
        errors["email"] = ["must be an email address"]
    if not isinstance(password, str):
        errors["password"] = ["must be a string"]
    elif not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        errors["password"] = [
            f"must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters long"
        ]
    if errors:
        raise ValidationFailed(errors)
    return str(email).strip().lower(), str(password)


def set_password(
    email: str,
    digest: str,
    audit: AuditRecorder,
    *,
    correlation_id: str | None = None,
    actor: dict | None = None,
) -> Operator:
    """Create the operator or reset its email and password (there is only ever one).

    Must run inside a store write; ``digest`` is computed beforehand, off the writer thread.
    """
    operator = Operator.select().order_by(Operator.id).first()
    now = utcnow()
    if operator is None:
        operator = Operator.create(email=email, password_digest=digest, created_at=now)
        event = "operator.created"
    else:
        operator.email = email
        operator.password_digest = digest
        operator.save()
        event = "operator.password_changed"
    audit.record(
        event,
        {"email": email, **({"actor": actor} if actor else {})},
        operator_id=operator.id,
        correlation_id=correlation_id,
    )
    return operator


def current_operator() -> Operator | None:
    """The operator, if one has been created."""
    return Operator.select().order_by(Operator.id).first()
