"""One connection LISTENing on a PostgreSQL channel for as long as a lifespan lasts, reconnecting when it
is lost: what the lookup caches (services.common.cache) and the live configuration
(services.common.config.live) both stand on. `on_live(True)` is called once each connection listens,
before which anything read may have missed a notification; `on_live(False)` when it is lost (and at the
end), from when on nothing is notified."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import structlog

from services.common.db import listen_connection
from services.common.settings import DatabaseSettings
from services.common.tasks import background, wait_set

RECONNECT_DELAY_S = 1.0
KEEPALIVE_S = 5.0
log = structlog.get_logger()


class Listener:
    def __init__(
        self,
        settings: DatabaseSettings,
        channel: str,
        application_name: str,
        on_notify: Callable[[str], None],
        on_live: Callable[[bool], Awaitable[None]],
    ) -> None:
        self._settings = settings
        self._channel = channel
        self._application_name = application_name  # how it shows in pg_stat_activity
        self._on_notify = on_notify
        self._on_live = on_live

    async def lifespan(self, _app: object) -> AsyncIterator[None]:
        async with background(self._run()):
            yield
        await self._on_live(False)

    async def _watch(self, conn: asyncpg.Connection, lost: asyncio.Event) -> None:
        """Until the connection ends; a ping finds a connection that died without saying so."""
        while not await wait_set(lost, KEEPALIVE_S):
            try:
                await conn.fetchval("SELECT 1", timeout=KEEPALIVE_S)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
                return

    async def _run(self) -> None:
        while True:
            lost = asyncio.Event()
            try:
                conn = await listen_connection(self._settings, self._application_name)
            except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                log.warning("listener_connect_failed", channel=self._channel, error=str(exc))
                await asyncio.sleep(RECONNECT_DELAY_S)
                continue
            try:
                conn.add_termination_listener(lambda _c, lost=lost: lost.set())
                await conn.add_listener(self._channel, lambda _c, _pid, _ch, payload: self._on_notify(payload))
                await self._on_live(True)
                await self._watch(conn, lost)
                log.warning("listener_lost", channel=self._channel)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                log.warning("listener_failed", channel=self._channel, error=str(exc))
            finally:
                await self._on_live(False)
                if not conn.is_closed():
                    await conn.close(timeout=5)
            await asyncio.sleep(RECONNECT_DELAY_S)
