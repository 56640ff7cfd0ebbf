"""A replication execution's tasks and counts as the service and the API see them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

# Harbor's execution and task statuses, as its API shows and filters them.
EXECUTION_STATUSES = ("InProgress", "Succeed", "Failed", "Stopped")
TASK_STATUSES = ("Pending", "InProgress", "Succeed", "Failed", "Stopped")


@dataclass(frozen=True, slots=True)
class ExecutionFilter:
    policy_id: int | None = None
    status: str | None = None
    trigger: str | None = None


@dataclass(frozen=True, slots=True)
class TaskCounts:
    total: int
    failed: int
    succeed: int
    in_progress: int
    stopped: int


@dataclass(frozen=True, slots=True)
class TaskView:
    id: int
    job_id: int
    operation: str
    resource_type: str
    src_resource: str
    dst_resource: str
    status: str
    digest: str
    bytes: int
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
