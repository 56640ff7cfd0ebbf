"""The Redis side of jobs: a stream of job ids read by the jobservice's workers through one consumer group
(redis-py's streams API; no queue library of ours). The stream is only a carrier: a job runs when its row
is claimed (services.common.jobs.store.claim), so an id delivered twice, or to a worker that died before
acknowledging it, costs a claim that fails; an id Redis lost is handed over again by the dispatcher."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis.exceptions

from services.common.redis import RedisClient

GROUP = "jobservice"
# Enough for every job waiting at once many times over; older entries were acknowledged long ago.
STREAM_MAX_LEN = 100_000


class JobQueue:
    def __init__(self, redis_client: RedisClient) -> None:
        self._redis = redis_client
        self.stream = redis_client.key("jobs")

    async def ensure_group(self) -> None:
        try:
            await self._redis.client.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
        except redis.exceptions.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def put(self, job_ids: Sequence[int]) -> None:
        if not job_ids:
            return
        pipe = self._redis.client.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.xadd(self.stream, {"job": str(job_id)}, maxlen=STREAM_MAX_LEN, approximate=True)
        await pipe.execute()

    async def take(self, consumer: str, block_ms: int) -> list[tuple[bytes, int | None]]:
        """(entry id, job id) of the next entries for `consumer`, waiting up to `block_ms`; a job id
        that does not parse is None (its entry is acknowledged and dropped by the caller)."""
        answer: Any = await self._redis.client.xreadgroup(GROUP, consumer, {self.stream: ">"}, count=1, block=block_ms)
        out: list[tuple[bytes, int | None]] = []
        for _stream, entries in answer or []:
            for entry_id, fields in entries:
                raw = fields.get(b"job", b"")
                out.append((entry_id, int(raw) if raw.isdigit() else None))
        return out

    async def ack(self, entry_id: bytes) -> None:
        pipe = self._redis.client.pipeline(transaction=False)
        pipe.xack(self.stream, GROUP, entry_id)
        pipe.xdel(self.stream, entry_id)
        await pipe.execute()

    async def drop_abandoned(self, consumer: str, min_idle_ms: int) -> int:
        """Acknowledges entries a dead consumer never acknowledged: their jobs' rows say what happens next
        (the reaper and the dispatcher), so the entries themselves are only dropped."""
        dropped = 0
        start: Any = "0-0"
        while True:
            # Without JUSTID: redis-py's JUSTID reply drops the cursor this loop needs.
            answer: Any = await self._redis.client.xautoclaim(
                self.stream, GROUP, consumer, min_idle_time=min_idle_ms, start_id=start, count=100
            )
            start, entries = answer[0], answer[1]
            for entry_id, _fields in entries:
                await self.ack(entry_id)
            dropped += len(entries)
            if start in (b"0-0", "0-0") or not entries:
                return dropped
