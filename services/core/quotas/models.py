"""A project's quota as the API shows it: the limit, the usage, and the project it is of."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from services.core.listing import ListKeys

# Harbor's sort keys for GET /quotas (hard.storage, used.storage and the times); no q.
QUOTA_LIST = ListKeys(
    filters={}, sorts=frozenset({"hard.storage", "used.storage", "creation_time", "update_time", "id"})
)
REFERENCE = "project"


@dataclass(frozen=True, slots=True)
class QuotaView:
    id: int
    project_id: int
    project_name: str
    owner_name: str
    hard: int
    used: int
    created_at: dt.datetime
    updated_at: dt.datetime


def valid_limit(value: int) -> bool:
    """-1 (unlimited) or a number of bytes; a limit below the usage is allowed (pushes that add are refused)."""
    return value == -1 or 0 <= value <= 2**62
