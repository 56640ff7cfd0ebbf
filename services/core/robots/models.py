"""Robot accounts as the REST API shows them (never the secret hash), what a request asks for, and
Harbor's rules for robot names and durations. Pure: no aiohttp, no SQL."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from services.common.identity.models import RobotLevel, RobotPermission

MAX_ROBOT_NAME = 255
MAX_DESCRIPTION = 1024
MAX_DURATION_DAYS = 36_500
NEVER = -1
# Harbor's robot name rule; it also keeps '$' and '+' (the separators of the full name) out.
ROBOT_NAME = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*")


@dataclass(frozen=True, slots=True)
class RobotView:
    """A robot account without its secret hash: nothing read for the API can leak it."""

    id: int
    name: str
    description: str
    level: RobotLevel
    project_id: int | None
    project_name: str | None
    disabled: bool
    expires_at: dt.datetime | None
    permissions: tuple[RobotPermission, ...]
    created_at: dt.datetime
    updated_at: dt.datetime

    @property
    def duration(self) -> int:
        """Days from creation to expiry, as Harbor reports it (-1: never)."""
        if self.expires_at is None:
            return NEVER
        return max(round((self.expires_at - self.created_at) / dt.timedelta(days=1)), 1)


@dataclass(frozen=True, slots=True)
class NewRobot:
    name: str
    description: str
    level: RobotLevel
    duration: int
    disabled: bool
    permissions: tuple[RobotPermission, ...]
    secret: str | None  # None: generate one


@dataclass(frozen=True, slots=True)
class RobotChanges:
    """A PUT: None leaves a field unchanged."""

    description: str | None
    duration: int | None
    disabled: bool | None
    permissions: tuple[RobotPermission, ...] | None


def robot_name_problem(name: str) -> str | None:
    if not name or len(name) > MAX_ROBOT_NAME or ROBOT_NAME.fullmatch(name) is None:
        return f"name must be 1 to {MAX_ROBOT_NAME} lowercase letters and digits, separated by single . _ or -"
    return None


def duration_problem(duration: int) -> str | None:
    if duration != NEVER and not 1 <= duration <= MAX_DURATION_DAYS:
        return f"duration must be -1 (never) or 1 to {MAX_DURATION_DAYS} days"
    return None


def expiry(created_at: dt.datetime, duration: int) -> dt.datetime | None:
    return None if duration == NEVER else created_at + dt.timedelta(days=duration)
