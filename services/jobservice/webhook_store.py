"""SQL of webhook deliveries (migration 0024): the policies an event goes to, what its payload says of the
project and repository, and the delivery jobs, one chain at a time per policy target (a delivery waits,
pending with run_after 'infinity', until the one before it in its chain has ended)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import asyncpg

from services.common.db import Executor
from services.jobservice.webhooks.payloads import EventProject

_CHAIN_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended('webhook:' || $1, 0))"
# An unfinished delivery that is not waiting: the one its chain's next delivery waits for.
_AHEAD = "type = 'WEBHOOK' AND status IN ('pending', 'running') AND run_after <> 'infinity'"


@dataclass(frozen=True, slots=True)
class WebhookPolicy:
    id: int
    project_id: int
    name: str
    event_types: tuple[str, ...]
    targets: list[dict[str, Any]]


def _policy(row: asyncpg.Record) -> WebhookPolicy:
    return WebhookPolicy(
        row["id"], row["project_id"], row["name"], tuple(row["event_types"]), json.loads(row["targets"])
    )


async def project_of(ex: Executor, repository: str) -> EventProject | None:
    """The project of `repository` (its first path component), with the repository's creation time when it
    still exists."""
    row = await ex.fetchrow(
        "SELECT p.id, p.name, p.public, (SELECT r.created_at FROM repositories r WHERE r.name = $1) AS created_at"
        " FROM projects p WHERE p.name = split_part($1, '/', 1)",
        repository,
    )
    return None if row is None else EventProject(row["id"], row["name"], row["public"], row["created_at"])


async def policies_for(ex: Executor, project_id: int, event_type: str) -> list[WebhookPolicy]:
    rows = await ex.fetch(
        "SELECT id, project_id, name, event_types, targets FROM webhook_policies"
        " WHERE project_id = $1 AND enabled AND $2 = ANY (event_types) ORDER BY id",
        project_id,
        event_type,
    )
    return [_policy(r) for r in rows]


async def policy(ex: Executor, policy_id: int) -> WebhookPolicy | None:
    row = await ex.fetchrow(
        "SELECT id, project_id, name, event_types, targets FROM webhook_policies WHERE id = $1", policy_id
    )
    return None if row is None else _policy(row)


async def create_delivery(ex: Executor, parameters: dict[str, Any], max_attempts: int) -> tuple[int, bool] | None:
    """The delivery's job: (id, due now) — not due while an earlier delivery of its chain is unfinished.
    None when this event was already given to this chain (the stream handed it over again). Run in a
    transaction: the chain's lock holds until it commits, so a delivery ending meanwhile sees this one."""
    chain = parameters["chain"]
    await ex.execute(_CHAIN_LOCK, chain)
    waits = await ex.fetchval(
        "SELECT EXISTS (SELECT 1 FROM jobs WHERE type = 'WEBHOOK' AND status IN ('pending', 'running')"
        " AND parameters->>'chain' = $1)",
        chain,
    )
    row = await ex.fetchrow(
        "INSERT INTO jobs (type, parameters, trigger, max_attempts, run_after)"
        " VALUES ('WEBHOOK', $1::jsonb, 'EVENT', $2, CASE WHEN $3 THEN 'infinity'::timestamptz ELSE now() END)"
        " ON CONFLICT ((parameters->>'chain'), (parameters->>'event_id')) WHERE type = 'WEBHOOK' DO NOTHING"
        " RETURNING id",
        json.dumps(parameters),
        max_attempts,
        waits,
    )
    return None if row is None else (row["id"], not waits)


async def release_next(ex: Executor, chain: str, ending: int | None = None) -> int | None:
    """The chain's oldest waiting delivery made due, now that the one before it has ended (or, `ending`,
    is about to: the running delivery that takes it on itself); its id. Run in a transaction (the chain's
    lock)."""
    await ex.execute(_CHAIN_LOCK, chain)
    ahead = await ex.fetchval(
        f"SELECT EXISTS (SELECT 1 FROM jobs WHERE {_AHEAD} AND parameters->>'chain' = $1 AND id <> $2)",
        chain,
        ending or 0,
    )
    if ahead:
        return None
    value: int | None = await ex.fetchval(
        "UPDATE jobs SET run_after = now(), updated_at = now() WHERE id = (SELECT min(id) FROM jobs"
        " WHERE type = 'WEBHOOK' AND status = 'pending' AND run_after = 'infinity' AND parameters->>'chain' = $1)"
        " RETURNING id",
        chain,
    )
    return value


async def stalled_chains(ex: Executor) -> list[str]:
    """Chains whose oldest waiting delivery has nothing ahead of it any more: the one before it ended without
    releasing it (its worker died and the reaper failed it, or it was stopped while pending)."""
    rows = await ex.fetch(
        "SELECT DISTINCT w.parameters->>'chain' AS chain FROM jobs w"
        " WHERE w.type = 'WEBHOOK' AND w.status = 'pending' AND w.run_after = 'infinity'"
        " AND NOT EXISTS (SELECT 1 FROM jobs a WHERE a.type = 'WEBHOOK' AND a.status IN ('pending', 'running')"
        " AND a.run_after <> 'infinity' AND a.parameters->>'chain' = w.parameters->>'chain')"
    )
    return [r["chain"] for r in rows]
