"""The audit log purge's parameters (Harbor's PURGE_AUDIT_LOG job): read by core when a purge is asked for
(a 400 naming the field) and again by the job (a row whose parameters do not parse fails, recorded)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.common.jobs.params import flag, integer

# Harbor's UI offers 1 hour to 10,000 days; Berth takes any positive number of hours up to that.
MAX_RETENTION_HOURS = 24 * 10_000


@dataclass(frozen=True, slots=True)
class PurgeAuditParams:
    retention_hours: int
    # `<operation>_<resource_type>` of the entries to purge (Harbor's include_event_types); empty: none.
    event_types: tuple[str, ...]
    dry_run: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "audit_retention_hour": self.retention_hours,
            "include_event_types": ",".join(self.event_types),
            "dry_run": self.dry_run,
        }


def parse_purge_params(data: Mapping[str, Any], known_event_types: frozenset[str] | None = None) -> PurgeAuditParams:
    """Harbor's parameters object; ValueError naming the field otherwise."""
    hours = integer(data, "audit_retention_hour", 1, MAX_RETENTION_HOURS)
    raw_types = data.get("include_event_types", "")
    if not isinstance(raw_types, str):
        raise ValueError("parameters.include_event_types must be a comma-separated string of event types")
    types = tuple(dict.fromkeys(t.strip().lower() for t in raw_types.split(",") if t.strip()))
    if known_event_types is not None and (unknown := [t for t in types if t not in known_event_types]):
        raise ValueError(f"parameters.include_event_types: unknown event type {unknown[0][:60]!r}")
    return PurgeAuditParams(retention_hours=hours, event_types=types, dry_run=flag(data, "dry_run"))
