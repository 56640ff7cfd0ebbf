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

from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

from services.common.listen import Listener
from services.common.settings import DatabaseSettings

CHANNEL = "berth_registry"
# How the listening connections show in pg_stat_activity.
REGISTRY_LISTENER = "berth-registry-cache"
CORE_LISTENER = "berth-core-cache"
# Repositories whose last invalidation is remembered (for in-flight lookups); beyond this the memory is
# dropped and every in-flight lookup is refused its store, as after a clear.
MAX_REMEMBERED_CHANGES = 100_000


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
        # Lookups answered from memory and not (bypassed while not live included), for the metrics.
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> Any | None:
        if not self.live:
            self.misses += 1
            return None
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        self.hits += 1
        self._entries.move_to_end(key)
        return entry[1]

    def put(self, key: Hashable, repository_id: int, value: Any, size: int, generation: int) -> None:
        """Stores `value` read at `generation` (self.generation taken before the read), unless the
        repository changed (or the cache was cleared) since."""
        if not self.live or size > self._max_bytes // 8:
            return
        if self.changed_since(repository_id, generation):
            return
        self._drop(key)
        self._entries[key] = (repository_id, value, size)
        self._by_repository.setdefault(repository_id, set()).add(key)
        self._bytes += size
        while self._bytes > self._max_bytes:
            self._drop(next(iter(self._entries)))

    def changed_since(self, repository_id: int, generation: int) -> bool:
        """True when the repository was invalidated (or the cache cleared) after `generation`: a lookup
        read at that generation may be stale now (what `put` refuses; a caller sharing a lookup still in
        flight asks it too)."""
        return max(self._cleared_at, self._changed_at.get(repository_id, 0)) > generation

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
    """Feeds the cache from a change channel (the registry's by default): live only while notifications
    are received. A payload that is not a repository id drops everything."""

    def __init__(
        self, settings: DatabaseSettings, cache: LookupCache, application_name: str, channel: str = CHANNEL
    ) -> None:
        self._cache = cache
        self.lifespan = Listener(settings, channel, application_name, self._on_notify, self._on_live).lifespan

    def _on_notify(self, payload: str) -> None:
        try:
            self._cache.invalidate(int(payload))
        except ValueError:
            self._cache.clear()

    async def _on_live(self, live: bool) -> None:
        # Either way anything cached so far may have missed a notification.
        self._cache.live = False
        self._cache.clear()
        self._cache.live = live
