"""Replication policy rules, as Harbor's replication controller: the system administrator manages them
(Harbor's `replication-policy` resource, which no robot can be granted); a policy copies between this
registry and one registry endpoint that exists, in one direction; its filters, trigger and destination
namespace are checked before it is stored. No aiohttp here."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from services.common.auth.authenticate import Principal
from services.common.db import Database, Executor
from services.common.jobs import store as jobs_store
from services.common.jobs.models import REPLICATION
from services.common.jobs.replication import SCHEDULED_OPERATOR, ReplicationParams
from services.common.rbac import Action
from services.core.errors import BadRequest
from services.core.listing import Page, SortKey, Term
from services.core.registries import store as registry_store
from services.core.registries.models import HARBOR, HEALTHY, LOCAL_ID, RegistryView
from services.core.replication import store
from services.core.replication.models import SCHEDULED, PolicyFields, PolicyNotFound, PolicyView, field_problem
from services.core.security.access import require_system

log = structlog.get_logger()

RESOURCE = "replication-policy"
# Harbor shows a registry it has no time for (its Local one) with Go's zero time.
_ZERO_TIME = dt.datetime(1, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True)
class PolicyDetail:
    """A policy with its two registries as Harbor shows them (this registry as Harbor's "Local", id 0)."""

    policy: PolicyView
    src_registry: RegistryView
    dest_registry: RegistryView


async def _schedule(tx: Executor, policy_id: int, fields: PolicyFields) -> None:
    """A scheduled, enabled policy has the schedules row the jobservice's scheduler fires (vendor_id: the
    policy); any other has none."""
    if fields.trigger_type != SCHEDULED or not fields.enabled:
        await jobs_store.delete_schedule(tx, REPLICATION, policy_id)
        return
    params = ReplicationParams(policy_id=policy_id, trigger="scheduled", operator=SCHEDULED_OPERATOR)
    await jobs_store.put_schedule(tx, REPLICATION, policy_id, fields.cron, "Custom", params.to_json())


def _missing(policy_id: int) -> PolicyNotFound:
    return PolicyNotFound(f"replication policy {policy_id} not found")


class ReplicationPolicyService:
    def __init__(self, db: Database, local_url: str) -> None:
        self._db = db
        self._local = RegistryView(
            id=LOCAL_ID,
            name="Local",
            description="",
            type=HARBOR,
            url=local_url,
            insecure=False,
            ca_certificate="",
            credential_type="",
            access_key="",
            has_secret=False,
            status=HEALTHY,
            status_reason="",
            created_at=_ZERO_TIME,
            updated_at=_ZERO_TIME,
        )

    async def list(
        self, principal: Principal, name: str | None, terms: Sequence[Term], sort: Sequence[SortKey], page: Page
    ) -> tuple[list[PolicyDetail], int]:
        require_system(principal, RESOURCE, Action.LIST, "list replication policies")
        policies, total = await store.list_policies(self._db.pool, name, terms, sort, page)
        return [await self._detail(p) for p in policies], total

    async def get(self, principal: Principal, policy_id: int) -> PolicyDetail:
        require_system(principal, RESOURCE, Action.READ, "read replication policies")
        found = await store.policy(self._db.pool, policy_id)
        if found is None:
            raise _missing(policy_id)
        return await self._detail(found)

    async def create(self, principal: Principal, fields: PolicyFields) -> PolicyView:
        require_system(principal, RESOURCE, Action.CREATE, "create replication policies")
        await self._check(fields)
        async with self._db.transaction() as tx:
            created = await store.create_policy(tx, fields, principal.name)
            await _schedule(tx, created.id, fields)
        log.info("replication_policy_created", policy_id=created.id, by=principal.name)
        return created

    async def update(self, principal: Principal, policy_id: int, fields: PolicyFields) -> PolicyView:
        require_system(principal, RESOURCE, Action.UPDATE, "update replication policies")
        if await store.policy(self._db.pool, policy_id) is None:
            raise _missing(policy_id)
        await self._check(fields)
        async with self._db.transaction() as tx:
            updated = await store.update_policy(tx, policy_id, fields)
            if updated is None:
                raise _missing(policy_id)
            await _schedule(tx, policy_id, fields)
        log.info("replication_policy_updated", policy_id=policy_id, by=principal.name)
        return updated

    async def delete(self, principal: Principal, policy_id: int) -> None:
        require_system(principal, RESOURCE, Action.DELETE, "delete replication policies")
        async with self._db.transaction() as tx:
            await jobs_store.delete_schedule(tx, REPLICATION, policy_id)
            if await store.delete_policy(tx, policy_id) is None:
                raise _missing(policy_id)
        log.info("replication_policy_deleted", policy_id=policy_id, by=principal.name)

    async def _check(self, fields: PolicyFields) -> None:
        if problem := field_problem(fields):
            raise BadRequest(problem)
        for key, registry_id in (("src_registry", fields.src_registry_id), ("dest_registry", fields.dest_registry_id)):
            if registry_id is not None and await registry_store.registry(self._db.pool, registry_id) is None:
                raise BadRequest(f"{key}: registry {registry_id} does not exist")

    async def _detail(self, policy: PolicyView) -> PolicyDetail:
        async def registry(registry_id: int | None) -> RegistryView:
            if registry_id is None:
                return self._local
            found = await registry_store.registry(self._db.pool, registry_id)
            assert found is not None  # the foreign key keeps it while a policy names it
            return found[0]

        return PolicyDetail(
            policy, await registry(policy.fields.src_registry_id), await registry(policy.fields.dest_registry_id)
        )
