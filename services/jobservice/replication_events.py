"""Event-based replication (Harbor's `event_based` trigger): the jobservice's consumer group on the event
stream starts, for each push or tag of an artifact, an execution of every enabled event-based push policy
whose filters take it, copying that one artifact (an accessory or an index's child pushed on its own: the
top-level artifact it belongs to, which brings it along). Delivery is at least once: an event read twice starts a
second execution, which finds everything on the destination and copies nothing. An artifact deleted here
is deleted on the destination too by the policies with `replicate_deletion`, and so is a tag deleted on
its own (through a Harbor-type destination's API; a CNCF Distribution cannot delete a tag, and the task
says so, as Harbor's)."""

from __future__ import annotations

import socket

import structlog

from services.common.db import Database
from services.common.events.consumer import StreamConsumer
from services.common.events.models import Event, EventType
from services.common.jobs.models import REPLICATION
from services.common.jobs.replication import ReplicationParams
from services.common.jobs.submit import JobSubmitter
from services.common.redis import RedisClient
from services.jobservice import replication_store as store
from services.jobservice.replication_filters import deletion_taken, resource_type, select

log = structlog.get_logger()

GROUP = "jobservice-replication"
STARTING = frozenset({EventType.PUSH_ARTIFACT, EventType.CREATE_TAG})
DELETING = frozenset({EventType.DELETE_ARTIFACT, EventType.DELETE_TAG})


class ReplicationTrigger:
    def __init__(self, db: Database, redis: RedisClient, submitter: JobSubmitter) -> None:
        self._db = db
        self._submitter = submitter
        consumer = StreamConsumer(redis, GROUP, f"jobservice-{socket.gethostname()}", self._on_events)
        self.lifespan = consumer.lifespan

    async def _on_events(self, events: list[Event]) -> None:
        wanted = {(e.repository, e.digest, e.operator) for e in events if e.type in STARTING and e.digest}
        deleted = {
            (e.repository, e.digest, e.tag if e.type == EventType.DELETE_TAG else None, e.operator)
            for e in events
            if e.type in DELETING and e.digest
        }
        if not wanted and not deleted:
            return
        policies = await store.event_policies(self._db.pool)
        if not policies:
            return
        started: set[tuple[int, str, str]] = set()
        roots: set[tuple[str, str, str]] = set()
        for repository, digest, operator in wanted:
            assert digest is not None
            roots.update(
                (repository, root, operator) for root in await store.top_level(self._db.pool, repository, digest)
            )
        for repository, digest, operator in sorted(roots):
            for artifact in await store.local_artifacts(self._db.pool, repository, digest):
                kind = resource_type(artifact.media_type, artifact.config_media_type)
                for policy in policies:
                    taken = select(policy.filters, repository, digest, artifact.tags, artifact.labels, kind)
                    if taken is None or (policy.id, repository, digest) in started:
                        continue
                    started.add((policy.id, repository, digest))
                    await self._start(ReplicationParams(policy.id, "event_based", operator, repository, digest))
        for repository, digest, tag, operator in sorted(deleted, key=str):
            assert digest is not None
            for policy in policies:
                # Only the name and, for a tag, the tag are left to judge a deletion by.
                if not policy.replicate_deletion or not deletion_taken(policy.filters, repository, tag):
                    continue
                await self._start(
                    ReplicationParams(policy.id, "event_based", operator, repository, digest, deletion=True, tag=tag)
                )

    async def _start(self, params: ReplicationParams) -> None:
        job_id = await self._submitter.submit(REPLICATION, params.to_json(), trigger="EVENT")
        log.info(
            "replication_event_started",
            policy_id=params.policy_id,
            execution_id=job_id,
            repository=params.repository,
            digest=params.digest,
            deletion=params.deletion,
            tag=params.tag,
        )
