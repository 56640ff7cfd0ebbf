"""Webhooks from the event stream: the jobservice's consumer group "jobservice-webhook" turns each push,
pull, delete, quota, retention and replication event into one delivery job (type WEBHOOK: Harbor's
execution, one task) per target of every enabled policy of the event's project that names the event's
type, its body built now (webhooks/payloads.py). The deliveries of one policy target form a chain,
delivered one at a time in the order the events came: a delivery made while an earlier one of its chain
is unfinished waits, and is released when that one ends (`released`, called by the worker after a WEBHOOK
job ends), or by the sweep when that one ended without a word (its worker died). An event read twice
makes no second delivery (the job's (chain, event_id) is unique). With `notification_enable` off, events
go by undelivered, as Harbor's."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import structlog

from services.common.config.live import SystemConfig
from services.common.db import Database
from services.common.events.consumer import StreamConsumer
from services.common.events.models import Event
from services.common.jobs.models import Job
from services.common.jobs.submit import JobSubmitter
from services.common.redis import RedisClient
from services.common.tasks import background, raise_if_cancelled
from services.jobservice import webhook_store as store
from services.jobservice.webhooks.payloads import WEBHOOK_EVENTS, body, harbor_payload

log = structlog.get_logger()

GROUP = "jobservice-webhook"
SWEEP_EVERY_S = 2.0


def chain_of(policy_id: int, target: int) -> str:
    return f"{policy_id}:{target}"


class WebhookTrigger:
    def __init__(
        self, db: Database, redis: RedisClient, submitter: JobSubmitter, config: SystemConfig, public_url: str
    ) -> None:
        self._db = db
        self._submitter = submitter
        self._config = config
        self._public_url = public_url
        self._consumer = StreamConsumer(redis, GROUP, f"jobservice-{socket.gethostname()}", self._on_events)

    async def lifespan(self, app: object) -> AsyncIterator[None]:
        async with background(self._sweep()):
            async for _ in self._consumer.lifespan(app):
                yield

    async def _on_events(self, events: list[Event]) -> None:
        wanted = [e for e in events if e.type in WEBHOOK_EVENTS]
        if not wanted or not self._config.get("notification_enable"):
            return
        due: list[int] = []
        for event in wanted:
            due.extend(await self._deliveries(event))
        if due:
            await self._submitter.hand_over(due)

    async def _deliveries(self, event: Event) -> list[int]:
        """The event's delivery jobs (made in one transaction); the ids of those due now."""
        project = await store.project_of(self._db.pool, event.repository)
        if project is None:
            return []  # the project is gone, and its policies with it
        policies = await store.policies_for(self._db.pool, project.id, str(event.type))
        if not policies:
            return []
        payload = harbor_payload(event, project, self._public_url)
        # One retry budget for the deliveries made now: what the configuration says when the event arrives.
        attempts = 1 + int(self._config.get("webhook_job_max_retry"))
        due = []
        async with self._db.transaction() as tx:
            for policy in policies:
                for index, target in enumerate(policy.targets):
                    notify_type = str(target.get("type", "http"))
                    content_type, text = body(
                        payload,
                        notify_type,
                        str(target.get("payload_format") or "Default"),
                        project.id,
                        policy.id,
                        str(event.event_id),
                    )
                    parameters = {
                        "policy_id": policy.id,
                        "project_id": project.id,
                        "target": index,
                        "notify_type": notify_type,
                        "event_type": str(event.type),
                        "event_id": str(event.event_id),
                        "chain": chain_of(policy.id, index),
                        "content_type": content_type,
                        "body": text,
                    }
                    made = await store.create_delivery(tx, parameters, attempts)
                    if made is not None and made[1]:
                        due.append(made[0])
        log.info("webhook_event", event_type=str(event.type), repository=event.repository, policies=len(policies))
        return due

    async def released(self, job: Job) -> None:
        """After a delivery ended (however): the next one of its chain goes."""
        chain = job.parameters.get("chain")
        if isinstance(chain, str):
            await self._release(chain)

    async def _release(self, chain: str) -> int | None:
        """The chain's next waiting delivery made due and handed to a worker, when nothing is ahead of it."""
        async with self._db.transaction() as tx:
            next_id = await store.release_next(tx, chain)
        if next_id is not None:
            await self._submitter.hand_over([next_id])
        return next_id

    async def _sweep(self) -> None:
        while True:
            raise_if_cancelled()
            await asyncio.sleep(SWEEP_EVERY_S)
            try:
                for chain in await store.stalled_chains(self._db.pool):
                    if (next_id := await self._release(chain)) is not None:
                        log.info("webhook_chain_released", chain=chain, job_id=next_id)
            except Exception as exc:  # the next sweep tries again; deliveries only wait longer
                log.warning("webhook_sweep_failed", error=str(exc))
