"""Redis client from settings, with the key prefix every service and test run uses."""

from __future__ import annotations

import urllib.parse
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.sentinel import Sentinel

from services.common.settings import RedisSettings


class RedisClient:
    def __init__(self, settings: RedisSettings) -> None:
        self._settings = settings
        self._client: aioredis.Redis | None = None

    def key(self, *parts: str) -> str:
        return self._settings.key_prefix + ":".join(parts)

    @property
    def client(self) -> aioredis.Redis:
        if self._client is None:
            raise RuntimeError("redis client used before start-up opened it")
        return self._client

    async def open(self) -> None:
        self._client = connect(self._settings, socket_timeout=10, socket_connect_timeout=5)
        await self._client.ping()

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def lifespan(self, _app: object) -> AsyncIterator[None]:
        await self.open()
        try:
            yield
        finally:
            await self.close()


def connect(settings: RedisSettings, **options: Any) -> aioredis.Redis:
    """A client of the Redis `settings` name: at `url`, or the master the sentinels name (a client that
    asks them again when its master fails over)."""
    if not settings.sentinels:
        return aioredis.from_url(settings.url, decode_responses=False, **options)
    url = urllib.parse.urlsplit(settings.url)
    db = int(url.path.strip("/") or 0)
    sentinel = Sentinel(settings.sentinel_addresses(), sentinel_kwargs=options, **options)  # type: ignore[no-untyped-call, unused-ignore]
    master: aioredis.Redis = sentinel.master_for(
        settings.sentinel_master_set, db=db, password=url.password, username=url.username, decode_responses=False
    )
    return master
