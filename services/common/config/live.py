"""The system configuration as one process sees it: berth.yml's defaults, then the keys an administrator
set (services.common.config.store), read again whenever the database notifies 'berth_config' and each time
the listening connection (re)connects, so every process sees a change within a second of its commit and a
lost notification costs at most a reconnect. Objects that hold a value themselves (the audit forwarder)
subscribe with `on_change`; everything else reads `get()` at use."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from types import MappingProxyType
from typing import Any

import asyncpg
import structlog

from services.common.config import store
from services.common.config.keys import CATALOG, defaults
from services.common.db import Database
from services.common.listen import Listener
from services.common.settings import Settings
from services.common.tasks import background

log = structlog.get_logger()
CONFIG_LISTENER = "berth-config"


class SystemConfig:
    def __init__(self, settings: Settings, db: Database, *, application_name: str = CONFIG_LISTENER) -> None:
        self._db = db
        self._defaults = defaults(settings)
        self._values: Mapping[str, Any] = MappingProxyType(dict(self._defaults))
        self._subscribers: list[Callable[[Mapping[str, Any]], None]] = []
        self._stale = asyncio.Event()
        self._listener = Listener(settings.database, store.CHANNEL, application_name, self._on_notify, self._on_live)

    @property
    def defaults(self) -> Mapping[str, Any]:
        return MappingProxyType(self._defaults)

    @property
    def values(self) -> Mapping[str, Any]:
        return self._values

    def get(self, name: str) -> Any:
        return self._values[name]

    def on_change(self, callback: Callable[[Mapping[str, Any]], None]) -> None:
        """`callback(values)` now and after every change; it must not raise."""
        self._subscribers.append(callback)
        callback(self._values)

    def _on_notify(self, _payload: str) -> None:
        self._stale.set()

    async def _on_live(self, live: bool) -> None:
        if live:
            self._stale.set()

    async def reload(self) -> None:
        found = await store.overrides(self._db.pool)
        values = dict(self._defaults)
        for name, value in found.items():
            key = CATALOG.get(name)
            try:
                if key is None:
                    raise ValueError(f"{name!r} is no configuration key")
                values[name] = key.parse(value)
            except ValueError as exc:
                # Written by hand, or by a newer Berth: the default stands, and the operator is told.
                log.error("configuration_value_ignored", key=name[:100], error=str(exc))
        if values != self._values:
            changed = sorted(k for k in values if values[k] != self._values.get(k))
            self._values = MappingProxyType(values)
            log.info("configuration_changed", keys=changed)
            for callback in self._subscribers:
                callback(self._values)

    async def _reloader(self) -> None:
        while True:
            await self._stale.wait()
            self._stale.clear()
            try:
                await self.reload()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                # A database hiccup: the listener's reconnect asks again.
                log.warning("configuration_reload_failed", error=str(exc))

    async def lifespan(self, app: object) -> AsyncIterator[None]:
        """After the database's lifespan: the stored values are in place before the first request."""
        await self.reload()
        async with background(self._reloader()), contextlib.asynccontextmanager(self._listener.lifespan)(app):
            yield
