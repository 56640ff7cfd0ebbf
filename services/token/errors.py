"""What a token client can be told, one class per failure, in Harbor's `{"errors": [...]}` envelope."""

from __future__ import annotations

from collections.abc import Mapping

from services.common.errors import BerthError

CHALLENGE = {"WWW-Authenticate": 'Basic realm="berth"'}


class InvalidRequest(BerthError):
    code, status, default_message = "INVALID_REQUEST", 400, "invalid token request"


class UnknownService(InvalidRequest):
    default_message = "unknown service"


class MalformedScope(InvalidRequest):
    default_message = "malformed scope"


class MalformedCredentials(InvalidRequest):
    default_message = "malformed Authorization header"


class AccountMismatch(InvalidRequest):
    default_message = "the account parameter does not match the credentials"


class Unauthorized(BerthError):
    """Every 401 carries the Basic challenge, so clients know to (re)send credentials."""

    code, status, default_message = "UNAUTHORIZED", 401, "authentication required"

    def __init__(self, message: str | None = None, *, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message, headers={**CHALLENGE, **(headers or {})})


class InvalidCredentials(Unauthorized):
    default_message = "invalid user name or password"


class UnsupportedScheme(Unauthorized):
    default_message = "only HTTP Basic credentials are accepted here"


class AccountDisabled(Unauthorized):
    default_message = "the account is disabled"


class AccountExpired(Unauthorized):
    default_message = "the account has expired"


class NotFound(BerthError):
    code, status, default_message = "NOT_FOUND", 404, "not found"


class MethodNotAllowed(BerthError):
    code, status, default_message = "METHOD_NOT_ALLOWED", 405, "method not allowed"
