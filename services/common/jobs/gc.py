"""Garbage collection's parameters (Harbor's GARBAGE_COLLECTION job): read by core when a run is asked for
(a 400 naming the field) and again by the job (a row whose parameters do not parse fails, recorded)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.common.jobs.params import flag, integer

DEFAULT_TIME_WINDOW_HOURS = 2
MAX_TIME_WINDOW_HOURS = 24 * 365
MAX_WORKERS = 5


@dataclass(frozen=True, slots=True)
class GcParams:
    delete_untagged: bool
    dry_run: bool
    workers: int
    # Nothing uploaded, mounted, linked or pushed within this many hours is collected (a push in
    # progress is never a victim); 0 for tests and operators who know nothing is pushing.
    time_window_hours: int

    def to_json(self) -> dict[str, Any]:
        return {
            "delete_untagged": self.delete_untagged,
            "dry_run": self.dry_run,
            "workers": self.workers,
            "time_window": self.time_window_hours,
        }


def parse_gc_params(data: Mapping[str, Any]) -> GcParams:
    """Harbor's parameters object; ValueError naming the field otherwise."""
    return GcParams(
        delete_untagged=flag(data, "delete_untagged"),
        dry_run=flag(data, "dry_run"),
        workers=integer(data, "workers", 1, MAX_WORKERS, default=1),
        time_window_hours=integer(data, "time_window", 0, MAX_TIME_WINDOW_HOURS, default=DEFAULT_TIME_WINDOW_HOURS),
    )
