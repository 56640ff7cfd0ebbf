"""What a token client can be told, one class per failure, in Harbor's `{"errors": [...]}` envelope.

The authentication refusals are shared with core and live in `services.common.auth.errors`."""

from __future__ import annotations

from services.common.auth.errors import (
    CHALLENGE,
    AccountDisabled,
    AccountExpired,
    InvalidCredentials,
    InvalidRequest,
    MalformedCredentials,
    Unauthorized,
    UnsupportedScheme,
)
from services.common.errors import BerthError

__all__ = [
    "CHALLENGE",
    "AccountDisabled",
    "AccountExpired",
    "AccountMismatch",
    "InvalidCredentials",
    "InvalidRequest",
    "MalformedCredentials",
    "MalformedScope",
    "MethodNotAllowed",
    "NotFound",
    "Unauthorized",
    "UnknownService",
    "UnsupportedScheme",
]


class UnknownService(InvalidRequest):
    default_message = "unknown service"


class MalformedScope(InvalidRequest):
    default_message = "malformed scope"


class AccountMismatch(InvalidRequest):
    default_message = "the account parameter does not match the credentials"


class NotFound(BerthError):
    code, status, default_message = "NOT_FOUND", 404, "not found"


class MethodNotAllowed(BerthError):
    code, status, default_message = "METHOD_NOT_ALLOWED", 405, "method not allowed"
