"""The system configuration keys an administrator changes at run time (Harbor's /api/v2.0/configurations):
their names, types and ranges, and their defaults, which come from berth.yml where it has them. Pure: no
SQL, no HTTP. A value is checked here once, whoever sends it (the API, and later the UI through it)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from ldap3.core.exceptions import LDAPInvalidDnError, LDAPInvalidFilterError
from ldap3.operation.search import parse_filter
from ldap3.utils.dn import parse_dn

from services.common.identity.models import ROBOT_PREFIX
from services.common.settings import Settings, parse_endpoint
from services.common.webhooks import check_allowlist

EVERYONE, ADMIN_ONLY = "everyone", "adminonly"
# Harbor's words, from its registry and API alike.
READ_ONLY_MESSAGE = "The system is in read only mode. Any modification is prohibited."
ROBOT_MAX_DAYS = 36500
DB_AUTH, LDAP_AUTH = "db_auth", "ldap_auth"
# Harbor's ldap_scope and ldap_group_search_scope: 0 base, 1 one level, 2 subtree.
LDAP_SCOPES = ("base", "onelevel", "subtree")
LDAP_MAX_TIMEOUT_SECONDS = 300
WEBHOOK_MAX_RETRY = 10
WEBHOOK_TIMEOUT_SECONDS = 3
ROBOT_PREFIX_MAX = 64


@dataclass(frozen=True, slots=True)
class ConfigKey:
    name: str
    kind: type  # bool, int or str: the JSON type a value must have
    default: Callable[[Settings], Any]
    choices: tuple[str, ...] = ()
    min: int | None = None
    max: int | None = None
    # Extra rule on a str value; raises ValueError with what is wrong (the key is added by parse()).
    check: Callable[[str], object] | None = None
    # `check` applies to "" too (otherwise "" means "not set" and passes).
    check_empty: bool = False
    # Never shown (GET /configurations leaves it out), never logged, never in an audit entry.
    secret: bool = False

    def parse(self, value: Any) -> Any:
        """`value` as this key holds it, or ValueError naming the key and what it takes."""
        # bool is an int to Python; JSON's true is no number, nor 1 a boolean.
        if type(value) is not self.kind:
            raise ValueError(f"{self.name} must be {_KIND_WORDS[self.kind]}, got {json_type(value)}")
        return self._in_range(value)

    def _in_range(self, value: Any) -> Any:
        if self.choices and value not in self.choices:
            raise ValueError(f"{self.name} must be one of {', '.join(self.choices)}")
        if self.kind is int and (
            (self.min is not None and value < self.min) or (self.max is not None and value > self.max)
        ):
            raise ValueError(f"{self.name} must be from {self.min} to {self.max}")
        if self.kind is str:
            if "\x00" in value or len(value) > 4096:
                raise ValueError(f"{self.name} must be text of at most 4096 characters, without NUL")
            if self.check is not None and (value or self.check_empty):
                try:
                    self.check(value)
                except ValueError as exc:
                    raise ValueError(f"{self.name}: {exc}") from None
        return value


_KIND_WORDS = {bool: "true or false", int: "an integer", str: "a string"}


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array"}.get(
        type(value), "an object"
    )


def _keys(*keys: ConfigKey) -> Mapping[str, ConfigKey]:
    return MappingProxyType({k.name: k for k in keys})


def check_ldap_url(value: str) -> None:
    parts = urlsplit(value.strip())
    if parts.scheme.lower() not in ("ldap", "ldaps") or not parts.hostname or parts.path not in ("", "/"):
        raise ValueError(f"{value[:200]!r} is not an ldap://host[:port] or ldaps://host[:port] URL")
    try:
        parts.port  # noqa: B018 - parsing it is the check
    except ValueError:
        raise ValueError(f"{value[:200]!r} has an invalid port") from None


def check_dn(value: str) -> None:
    try:
        parse_dn(value)
    except LDAPInvalidDnError:
        raise ValueError(f"{value[:200]!r} is not a DN") from None


def check_filter(value: str) -> None:
    text = value.strip()
    text = text if text.startswith("(") else f"({text})"  # bare filters are wrapped, as Harbor does
    try:
        parse_filter(text, None, auto_escape=False, auto_encode=False, validator=None, check_names=False)
    except LDAPInvalidFilterError as exc:
        raise ValueError(f"{value[:200]!r} is not an LDAP filter ({exc})") from None


# An attribute description: a name, or an OID (RFC 4512 §2.5); they go into LDAP filters unescaped.
_ATTRIBUTE = re.compile(r"^(?:[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)+)$")


def check_attribute(value: str) -> None:
    if not _ATTRIBUTE.match(value):
        raise ValueError(f"{value[:200]!r} is not an attribute name")


# What would break a robot's name in HTTP Basic (user:password), in the token service's account
# parameter or in audit and log lines; "+" separates a project robot's project from its name.
_PREFIX_FORBIDDEN = frozenset(":+,;/\\\"'")


def check_robot_prefix(value: str) -> None:
    if not value:
        raise ValueError("the prefix cannot be empty")
    if len(value) > ROBOT_PREFIX_MAX:
        raise ValueError(f"the prefix is at most {ROBOT_PREFIX_MAX} characters")
    bad = next((c for c in value if c in _PREFIX_FORBIDDEN or c.isspace() or not c.isprintable()), None)
    if bad is not None:
        raise ValueError(f"{bad!r} cannot be part of a robot name (no spaces, control characters or {':+,;/'})")


def _scope(name: str) -> int:
    return LDAP_SCOPES.index(name)


CATALOG: Mapping[str, ConfigKey] = _keys(
    # Pulls and reads only: the registry refuses pushes, mounts and deletes, core deletes, tags and copies.
    ConfigKey("read_only", bool, lambda s: False),
    # Minutes a registry token lasts (Harbor's token_expiration), read by the token service per token.
    ConfigKey("token_expiration", int, lambda s: s.token.expiration_minutes, min=1, max=60 * 24 * 365),
    ConfigKey("self_registration", bool, lambda s: s.self_registration),
    ConfigKey("project_creation_restriction", str, lambda s: EVERYONE, choices=(EVERYONE, ADMIN_ONLY)),
    ConfigKey("banner_message", str, lambda s: ""),
    # Minutes a web session lasts without use (Harbor's session_timeout).
    ConfigKey("session_timeout", int, lambda s: s.core.session_timeout_minutes, min=1, max=60 * 24 * 365),
    # Days a robot lives when it is created with duration 0 (Harbor's robot_token_duration).
    ConfigKey("robot_token_duration", int, lambda s: 30, min=1, max=ROBOT_MAX_DAYS),
    # Bytes a new project may hold, -1 unlimited (Harbor's storage_per_project; the quotas read it).
    ConfigKey("storage_per_project", int, lambda s: -1, min=-1, max=2**62),
    ConfigKey("audit_log_forward_endpoint", str, lambda s: s.audit_log_forward_endpoint, check=parse_endpoint),
    ConfigKey("skip_audit_log_database", bool, lambda s: s.skip_audit_log_database),
    # db_auth or ldap_auth; changed only while no account but the admin exists (ConfigService's rule).
    ConfigKey("auth_mode", str, lambda s: s.auth_mode, choices=(DB_AUTH, LDAP_AUTH)),
    # The directory (berth.yml's ldap: section, under Harbor's names); services.common.auth.live applies them.
    ConfigKey("ldap_url", str, lambda s: s.ldap.url, check=check_ldap_url),
    ConfigKey("ldap_search_dn", str, lambda s: s.ldap.search_dn, check=check_dn),
    ConfigKey("ldap_search_password", str, lambda s: s.ldap.search_password.reveal(), secret=True),
    ConfigKey("ldap_base_dn", str, lambda s: s.ldap.base_dn, check=check_dn),
    ConfigKey("ldap_filter", str, lambda s: s.ldap.filter, check=check_filter),
    ConfigKey("ldap_uid", str, lambda s: s.ldap.uid, check=check_attribute, check_empty=True),
    ConfigKey("ldap_scope", int, lambda s: _scope(s.ldap.scope), min=0, max=2),
    # Whole seconds, as Harbor's; berth.yml's fraction stands while the key is not set.
    ConfigKey("ldap_timeout", int, lambda s: max(1, math.ceil(s.ldap.timeout)), min=1, max=LDAP_MAX_TIMEOUT_SECONDS),
    ConfigKey("ldap_verify_cert", bool, lambda s: s.ldap.verify_cert),
    ConfigKey("ldap_group_base_dn", str, lambda s: s.ldap.group_base_dn, check=check_dn),
    ConfigKey("ldap_group_search_filter", str, lambda s: s.ldap.group_filter, check=check_filter),
    ConfigKey("ldap_group_attribute_name", str, lambda s: s.ldap.group_gid, check=check_attribute, check_empty=True),
    ConfigKey("ldap_group_search_scope", int, lambda s: _scope(s.ldap.group_scope), min=0, max=2),
    # Members of this group are system administrators while they are (as Harbor's).
    ConfigKey("ldap_group_admin_dn", str, lambda s: s.ldap.group_admin_dn, check=check_dn),
    ConfigKey(
        "ldap_group_membership_attribute", str, lambda s: s.ldap.group_membership_attribute, check=check_attribute
    ),
    # What new robots' names start with (Harbor's robot_name_prefix); earlier robots keep theirs.
    ConfigKey("robot_name_prefix", str, lambda s: ROBOT_PREFIX, check=check_robot_prefix, check_empty=True),
    # Webhooks (Harbor's notification_enable and its jobservice's webhook_job_* settings). Retries back off
    # exponentially (2, 4, 8 ... s): 10 cover a receiver away for half an hour; Harbor's 3 would not cover a
    # minute here. The timeout is for each request, in seconds (Harbor's 3).
    ConfigKey("notification_enable", bool, lambda s: True),
    ConfigKey("webhook_job_max_retry", int, lambda s: WEBHOOK_MAX_RETRY, min=0, max=100),
    ConfigKey("webhook_job_http_client_timeout", int, lambda s: WEBHOOK_TIMEOUT_SECONDS, min=1, max=600),
    # Host names, addresses and CIDR ranges a webhook may reach although they are internal (the SSRF guard,
    # services.common.webhooks); empty: none.
    ConfigKey("webhook_target_allowlist", str, lambda s: "", check=check_allowlist),
)
SECRET_KEYS = frozenset(name for name, key in CATALOG.items() if key.secret)


def defaults(settings: Settings) -> dict[str, Any]:
    return {name: key.default(settings) for name, key in CATALOG.items()}


def check_together(values: Mapping[str, Any]) -> None:
    """Rules across keys, on the values as they would be after a change; ValueError naming the keys."""
    if values["skip_audit_log_database"] and not values["audit_log_forward_endpoint"]:
        raise ValueError("skip_audit_log_database needs audit_log_forward_endpoint: entries would go nowhere")
