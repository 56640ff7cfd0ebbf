"""The refusals every Basic-authenticating service (token, core) can give, in Harbor's error codes."""

from __future__ import annotations

from collections.abc import Mapping

from services.common.errors import BerthError

CHALLENGE = {"WWW-Authenticate": 'Basic realm="berth"'}


class InvalidRequest(BerthError):
    code, status, default_message = "INVALID_REQUEST", 400, "invalid request"


class MalformedCredentials(InvalidRequest):
    default_message = "malformed Authorization header"


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
