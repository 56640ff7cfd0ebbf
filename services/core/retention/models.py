"""A stored retention policy and a run's per-repository task, as the service and the API see them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class StoredPolicy:
    id: int
    project_id: int
    document: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Task:
    id: int
    job_id: int
    repository: str
    status: str
    total: int
    retained: int
    started_at: dt.datetime
    finished_at: dt.datetime | None
