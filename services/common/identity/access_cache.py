"""The access lookups of a login (access_store.user_access, robot_access), answered from memory while
PostgreSQL says nothing they read has changed.

A docker client asks the token service for a token before nearly every push and pull, each time with
the same Basic credentials and projects: without this, every token costs a database round trip that
reads the same rows as the last one. Migration 0025's triggers notify 'berth_identity' at the commit of
any change to users, robots, projects (name, visibility), members and group members, from whichever
process writes; every entry is dropped then. A `LookupCache` holds the entries, so while the listening
connection is down nothing is served from memory, and a lookup that read before a change cannot store
its stale answer after the notification (the generation check).

So a change applies to the next token once its notification has arrived, normally within milliseconds
of its commit; a token issued before it stays valid until it expires anyway (token_expiration). With
`max_bytes=0` (core, whose API clients must read their own writes) every lookup goes to the database.

A cached user row carries its password hash: the password is still checked on every request (the
credential cache makes a repeated check cheap), and a changed password notifies like any change.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import TypeVar

from services.common.cache import ChangeListener, LookupCache
from services.common.db import Database
from services.common.identity import access_store
from services.common.identity.models import RobotAccess, UserAccess
from services.common.settings import DatabaseSettings

T = TypeVar("T")
CHANNEL = "berth_identity"
# The payloads are table names, never a repository id, so each one drops every entry.
_ALL = 0
# A rough size per entry (a user row, a few projects): the byte budget bounds the number of entries.
_ENTRY_BYTES = 1024
_PROJECT_BYTES = 200
# About 16,000 accounts' lookups: far more than log in within any hour; the oldest go first.
DEFAULT_MAX_BYTES = 16 * 1024 * 1024


class AccessLookup:
    def __init__(
        self, db: Database, settings: DatabaseSettings, application_name: str, max_bytes: int = DEFAULT_MAX_BYTES
    ) -> None:
        self._db = db
        self._cache = LookupCache(max_bytes)
        self.lifespan = ChangeListener(settings, self._cache, application_name, CHANNEL).lifespan

    @property
    def cache(self) -> LookupCache:
        """The entries (their hit and miss counts are the service's metrics)."""
        return self._cache

    async def user_access(self, username: str, projects: Sequence[str]) -> UserAccess | None:
        return await self._lookup(
            ("user", username, tuple(projects)),
            len(projects),
            lambda: access_store.user_access(self._db.pool, username, projects),
        )

    async def robot_access(self, name: str, projects: Sequence[str]) -> RobotAccess | None:
        return await self._lookup(
            ("robot", name, tuple(projects)),
            len(projects),
            lambda: access_store.robot_access(self._db.pool, name, projects),
        )

    async def _lookup(self, key: Hashable, projects: int, read: Callable[[], Awaitable[T]]) -> T:
        # Kept in a tuple: that no account has this name (None) is an answer worth keeping too.
        cached = self._cache.get(key)
        if cached is not None:
            return cached[0]  # type: ignore[no-any-return]
        generation = self._cache.generation
        found = await read()
        self._cache.put(key, _ALL, (found,), _ENTRY_BYTES + _PROJECT_BYTES * projects, generation)
        return found
