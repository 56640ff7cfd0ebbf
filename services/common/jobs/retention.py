"""A tag retention run's parameters (Harbor's RETENTION job): written by core when a run is asked for or a
policy's schedule is set, read by the job (a row whose parameters do not parse fails, recorded)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.common.jobs.params import flag, integer

# Who a scheduled run deletes as, in the events and the audit log (Harbor shows the trigger).
SCHEDULED_OPERATOR = "SCHEDULE"


@dataclass(frozen=True, slots=True)
class RetentionParams:
    policy_id: int
    dry_run: bool
    # The user who asked for the run; its deletes carry this name.
    operator: str

    def to_json(self) -> dict[str, Any]:
        return {"policy_id": self.policy_id, "dry_run": self.dry_run, "operator": self.operator}


def parse_retention_params(data: Mapping[str, Any]) -> RetentionParams:
    operator = data.get("operator", SCHEDULED_OPERATOR)
    if not isinstance(operator, str) or not operator:
        raise ValueError("parameters.operator must be a user name")
    return RetentionParams(
        policy_id=integer(data, "policy_id", 1, 2**62), dry_run=flag(data, "dry_run"), operator=operator[:255]
    )
