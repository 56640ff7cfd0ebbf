"""Pull-through caching for proxy-cache projects (Harbor's projects with a registry_id): what a pull misses
is fetched from the project's registry endpoint, checked, served and kept (services.registry.proxy.manifests
and .blobs, over one session per upstream, .sessions). Bad answers from the upstream (an error, a wrong
digest, a short body, an HTML page) store nothing and fail the pull with one line saying what the upstream
did; the next pull asks again. Pushes into a proxy-cache project are refused (.push_guard)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from services.registry.proxy.blobs import ProxyBlobs
from services.registry.proxy.manifests import ProxyManifests
from services.registry.proxy.sessions import UpstreamSessions
from services.registry.proxy.upstreams import Upstream, Upstreams


class ProxyCache:
    def __init__(
        self, upstreams: Upstreams, sessions: UpstreamSessions, manifests: ProxyManifests, blobs: ProxyBlobs
    ) -> None:
        self._upstreams = upstreams
        self._sessions = sessions
        self.manifests = manifests
        self.blobs = blobs

    async def upstream(self, repository: str) -> Upstream | None:
        """The upstream of the repository's project; None when it is no proxy cache."""
        return await self._upstreams.of(repository)

    async def lifespan(self, app: object) -> AsyncIterator[None]:
        # Sessions last; the fetches (and their spool directory) before; the keepers, which wait on
        # fetches, first.
        async with (
            contextlib.asynccontextmanager(self._sessions.lifespan)(app),
            contextlib.asynccontextmanager(self.blobs.lifespan)(app),
            contextlib.asynccontextmanager(self.manifests.lifespan)(app),
        ):
            yield
