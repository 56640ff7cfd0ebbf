"""A read-through cache of database lookups, kept exact by PostgreSQL notifications.

Used by the registry (manifest and blob lookups, its hottest requests) and by core (artifact list pages).
Entries belong to a repository and are dropped when the database says that repository changed: the
triggers of migrations 0002 and 0009, fired by any process that writes, notify 'berth_registry' with the
repository id at commit. While the listening connection is down the cache is bypassed and emptied, so a
lost notification can never leave a stale answer.

The generation counter closes the one race left: a lookup that read the database before a change and
stores its result after the change's notification arrived would put back the old answer. A lookup takes
the generation before it reads and stores only if its repository was not invalidated (and the cache not
cleared) since: a change to another repository does not cost it its entry.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncIterator, Hashable
from typing import Any

import asyncpg
import structlog

from services.common.db import listen_connection
from services.common.settings import DatabaseSettings
from services.common.tasks import background, wait_set

CHANNEL = "berth_registry"
RECONNECT_DELAY_S = 1.0
KEEPALIVE_S = 5.0
# How the listening connections show in pg_stat_activity.
REGISTRY_LISTENER = "berth-registry-cache"
CORE_LISTENER = "berth-core-cache"
# Repositories whose last invalidation is remembered (for in-flight lookups); beyond this the memory is
# dropped and every in-flight lookup is refused its store, as after a clear.
MAX_REMEMBERED_CHANGES = 100_000
log = structlog.get_logger()


class LookupCache:
    def __init__(self, max_bytes: int) -> None:
        self._max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, tuple[int, Any, int]] = OrderedDict()
        self._by_repository: dict[int, set[Hashable]] = {}
        self._bytes = 0
        self.generation = 0
        # The generation at which each repository was last invalidated, and at which all was cleared.
        self._changed_at: dict[int, int] = {}
        self._cleared_at = 0
        self.live = False  # True only while notifications are being received

    def get(self, key: Hashable) -> Any | None:
        if not self.live:
            return None
        entry = self._entries.get(key)
        if entry is None:
            return None
        self._entries.move_to_end(key)
        return entry[1]

    def put(self, key: Hashable, repository_id: int, value: Any, size: int, generation: int) -> None:
        """Stores `value` read at `generation` (self.generation taken before the read), unless the
        repository changed (or the cache was cleared) since."""
        if not self.live or size > self._max_bytes // 8:
            return
        if max(self._cleared_at, self._changed_at.get(repository_id, 0)) > generation:
            return
        self._drop(key)
        self._entries[key] = (repository_id, value, size)
        self._by_repository.setdefault(repository_id, set()).add(key)
        self._bytes += size
        while self._bytes > self._max_bytes:
            self._drop(next(iter(self._entries)))

    def invalidate(self, repository_id: int) -> None:
        self.generation += 1
        if len(self._changed_at) >= MAX_REMEMBERED_CHANGES:
            self._changed_at.clear()
            self._cleared_at = self.generation
        self._changed_at[repository_id] = self.generation
        for key in self._by_repository.pop(repository_id, set()):
            entry = self._entries.pop(key, None)
            if entry is not None:
                self._bytes -= entry[2]

    def clear(self) -> None:
        self.generation += 1
        self._cleared_at = self.generation
        self._changed_at.clear()
        self._entries.clear()
        self._by_repository.clear()
        self._bytes = 0

    def _drop(self, key: Hashable) -> None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        self._bytes -= entry[2]
        keys = self._by_repository.get(entry[0])
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._by_repository[entry[0]]


class ChangeListener:
    """Keeps one connection LISTENing on the change channel and feeds the cache; reconnects when lost."""

    def __init__(self, settings: DatabaseSettings, cache: LookupCache, application_name: str) -> None:
        self._settings = settings
        self._cache = cache
        self._application_name = application_name

    async def lifespan(self, _app: object) -> AsyncIterator[None]:
        async with background(self._run()):
            yield
        self._cache.live = False

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        try:
            self._cache.invalidate(int(payload))
        except ValueError:
            self._cache.clear()

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
                log.warning("cache_listener_connect_failed", error=str(exc))
                await asyncio.sleep(RECONNECT_DELAY_S)
                continue
            try:
                conn.add_termination_listener(lambda _c, lost=lost: lost.set())
                await conn.add_listener(CHANNEL, self._on_notify)
                # Anything cached before this point may have missed a notification.
                self._cache.clear()
                self._cache.live = True
                await self._watch(conn, lost)
                log.warning("cache_listener_lost")
            finally:
                self._cache.live = False
                self._cache.clear()
                if not conn.is_closed():
                    await conn.close(timeout=5)
            await asyncio.sleep(RECONNECT_DELAY_S)
