"""An audit log entry in Harbor's shape, and how an event becomes one."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from services.common.events.models import Event, EventType
from services.core.auditing import AuditRecord
from services.core.listing import ListKeys

# The audit log lists: q on each shown field (op_time as a range), sorted by the same fields.
AUDIT_LIST = ListKeys(
    filters={"operation": "str", "resource": "str", "resource_type": "str", "username": "str", "op_time": "time"},
    sorts=frozenset({"op_time", "operation", "resource", "resource_type", "username"}),
)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    operation: str
    resource_type: str
    resource: str
    username: str
    op_time: dt.datetime
    # Resolved from `project` when written; None for system-level entries.
    project: str | None = None
    event_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class AuditView:
    id: int
    project_id: int | None
    operation: str
    resource_type: str
    resource: str
    username: str
    op_time: dt.datetime
    operation_description: str = ""
    operation_result: bool = True


# Harbor writes artifact operations as create/pull/delete of resource_type artifact, tags as tag, and so on.
_OPERATIONS: dict[EventType, tuple[str, str]] = {
    EventType.PUSH_ARTIFACT: ("create", "artifact"),
    EventType.PULL_ARTIFACT: ("pull", "artifact"),
    EventType.DELETE_ARTIFACT: ("delete", "artifact"),
    EventType.CREATE_TAG: ("create", "tag"),
    EventType.DELETE_TAG: ("delete", "tag"),
    EventType.DELETE_REPOSITORY: ("delete", "repository"),
}


def from_event(event: Event) -> AuditEntry | None:
    """The event's audit entry; None for the events Harbor does not audit (quota warnings and refusals)."""
    if event.type not in _OPERATIONS:
        return None
    operation, resource_type = _OPERATIONS[event.type]
    if resource_type == "repository":
        resource = event.repository
    elif resource_type == "tag" or (event.type == EventType.PUSH_ARTIFACT and event.tag):
        resource = f"{event.repository}:{event.tag}"
    else:
        resource = f"{event.repository}@{event.digest}"
    return AuditEntry(
        operation=operation,
        resource_type=resource_type,
        resource=resource,
        username=event.operator,
        op_time=event.occurred_at,
        project=event.project,
        event_id=event.event_id,
    )


def forwarded(entry: AuditEntry) -> AuditRecord:
    """An event's entry as it is forwarded; it has no description, as in the database."""
    return AuditRecord(
        op_time=entry.op_time,
        operator=entry.username,
        operation=entry.operation,
        resource_type=entry.resource_type,
        resource=entry.resource,
        project=entry.project,
        description="",
        event_id=entry.event_id,
    )


# Harbor 2.13's AuditLogEventType list: `<operation>_<resource_type>` of every entry Berth writes, those from
# the registry's events and core's own. Configuration changes are absent: Berth has no configuration API.
EVENT_TYPES: tuple[str, ...] = (
    *(f"{operation}_{resource_type}" for operation, resource_type in _OPERATIONS.values()),
    "login_user",
    "logout_user",
    "create_user",
    "update_user",
    "delete_user",
    "create_project",
    "update_project",
    "delete_project",
    "create_member",
    "update_member",
    "delete_member",
    "create_robot",
    "update_robot",
    "delete_robot",
    "create_user-group",
    "update_user-group",
    "delete_user-group",
)
