"""Submitting a job, for whoever asks for one (core's API, the jobservice's scheduler): the row first,
which is the truth, then its id on the stream. A Redis that does not answer delays the job (the
dispatcher hands it over within a second of Redis coming back), it never loses it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import redis.exceptions
import structlog

from services.common.db import Database
from services.common.jobs import store
from services.common.jobs.models import Trigger
from services.common.jobs.queue import JobQueue

log = structlog.get_logger()


class JobSubmitter:
    def __init__(self, db: Database, queue: JobQueue, *, max_attempts: int = 3) -> None:
        self._db = db
        self._queue = queue
        self._max_attempts = max_attempts

    async def submit(self, job_type: str, parameters: Mapping[str, Any], *, trigger: Trigger = "MANUAL") -> int:
        job_id = await store.create(
            self._db.pool, job_type, parameters, trigger=trigger, max_attempts=self._max_attempts
        )
        assert job_id is not None  # only a schedule's tick can clash
        await self.hand_over([job_id])
        log.info("job_submitted", job_id=job_id, job_type=job_type, trigger=trigger)
        return job_id

    async def hand_over(self, job_ids: list[int]) -> None:
        try:
            await self._queue.put(job_ids)
        except (OSError, redis.exceptions.RedisError) as exc:
            log.warning("job_enqueue_failed", job_ids=job_ids, error=str(exc), then="the dispatcher hands it over")
            return
        await store.mark_enqueued(self._db.pool, job_ids)
