"""Authentication lives in `services.common.auth.authenticate`, shared with core; re-exported here."""

from __future__ import annotations

from services.common.auth.authenticate import (
    ANONYMOUS,
    MAX_NAME_LENGTH,
    MAX_PASSWORD_LENGTH,
    Authentication,
    Authenticator,
    Credentials,
    DatabaseAuthenticator,
    Identified,
    Principal,
    RobotAuthenticator,
    default_authenticators,
    parse_authorization,
)

__all__ = [
    "ANONYMOUS",
    "MAX_NAME_LENGTH",
    "MAX_PASSWORD_LENGTH",
    "Authentication",
    "Authenticator",
    "Credentials",
    "DatabaseAuthenticator",
    "Identified",
    "Principal",
    "RobotAuthenticator",
    "default_authenticators",
    "parse_authorization",
]
