"""Redis client from settings, with the key prefix every service and test run uses."""

from __future__ import annotations

from collections.abc import AsyncIterator

import redis.asyncio as aioredis

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
        self._client = aioredis.from_url(
            self._settings.url, socket_timeout=10, socket_connect_timeout=5, decode_responses=False
        )
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
