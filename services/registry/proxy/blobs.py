"""A proxy cache's blobs: linked when the registry holds them for another repository, otherwise fetched
from the upstream once, across the registry's replicas (a Redis lock per blob), while every client asking
for them reads along (services.registry.proxy.fetches). A blob is stored through an upload like any other,
so garbage collection's protocol holds; bytes that are short or do not hash to their digest store nothing."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import redis.exceptions
import structlog
from redis.asyncio.lock import Lock

from services.common.oci.digest import Digest
from services.common.redis import RedisClient
from services.common.remote.client import RemoteError, body_excerpt, translated
from services.common.tasks import background
from services.registry.blobs import BlobService
from services.registry.errors import BlobUnknown, UpstreamFailed
from services.registry.proxy.fetches import BlobFetch, BlobFetches, BlobReader
from services.registry.proxy.sessions import UpstreamSessions, answered
from services.registry.proxy.upstreams import Upstream
from services.registry.uploads import UploadService

log = structlog.get_logger()
FETCH_CHUNK = 1 << 20
# The lock on a blob's fetch across replicas: renewed while the fetch runs, lapsing this long after the
# replica holding it died; the others look whether the blob is stored this often.
LOCK_TTL_S = 30.0
FOLLOW_POLL_S = 0.2


class ProxyBlobs:
    def __init__(
        self,
        sessions: UpstreamSessions,
        blobs: BlobService,
        uploads: UploadService,
        fetches: BlobFetches,
        redis_client: RedisClient,
    ) -> None:
        self._sessions = sessions
        self._blobs = blobs
        self._uploads = uploads
        self._fetches = fetches
        self._redis = redis_client

    async def blob_reader(self, upstream: Upstream, repository: str, digest: Digest) -> BlobReader | None:
        """A client's pull of a blob the project lacks: a reader of the fetch that brings it; None when the
        registry held it for another repository and it is linked here now."""
        fetch = await self.blob(upstream, repository, digest)
        return None if fetch is None else fetch.reader()  # at once: see BlobFetch.reader

    async def blob(self, upstream: Upstream, repository: str, digest: Digest) -> BlobFetch | None:
        """The fetch that brings the blob (running, or started now); None when the registry held it for
        another repository and it is linked here now (serve it as any other)."""
        running = self._fetches.running(digest)
        if running is not None:
            return running
        if await self._blobs.adopt(repository, digest):
            return None
        return self._fetches.start(digest, lambda fetch: self._download(upstream, repository, fetch))

    async def blob_size(self, upstream: Upstream, repository: str, digest: Digest) -> int:
        """A HEAD of a blob the project lacks: the upstream's size for it, nothing fetched."""
        name = upstream.remote_name(repository)
        path = f"/v2/{name}/blobs/{digest}"
        url = upstream.endpoint.url
        try:
            async with self._sessions.limit(upstream):
                remote = await self._sessions.session(upstream)
                async with await remote.request("HEAD", path, scope=f"repository:{name}:pull") as response:
                    if response.status == 404:
                        raise BlobUnknown(f"blob {digest} unknown to {url}, the upstream of {upstream.project}")
                    if response.status != 200 or response.content_length is None:
                        raise UpstreamFailed(answered(url, response.status, f"HEAD {path}", ""))
                    return response.content_length
        except RemoteError as exc:
            raise UpstreamFailed(f"cannot ask {url} for blob {digest}: {exc}") from None

    async def ensure(self, upstream: Upstream, repository: str, digest: Digest) -> None:
        """Returns once the blob is stored and linked to the repository (a manifest may name it then)."""
        fetch = await self.blob(upstream, repository, digest)
        if fetch is not None:
            await fetch.kept()

    async def _download(self, upstream: Upstream, repository: str, fetch: BlobFetch) -> None:
        """The fetch of one blob, once across the registry's replicas: the replica holding the blob's Redis
        lock fetches it from the upstream; the others wait for it to be stored and read it from storage.
        Without Redis, each replica fetches it once."""
        lock = Lock(
            self._redis.client, self._redis.key("registry", "proxy-fetch", str(fetch.digest)), timeout=LOCK_TTL_S
        )
        while True:
            try:
                held = bool(await lock.acquire(blocking=False))
            except redis.exceptions.RedisError as exc:
                log.warning("proxy_fetch_unlocked", digest=str(fetch.digest), reason=str(exc))
                await self._fetch_from_upstream(upstream, repository, fetch)
                return
            if await self._blobs.adopt(repository, fetch.digest):
                # Stored meanwhile, by another replica: read back from storage.
                if held:
                    await _released(lock)
                await self._copy_stored(repository, fetch)
                return
            if held:
                break
            await asyncio.sleep(FOLLOW_POLL_S)
        try:
            async with background(_renewed(lock)):
                await self._fetch_from_upstream(upstream, repository, fetch)
        finally:
            await _released(lock)

    async def _copy_stored(self, repository: str, fetch: BlobFetch) -> None:
        size = await self._blobs.size(repository, fetch.digest)
        fetch.begin(size)
        async for chunk in self._blobs.read(fetch.digest, 0, size):
            await fetch.append(chunk)
        fetch.complete()

    async def _fetch_from_upstream(self, upstream: Upstream, repository: str, fetch: BlobFetch) -> None:
        digest = fetch.digest
        name = upstream.remote_name(repository)
        path = f"/v2/{name}/blobs/{digest}"
        url = upstream.endpoint.url
        hasher = digest.hasher()
        received = 0
        try:
            async with self._sessions.limit(upstream):
                remote = await self._sessions.session(upstream)
                async with await remote.request("GET", path, scope=f"repository:{name}:pull") as response:
                    if response.status == 404:
                        raise BlobUnknown(f"blob {digest} unknown to {url}, the upstream of {upstream.project}")
                    if response.status != 200:
                        raise UpstreamFailed(
                            answered(url, response.status, f"GET {path}", await body_excerpt(response))
                        )
                    fetch.begin(response.content_length)
                    started = time.monotonic()
                    with translated(url, f"GET {path}", self._sessions.timeout):
                        async for chunk in response.content.iter_chunked(FETCH_CHUNK):
                            hasher.update(chunk)
                            await fetch.append(chunk)
                            received += len(chunk)
                            if upstream.speed_kb is not None:
                                # proxy_speed_kb: no faster than the project allows.
                                delay = throttle_delay(received, upstream.speed_kb, time.monotonic() - started)
                                if delay > 0:
                                    await asyncio.sleep(delay)
        except RemoteError as exc:
            raise UpstreamFailed(f"cannot fetch blob {digest} from {url}: {exc}") from None
        if fetch.size is not None and received != fetch.size:
            raise UpstreamFailed(f"{url} sent {received} of the {fetch.size} bytes of blob {digest}")
        if hasher.hexdigest() != digest.hex:
            raise UpstreamFailed(f"{url} sent {received} bytes for blob {digest} that do not hash to it")
        fetch.complete()
        # Stored through an upload like any other blob, so garbage collection's protocol holds.
        await self._uploads.monolithic(repository, digest, fetch.reader().chunks(), received)
        log.info("proxy_blob_kept", repository=repository, digest=str(digest), size=received)

    async def lifespan(self, app: object) -> AsyncIterator[None]:
        async with contextlib.asynccontextmanager(self._fetches.lifespan)(app):
            yield


def throttle_delay(received: int, speed_kb: int, elapsed_s: float) -> float:
    """How long a fetch that has received `received` bytes in `elapsed_s` waits before reading on, to stay
    within `speed_kb` KiB/s on average since it began."""
    return max(received / (speed_kb * 1024) - elapsed_s, 0.0)


async def _renewed(lock: Lock) -> None:
    """Keeps a fetch's lock while the fetch runs (it may take longer than the lock's expiry)."""
    while True:
        await asyncio.sleep(LOCK_TTL_S / 3)
        with contextlib.suppress(redis.exceptions.RedisError):
            await lock.reacquire()


async def _released(lock: Lock) -> None:
    # A lock that lapsed, or a Redis gone: the other replicas' wait ends with the expiry all the same.
    with contextlib.suppress(redis.exceptions.RedisError):
        await lock.release()
