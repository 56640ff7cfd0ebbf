"""Garbage collection's parameters (Harbor's GARBAGE_COLLECTION job): read by core when a run is asked for
(a 400 naming the field) and again by the job (a row whose parameters do not parse fails, recorded)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

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


def _bool(data: Mapping[str, Any], key: str) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise ValueError(f"parameters.{key} must be true or false")
    return value


def _int(data: Mapping[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"parameters.{key} must be an integer from {low} to {high}")
    return value


def parse_gc_params(data: Mapping[str, Any]) -> GcParams:
    """Harbor's parameters object; ValueError naming the field otherwise."""
    return GcParams(
        delete_untagged=_bool(data, "delete_untagged"),
        dry_run=_bool(data, "dry_run"),
        workers=_int(data, "workers", 1, 1, MAX_WORKERS),
        time_window_hours=_int(data, "time_window", DEFAULT_TIME_WINDOW_HOURS, 0, MAX_TIME_WINDOW_HOURS),
    )
