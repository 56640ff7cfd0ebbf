"""The proxy caches' sessions with their upstreams: one per endpoint, kept for the registry's life (tokens
and connections reused), and each project's max_upstream_conn."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from services.common.remote.client import RemoteEndpoint, RemoteRegistry
from services.registry.proxy.upstreams import Upstream

# Each wait on the upstream (connecting, each read), not a whole transfer.
REMOTE_TIMEOUT_S = 30.0


class UpstreamSessions:
    def __init__(self, *, timeout: float = REMOTE_TIMEOUT_S) -> None:
        self.timeout = timeout
        self._sessions: dict[RemoteEndpoint, RemoteRegistry] = {}
        self._limits: dict[tuple[str, int], asyncio.Semaphore] = {}

    def limit(self, upstream: Upstream) -> contextlib.AbstractAsyncContextManager[object]:
        """max_upstream_conn: the project's requests to its upstream at once, in this process."""
        if upstream.max_connections is None:
            return contextlib.nullcontext()
        key = (upstream.project, upstream.max_connections)
        semaphore = self._limits.get(key)
        if semaphore is None:
            semaphore = self._limits[key] = asyncio.Semaphore(upstream.max_connections)
        return semaphore

    async def session(self, upstream: Upstream) -> RemoteRegistry:
        session = self._sessions.get(upstream.endpoint)
        if session is None:
            session = RemoteRegistry(upstream.endpoint, timeout=self.timeout)
            await session.__aenter__()
            self._sessions[upstream.endpoint] = session
        return session

    async def lifespan(self, _app: object) -> AsyncIterator[None]:
        try:
            yield
        finally:
            for session in self._sessions.values():
                await session.__aexit__(None, None, None)
            self._sessions.clear()


def answered(url: str, status: int, what: str, excerpt: str) -> str:
    """What an upstream's unexpected answer says, in one line."""
    if status in (401, 403):
        return f"{url} refused the endpoint's credentials ({status} on {what})"
    return f"{url} answered {status} to {what}" + (f": {excerpt}" if excerpt else "")
