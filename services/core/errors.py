"""What a REST API client can be told: one class per failure, Harbor's codes, Harbor's envelope.

Services raise these (they carry no aiohttp); `error_middleware(harbor_envelope)` renders them.
"""

from __future__ import annotations

from services.common.auth.errors import Unauthorized
from services.common.config.keys import READ_ONLY_MESSAGE
from services.common.errors import BerthError
from services.common.identity.errors import Conflict

__all__ = [
    "BadRequest",
    "Conflict",
    "CsrfFailed",
    "Forbidden",
    "LdapNotEnabled",
    "LdapUnavailable",
    "LoginFailed",
    "MemberNotFound",
    "MethodNotAllowed",
    "NotFound",
    "PayloadTooLarge",
    "ProjectNotEmpty",
    "ProjectNotFound",
    "RobotNotFound",
    "Unauthorized",
    "UserGroupNotFound",
    "UserNotFound",
]


class BadRequest(BerthError):
    code, status, default_message = "BAD_REQUEST", 400, "bad request"


class Forbidden(BerthError):
    code, status, default_message = "FORBIDDEN", 403, "forbidden"


class NotFound(BerthError):
    code, status, default_message = "NOT_FOUND", 404, "not found"


class ProjectNotFound(NotFound):
    default_message = "project not found"


class MemberNotFound(NotFound):
    default_message = "project member not found"


class UserNotFound(NotFound):
    default_message = "user not found"


class MethodNotAllowed(BerthError):
    code, status, default_message = "METHOD_NOT_ALLOWED", 405, "method not allowed"


class ProjectNotEmpty(BerthError):
    code, status, default_message = "PRECONDITION", 412, "the project still contains repositories"


class PreconditionFailed(BerthError):
    code, status, default_message = "PRECONDITION", 412, "a precondition of the request does not hold"


class RegistryInUse(BerthError):
    code, status, default_message = "PRECONDITION", 412, "the registry is referenced by replication policies"


class PayloadTooLarge(BerthError):
    code, status, default_message = "PAYLOAD_TOO_LARGE", 413, "the request body is too large"


class RobotNotFound(NotFound):
    default_message = "robot account not found"


class LoginFailed(BerthError):
    """A refused /c/login. Unlike `Unauthorized` it carries no Basic challenge: a browser's login form
    answered with one would open the browser's own password dialog."""

    code, status, default_message = "UNAUTHORIZED", 401, "invalid user name or password"


class CsrfFailed(Forbidden):
    default_message = "CSRF token invalid: send the X-Harbor-CSRF-Token header the API gave you"


class UserGroupNotFound(NotFound):
    default_message = "user group not found"


class LdapNotEnabled(BadRequest):
    """An LDAP operation while `auth_mode` is not ldap_auth. Harbor's spec lists 400 (not 412) for these
    endpoints, so clients generated from it handle it; the message says what to change."""

    default_message = "LDAP is not enabled: set auth_mode to ldap_auth to search or import LDAP users and groups"


class LdapUnavailable(BerthError):
    """The configured directory did not answer (or refused the search account)."""

    code, status, default_message = "SERVICE_UNAVAILABLE", 503, "the LDAP directory is not available"


class ReadOnlyMode(BerthError):
    # The registry's answer too (services.registry.errors.ReadOnlyMode): 405, DENIED, Harbor's words.
    code, status, default_message = "DENIED", 405, READ_ONLY_MESSAGE


class QuotaNotFound(NotFound):
    default_message = "quota not found"


class QuotaExceededError(BerthError):
    # Harbor's answer to a copy past the project's limit: 403 DENIED, the quota's message.
    code, status, default_message = "DENIED", 403, "the project's storage quota is exceeded"
