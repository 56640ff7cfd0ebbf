"""A replication execution's parameters (Harbor's REPLICATION job): written by core when a policy is run
by hand (or, later, by its schedule or an event), read by the jobservice (a row whose parameters do not
parse fails, recorded)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.common.jobs.params import flag, integer

# Harbor's execution triggers, as its API shows them.
TRIGGERS = ("manual", "scheduled", "event_based")
# Who a scheduled execution runs as (Harbor shows the trigger).
SCHEDULED_OPERATOR = "SCHEDULE"


@dataclass(frozen=True, slots=True)
class ReplicationParams:
    policy_id: int
    trigger: str
    # Who asked for the execution (the scheduler for a scheduled one).
    operator: str
    # An event-based execution copies the one artifact whose push (or tag) started it.
    repository: str | None = None
    digest: str | None = None
    # The artifact was deleted here: delete it on the destination (a policy with replicate_deletion); with
    # `tag`, only that tag was deleted here, and only it goes on the destination.
    deletion: bool = False
    tag: str | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"policy_id": self.policy_id, "trigger": self.trigger, "operator": self.operator}
        if self.repository is not None:
            body.update(repository=self.repository, digest=self.digest, deletion=self.deletion)
        if self.tag is not None:
            body["tag"] = self.tag
        return body


def parse_replication_params(data: Mapping[str, Any]) -> ReplicationParams:
    trigger = data.get("trigger", "manual")
    if trigger not in TRIGGERS:
        raise ValueError(f"parameters.trigger must be one of {', '.join(TRIGGERS)}")
    operator = data.get("operator", "")
    if not isinstance(operator, str):
        raise ValueError("parameters.operator must be a user name")
    repository, digest = data.get("repository"), data.get("digest")
    if (repository is None) != (digest is None) or not all(isinstance(x, str | None) for x in (repository, digest)):
        raise ValueError("parameters.repository and parameters.digest go together, as strings")
    tag = data.get("tag")
    deletion = flag(data, "deletion")
    if tag is not None and not (isinstance(tag, str) and tag and deletion and digest is not None):
        raise ValueError("parameters.tag names the tag of a deletion, with its repository and digest")
    return ReplicationParams(
        policy_id=integer(data, "policy_id", 1, 2**62),
        trigger=trigger,
        operator=operator[:255],
        repository=repository,
        digest=digest,
        deletion=deletion,
        tag=tag,
    )
