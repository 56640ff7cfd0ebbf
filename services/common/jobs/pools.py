"""The jobservice's worker pools as the dashboard shows them (Harbor's WorkerPool and Worker): every
jobservice process is a pool; it writes its state to Redis each heartbeat with an expiry, and core reads
it. Redis, not PostgreSQL: this is a live view, not a record. A pool that dies stops being shown once its
key expires (the heartbeat timeout); what its jobs do next is the rows' business (the reaper)."""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass
from typing import Any

from services.common.redis import RedisClient


@dataclass(frozen=True, slots=True)
class WorkerState:
    id: str
    job_id: int | None  # the running job, None when idle
    job_type: str
    started_at: dt.datetime | None  # when the running job started on this worker
    check_in: str  # the running job's newest log line
    checkin_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class PoolState:
    id: str
    pid: int
    host: str
    started_at: dt.datetime
    heartbeat_at: dt.datetime
    concurrency: int
    workers: tuple[WorkerState, ...]


def _time(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _parse_time(value: Any) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromisoformat(value)


def _encode(pool: PoolState) -> bytes:
    return json.dumps(
        {
            "id": pool.id,
            "pid": pool.pid,
            "host": pool.host,
            "started_at": _time(pool.started_at),
            "heartbeat_at": _time(pool.heartbeat_at),
            "concurrency": pool.concurrency,
            "workers": [
                {
                    "id": w.id,
                    "job_id": w.job_id,
                    "job_type": w.job_type,
                    "started_at": _time(w.started_at),
                    "check_in": w.check_in,
                    "checkin_at": _time(w.checkin_at),
                }
                for w in pool.workers
            ],
        }
    ).encode()


def _decode(raw: bytes) -> PoolState:
    data = json.loads(raw)
    started, beat = _parse_time(data["started_at"]), _parse_time(data["heartbeat_at"])
    assert started is not None and beat is not None
    return PoolState(
        id=data["id"],
        pid=data["pid"],
        host=data["host"],
        started_at=started,
        heartbeat_at=beat,
        concurrency=data["concurrency"],
        workers=tuple(
            WorkerState(
                id=w["id"],
                job_id=w["job_id"],
                job_type=w["job_type"],
                started_at=_parse_time(w["started_at"]),
                check_in=w["check_in"],
                checkin_at=_parse_time(w["checkin_at"]),
            )
            for w in data["workers"]
        ),
    )


class PoolBoard:
    """Pools by id: one key per pool, expiring, and a sorted set of the ids by last heartbeat, so a reader
    finds them without SCAN. A set member whose key expired is a dead pool, dropped by the reader."""

    def __init__(self, redis_client: RedisClient) -> None:
        self._redis = redis_client
        self._index = redis_client.key("jobservice", "pools")

    def _key(self, pool_id: str) -> str:
        return self._redis.key("jobservice", "pool", pool_id)

    async def publish(self, pool: PoolState, ttl_s: float) -> None:
        pipe = self._redis.client.pipeline(transaction=True)
        pipe.set(self._key(pool.id), _encode(pool), px=max(1, int(ttl_s * 1000)))
        pipe.zadd(self._index, {pool.id: time.time()})
        await pipe.execute()

    async def withdraw(self, pool_id: str) -> None:
        pipe = self._redis.client.pipeline(transaction=True)
        pipe.delete(self._key(pool_id))
        pipe.zrem(self._index, pool_id)
        await pipe.execute()

    async def pools(self) -> list[PoolState]:
        """The live pools, oldest first."""
        members: Any = await self._redis.client.zrange(self._index, 0, -1)
        ids = [raw.decode() for raw in members]
        if not ids:
            return []
        values: Any = await self._redis.client.mget([self._key(i) for i in ids])
        dead = [pool_id for pool_id, raw in zip(ids, values, strict=True) if raw is None]
        if dead:
            await self._redis.client.zrem(self._index, *dead)
        found = [_decode(raw) for raw in values if raw is not None]
        return sorted(found, key=lambda p: (p.started_at, p.id))
