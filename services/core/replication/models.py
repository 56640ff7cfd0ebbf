"""A replication policy as the service and the API see it, and Harbor's rules for its fields (its policy
model's Validate, with the reasons Berth gives)."""

from __future__ import annotations

import datetime as dt
import string
from dataclasses import dataclass
from typing import Any

from services.common.immutable import pattern_problem
from services.common.jobs.cron import check_cron
from services.core.errors import NotFound
from services.core.listing import ListKeys

MANUAL, SCHEDULED, EVENT_BASED = "manual", "scheduled", "event_based"
TRIGGERS = (MANUAL, SCHEDULED, EVENT_BASED)
FILTER_TYPES = ("name", "tag", "label", "resource")
DECORATIONS = ("matches", "excludes")
RESOURCE_TYPES = ("image", "artifact")
MAX_NAME = 256
MAX_DESCRIPTION = 1024
MAX_FILTERS = 16
MAX_LABELS = 16
MAX_NAMESPACE = 255
# Harbor's int8 dest_namespace_replace_count; -1 is its legacy mode.
MAX_REPLACE_COUNT = 127
# KB/s as an int32.
MAX_SPEED = 2**31 - 1
_PATH_CHARS = frozenset(string.ascii_lowercase + string.digits + "._-")
POLICY_LIST = ListKeys(
    filters={"name": "str", "enabled": "bool"},
    sorts=frozenset({"id", "name", "creation_time", "update_time"}),
)


class PolicyNotFound(NotFound):
    default_message = "replication policy not found"


@dataclass(frozen=True, slots=True)
class Filter:
    type: str
    value: str | tuple[str, ...]  # a label filter's value is a list of label names
    decoration: str = "matches"

    def to_json(self) -> dict[str, Any]:
        value = list(self.value) if isinstance(self.value, tuple) else self.value
        return {"type": self.type, "value": value, "decoration": self.decoration}


@dataclass(frozen=True, slots=True)
class PolicyFields:
    """A whole policy as a create gives it or an update replaces it (Harbor's PUT takes the whole policy).
    A registry id of None is this registry."""

    name: str
    src_registry_id: int | None
    dest_registry_id: int | None
    description: str = ""
    dest_namespace: str = ""
    dest_namespace_replace_count: int = -1
    trigger_type: str = MANUAL
    cron: str = ""
    filters: tuple[Filter, ...] = ()
    replicate_deletion: bool = False
    override: bool = False
    enabled: bool = True
    speed: int = 0
    copy_by_chunk: bool = False
    single_active_replication: bool = False


@dataclass(frozen=True, slots=True)
class PolicyView:
    id: int
    fields: PolicyFields
    creator: str
    created_at: dt.datetime
    updated_at: dt.datetime


def field_problem(fields: PolicyFields) -> str | None:
    """Why Harbor (or Berth) would refuse the policy; None when it holds. The registries' existence and
    types are the service's to check."""
    if not fields.name.strip():
        return "name cannot be empty"
    if len(fields.name) > MAX_NAME or any(ord(c) < 32 or ord(c) == 127 for c in fields.name):
        return f"name must be at most {MAX_NAME} characters, without control characters"
    if len(fields.description) > MAX_DESCRIPTION:
        return f"description is too long: at most {MAX_DESCRIPTION} characters"
    if (fields.src_registry_id is None) == (fields.dest_registry_id is None):
        return "either src_registry or dest_registry should be empty and the other one shouldn't be empty"
    if len(fields.dest_namespace) > MAX_NAMESPACE:
        return f"dest_namespace is too long: at most {MAX_NAMESPACE} characters"
    if fields.dest_namespace and (problem := _namespace_problem(fields.dest_namespace)):
        return problem
    if not -1 <= fields.dest_namespace_replace_count <= MAX_REPLACE_COUNT:
        return f"dest_namespace_replace_count must be -1 (legacy) to {MAX_REPLACE_COUNT}"
    if not 0 <= fields.speed <= MAX_SPEED:
        return f"speed must be 0 (no limit) to {MAX_SPEED} KB/s"
    if fields.trigger_type not in TRIGGERS:
        return f"trigger.type must be one of {', '.join(TRIGGERS)}, not {fields.trigger_type[:40]!r}"
    if fields.trigger_type == SCHEDULED:
        if not fields.cron:
            return "trigger.trigger_settings.cron cannot be empty when the trigger type is scheduled"
        try:
            check_cron(fields.cron)
        except ValueError as exc:
            return f"trigger.trigger_settings.cron: {exc}"
        if fields.cron.split()[0] != "0":
            return "trigger.trigger_settings.cron: the 1st field (seconds) must be 0"
    if fields.trigger_type == EVENT_BASED and fields.src_registry_id is not None:
        return "trigger.type event_based needs this registry as the source (a push policy: no src_registry)"
    if len(fields.filters) > MAX_FILTERS:
        return f"at most {MAX_FILTERS} filters"
    seen: set[str] = set()
    for i, f in enumerate(fields.filters):
        if problem := _filter_problem(f):
            return f"filters[{i}]: {problem}"
        if f.type in seen:
            return f"filters[{i}]: a second {f.type} filter (one of each type)"
        seen.add(f.type)
    return None


def _filter_problem(f: Filter) -> str | None:
    if f.type not in FILTER_TYPES:
        return f"type must be one of {', '.join(FILTER_TYPES)}, not {f.type[:40]!r}"
    if f.decoration not in DECORATIONS:
        return f"decoration must be matches or excludes, not {f.decoration[:40]!r}"
    if f.type == "label":
        if not isinstance(f.value, tuple):
            return "the value of a label filter is a list of label names"
        if len(f.value) > MAX_LABELS or any(not x or len(x) > 128 for x in f.value):
            return f"a label filter names 1 to 128 characters long labels, at most {MAX_LABELS}"
        return None
    if not isinstance(f.value, str):
        return f"the value of a {f.type} filter is a string"
    if f.type == "resource":
        if f.value not in RESOURCE_TYPES:
            return f"resource must be one of {', '.join(RESOURCE_TYPES)}, not {f.value[:40]!r}"
        return None
    if (problem := pattern_problem(f.value)) is not None:
        return f"the {f.type} pattern {problem}"
    return None


def _namespace_problem(namespace: str) -> str | None:
    """A destination namespace is one or more repository path components (Harbor puts it in front of, or in
    place of, the first components of each repository's name)."""
    for part in namespace.split("/"):
        if not part or any(c not in _PATH_CHARS for c in part) or part[0] in "._-":
            return f"dest_namespace {namespace[:100]!r} is not a repository path (lower-case letters, digits, . _ -)"
    return None
