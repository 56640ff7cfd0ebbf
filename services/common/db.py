"""The asyncpg pool wrapper every service uses: open at start-up, short transactions, close on exit."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol

import asyncpg

from services.common.migrations import apply_migrations
from services.common.settings import DatabaseSettings, parse_endpoint


class Executor(Protocol):
    """What stores need: a pool or a connection inside a transaction."""

    async def execute(self, query: str, *args: Any) -> str: ...
    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]: ...
    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None: ...
    async def fetchval(self, query: str, *args: Any) -> Any: ...
    async def executemany(self, query: str, args: Any) -> None: ...


async def listen_connection(settings: DatabaseSettings, application_name: str) -> asyncpg.Connection:
    """One connection outside the pool, for LISTEN (a pooled one would be reset and handed to others);
    `application_name` lets an operator (and the tests) find it in pg_stat_activity."""
    return await asyncpg.connect(
        host=settings.host,
        port=settings.port,
        user=settings.username,
        password=settings.password.reveal() or None,
        database=settings.name,
        timeout=settings.connect_timeout,
        server_settings={"application_name": application_name},
    )


async def _no_reset(_conn: asyncpg.Connection) -> None:
    return None


class DatabaseUnavailable(Exception):
    pass


# PostgreSQL broke a lock cycle by aborting this transaction: nothing of it was committed, so it may be run
# again (pushes and deletes sharing a project's digests can meet in one, see migration 0019).
Deadlock = asyncpg.exceptions.DeadlockDetectedError


class Database:
    def __init__(self, settings: DatabaseSettings, *, migrate: bool = True) -> None:
        self._settings = settings
        self._migrate = migrate
        self._pool: asyncpg.Pool | None = None
        self._reader: asyncpg.Pool | None = None
        # The after-commit hooks of each open transaction(), by id of its connection.
        self._after_commit: dict[int, list[Callable[[], None]]] = {}

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("database pool used before start-up opened it")
        return self._pool

    @property
    def reader(self) -> asyncpg.Pool:
        """Where reads that may lag the last commit by a moment go: the read replica (database.read_replica)
        if there is one, else the primary. Never for what feeds a cache: a reading older than the change
        notification that cleared the cache would be kept."""
        return self._reader or self.pool

    async def open(self) -> None:
        s = self._settings
        self._pool = await self._create_pool(s.host, s.port, "database.host, database.port")
        if s.read_replica:
            host, port = parse_endpoint(s.read_replica)
            self._reader = await self._create_pool(host, port, "database.read_replica")
        if self._migrate:
            async with self.pool.acquire() as conn:
                await apply_migrations(conn)

    async def _create_pool(self, host: str, port: int, keys: str) -> asyncpg.Pool:
        s = self._settings
        try:
            return await asyncpg.create_pool(
                host=host,
                port=port,
                user=s.username,
                password=s.password.reveal() or None,
                database=s.name,
                min_size=1,
                max_size=s.max_open_conns,
                timeout=s.connect_timeout,
                command_timeout=60,
                # asyncpg's default reset costs a second round trip on every release. Nothing here keeps
                # session state outside a transaction (the migration lock is released explicitly).
                reset=_no_reset,
                # Short statements only: JIT compiling one (PostgreSQL's default above a planner cost of
                # 100,000, which a count over a large repository reaches) took longer than running it.
                server_settings={"jit": "off"},
            )
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            raise DatabaseUnavailable(
                f"cannot connect to PostgreSQL at {host}:{port} database {s.name!r} as {s.username!r}: "
                f"{exc} (keys {keys}, database.name, database.username)"
            ) from exc

    async def close(self) -> None:
        for pool in (self._reader, self._pool):
            if pool is not None:
                await pool.close()
        self._pool = self._reader = None

    async def lifespan(self, _app: object) -> AsyncIterator[None]:
        """For `app.cleanup_ctx`."""
        await self.open()
        try:
            yield
        finally:
            await self.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        hooks: list[Callable[[], None]] = []
        async with self.pool.acquire() as conn:
            self._after_commit[id(conn)] = hooks
            try:
                async with conn.transaction():
                    yield conn
            finally:
                del self._after_commit[id(conn)]
        # Reached only when the commit succeeded: a rollback (or a failed commit) raised above.
        for hook in hooks:
            hook()

    def after_commit(self, ex: Executor, hook: Callable[[], None]) -> None:
        """Runs `hook` once what was written through `ex` is committed: when the `transaction()` that `ex`
        is ends in a commit (never, if it rolls back), or at once when `ex` is in no transaction (the pool,
        whose statements commit one by one). For side effects outside PostgreSQL that must follow only
        what committed (audit entries sent to a syslog server); a hook is quick, and must not raise: the
        commit it follows cannot be undone."""
        hooks = self._after_commit.get(id(ex))
        if hooks is not None:
            hooks.append(hook)
            return
        if isinstance(ex, asyncpg.Connection) and ex.is_in_transaction():
            # A transaction of its own (conn.transaction()), whose commit this cannot see.
            raise RuntimeError("after_commit on a transaction not opened by Database.transaction()")
        hook()
