"""The regular health check of the registry endpoints (Harbor's StartRegularHealthCheck): every
`core.registry_health_check_seconds`, in every core process (a check is a GET per endpoint, cheap enough
to repeat; the status written is the same whichever process writes it)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import structlog
from aiohttp import web

from services.common.tasks import background
from services.core.registries.service import RegistryService

log = structlog.get_logger()


class RegistryHealthCheck:
    def __init__(self, registries: RegistryService, interval_s: float) -> None:
        self._registries = registries
        self._interval_s = interval_s

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                await self._registries.check_all()
            except Exception:  # the database away for a moment: the next round tries again
                log.exception("registry_health_check_failed")

    async def lifespan(self, app: web.Application) -> AsyncIterator[None]:
        async with background(self._run()):
            yield
