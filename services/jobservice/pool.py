"""This process as a worker pool on the dashboard: its workers and what each runs, written to Redis every
heartbeat (services.common.jobs.pools), withdrawn on a clean stop. Losing Redis for a while only hides the
pool from the dashboard; the jobs go on."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import socket
from collections.abc import Sequence

import redis.exceptions
import structlog

from services.common.jobs.pools import PoolBoard, PoolState
from services.common.tasks import raise_if_cancelled
from services.jobservice.worker import Worker

log = structlog.get_logger()


class PoolReporter:
    def __init__(self, name: str, board: PoolBoard, workers: Sequence[Worker], *, every_s: float, ttl_s: float):
        self._name = name
        self._board = board
        self._workers = workers
        self._every_s = every_s
        self._ttl_s = ttl_s
        self._started_at = dt.datetime.now(dt.UTC)

    def state(self) -> PoolState:
        return PoolState(
            id=self._name,
            pid=os.getpid(),
            host=socket.gethostname(),
            started_at=self._started_at,
            heartbeat_at=dt.datetime.now(dt.UTC),
            concurrency=len(self._workers),
            workers=tuple(w.state() for w in self._workers),
        )

    async def run(self) -> None:
        try:
            while True:
                raise_if_cancelled()
                try:
                    await self._board.publish(self.state(), self._ttl_s)
                except (OSError, redis.exceptions.RedisError) as exc:
                    log.warning("pool_report_failed", pool=self._name, error=str(exc))
                await asyncio.sleep(self._every_s)
        finally:
            # A clean stop leaves the dashboard at once instead of after the expiry.
            try:
                await asyncio.shield(self._board.withdraw(self._name))
            except (OSError, redis.exceptions.RedisError):
                pass
