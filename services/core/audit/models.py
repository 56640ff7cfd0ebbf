"""An audit log entry in Harbor's shape, and how an event becomes one."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from services.common.events.models import Event, EventType


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


# Harbor writes artifact operations as create/pull/delete of resource_type artifact, tags as tag, and so on.
_OPERATIONS: dict[EventType, tuple[str, str]] = {
    EventType.PUSH_ARTIFACT: ("create", "artifact"),
    EventType.PULL_ARTIFACT: ("pull", "artifact"),
    EventType.DELETE_ARTIFACT: ("delete", "artifact"),
    EventType.CREATE_TAG: ("create", "tag"),
    EventType.DELETE_TAG: ("delete", "tag"),
    EventType.DELETE_REPOSITORY: ("delete", "repository"),
}


def from_event(event: Event) -> AuditEntry:
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
