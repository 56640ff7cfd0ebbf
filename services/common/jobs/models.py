"""Jobs as rows: what a job is, its statuses, and the retry rule. Shared by core (which submits, stops and
reads jobs) and the jobservice (which runs them); the PostgreSQL row is the truth, Redis only carries ids."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["pending", "running", "success", "error", "stopped"]
Trigger = Literal["MANUAL", "SCHEDULE", "EVENT"]
FINISHED: frozenset[str] = frozenset({"success", "error", "stopped"})

# Job types, Harbor's names (its jobservice's job kinds).
PURGE_AUDIT_LOG = "PURGE_AUDIT_LOG"
GARBAGE_COLLECTION = "GARBAGE_COLLECTION"
RETENTION = "RETENTION"
REPLICATION = "REPLICATION"
WEBHOOK = "WEBHOOK"
JOB_TYPES = (PURGE_AUDIT_LOG, GARBAGE_COLLECTION, RETENTION, REPLICATION, WEBHOOK)
# Harbor's queue of the scheduler itself: pausing it pauses every schedule (no tick fires meanwhile).
SCHEDULER = "SCHEDULER"

# Retries: the n-th failed attempt waits BACKOFF_BASE_S * 2**(n-1), at most BACKOFF_MAX_S.
BACKOFF_BASE_S = 2.0
BACKOFF_MAX_S = 600.0


def backoff_seconds(attempts: int) -> float:
    """How long a job waits after its `attempts`-th failed attempt before the next one."""
    return min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2.0 ** max(0, attempts - 1))


@dataclass(frozen=True, slots=True)
class Job:
    id: int
    type: str
    parameters: dict[str, Any]
    status: Status
    trigger: Trigger
    attempts: int
    max_attempts: int
    stop_requested: bool
    worker: str | None
    error: str
    result: dict[str, Any]
    schedule_id: int | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    updated_at: dt.datetime

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


@dataclass(frozen=True, slots=True)
class LogLine:
    at: dt.datetime
    level: str
    message: str


@dataclass(frozen=True, slots=True)
class Schedule:
    id: int
    type: str
    vendor_id: int
    cron: str
    kind: str  # Harbor's schedule.type: Hourly, Daily, Weekly, Custom
    parameters: dict[str, Any] = field(default_factory=dict)
    last_tick: dt.datetime | None = None
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
