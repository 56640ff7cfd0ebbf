"""The system configuration keys an administrator changes at run time (Harbor's /api/v2.0/configurations):
their names, types and ranges, and their defaults, which come from berth.yml where it has them. Pure: no
SQL, no HTTP. A value is checked here once, whoever sends it (the API, and later the UI through it)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from services.common.settings import Settings, parse_endpoint

EVERYONE, ADMIN_ONLY = "everyone", "adminonly"
# Harbor's words, from its registry and API alike.
READ_ONLY_MESSAGE = "The system is in read only mode. Any modification is prohibited."
ROBOT_MAX_DAYS = 36500


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
            if self.check is not None and value:
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


# auth_mode, ldap_* and robot_name_prefix are not here yet: they need core's and the token service's
# authenticators rebuilt at run time.
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
)


def defaults(settings: Settings) -> dict[str, Any]:
    return {name: key.default(settings) for name, key in CATALOG.items()}


def check_together(values: Mapping[str, Any]) -> None:
    """Rules across keys, on the values as they would be after a change; ValueError naming the keys."""
    if values["skip_audit_log_database"] and not values["audit_log_forward_endpoint"]:
        raise ValueError("skip_audit_log_database needs audit_log_forward_endpoint: entries would go nowhere")
