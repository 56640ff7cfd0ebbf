"""Pull-through caching for proxy-cache projects (Harbor's projects with a registry_id).

A manifest pull by digest that the project holds is served from it, with no upstream call. A pull by tag
asks the upstream for the tag's digest (one HEAD) and serves the local copy when it matches, or when the
upstream cannot be reached; otherwise, and for anything missing, the manifest comes from the upstream,
checked against its digest, and is served at once. An image manifest is then kept in the background: its
blobs are fetched (joining the fetches its client starts by asking for them), then the manifest is written
through the same transaction a push uses (quotas, events, immutability), so nothing names a blob that is
not stored. An index is kept at once, with the children clients pull kept as they are asked for.

A blob the project lacks is linked when the registry holds it for another repository, or fetched once
(services.registry.proxy.fetches) while every client asking for it reads along. Bad answers from the
upstream (an error, a wrong digest, a short body, an HTML page) store nothing and fail the pull with one
line saying what the upstream did; the next pull asks again.

Pushes into a proxy-cache project are refused (services.registry.proxy.push_guard).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import redis.exceptions
import structlog
from redis.asyncio.lock import Lock

from services.common.errors import BerthError
from services.common.oci import mediatypes as mt
from services.common.oci.digest import Digest, digest_bytes, parse_digest
from services.common.oci.names import looks_like_digest
from services.common.redis import RedisClient
from services.common.remote.client import RemoteEndpoint, RemoteError, RemoteRegistry, body_excerpt, translated
from services.common.tasks import TaskSet, background
from services.registry.blobs import BlobService
from services.registry.errors import BlobUnknown, ManifestInvalid, ManifestUnknown, UpstreamFailed
from services.registry.manifest_parse import parse_manifest
from services.registry.manifests import ManifestService
from services.registry.metadata.models import Manifest
from services.registry.proxy.fetches import BlobFetch, BlobFetches, BlobReader
from services.registry.proxy.upstreams import Upstream, Upstreams
from services.registry.pulls import PullRecorder
from services.registry.uploads import UploadService

log = structlog.get_logger()
# Each wait on the upstream (connecting, each read), not a whole transfer.
REMOTE_TIMEOUT_S = 30.0
# The freshness check of a cached tag: past this, the local copy is served.
FRESHNESS_TIMEOUT_S = 10.0
FETCH_CHUNK = 1 << 20
# The lock on a blob's fetch across replicas: renewed while the fetch runs, lapsing this long after the
# replica holding it died; the others look whether the blob is stored this often.
LOCK_TTL_S = 30.0
FOLLOW_POLL_S = 0.2
ACCEPT = ", ".join(sorted(mt.MANIFESTS))


@dataclass(frozen=True, slots=True)
class Fetched:
    """A manifest as the upstream gave it (digest checked), served while it is being kept."""

    digest: str
    media_type: str
    content: bytes


class ProxyCache:
    def __init__(
        self,
        upstreams: Upstreams,
        manifests: ManifestService,
        blobs: BlobService,
        uploads: UploadService,
        fetches: BlobFetches,
        redis_client: RedisClient,
        pulls: PullRecorder,
        *,
        max_manifest_bytes: int,
        timeout: float = REMOTE_TIMEOUT_S,
    ) -> None:
        self._upstreams = upstreams
        self._manifests = manifests
        self._blobs = blobs
        self._uploads = uploads
        self._fetches = fetches
        self._redis = redis_client
        self._pulls = pulls
        self._max_manifest_bytes = max_manifest_bytes
        self._timeout = timeout
        self._sessions: dict[RemoteEndpoint, RemoteRegistry] = {}
        self._limits: dict[tuple[str, int], asyncio.Semaphore] = {}
        self._keeping: dict[tuple[str, str, str | None], asyncio.Task[None]] = {}
        self._tasks = TaskSet()  # keeping manifests

    async def upstream(self, repository: str) -> Upstream | None:
        return await self._upstreams.of(repository)

    # --- manifests --------------------------------------------------------------------------------------

    async def manifest(
        self, upstream: Upstream, repository: str, reference: str, operator: str, *, pulled: bool = False
    ) -> Manifest | Fetched:
        """The manifest to serve; `pulled`: a GET (a pull to count) rather than a HEAD. A local one is counted
        by the caller; one from the upstream here, once kept."""
        by_digest = looks_like_digest(reference)
        local: Manifest | None = None
        with contextlib.suppress(ManifestUnknown):
            local = await self._manifests.get(repository, reference)
        if local is not None and by_digest:
            return local  # content-addressed: nothing upstream can make it stale
        name = upstream.remote_name(repository)
        where = f"{upstream.endpoint.url} (the upstream of proxy cache project {upstream.project})"
        try:
            if local is not None:
                current = await asyncio.wait_for(self._head_manifest(upstream, name, reference), FRESHNESS_TIMEOUT_S)
                if current == local.digest:
                    return local
            fetched = await self._get_manifest(upstream, name, reference)
        except (RemoteError, UpstreamFailed, TimeoutError) as exc:
            reason = str(exc) or f"no answer within {FRESHNESS_TIMEOUT_S:g} s"
            if local is not None:
                log.warning("proxy_upstream_unavailable", repository=repository, reference=reference, reason=reason)
                return local
            raise UpstreamFailed(f"cannot fetch manifest {reference} from {where}: {reason}") from None
        if fetched is None:
            raise ManifestUnknown(f"manifest {reference} unknown to {where}")
        self._keep(upstream, repository, None if by_digest else reference, fetched, operator, pulled)
        return fetched

    async def _head_manifest(self, upstream: Upstream, name: str, reference: str) -> str | None:
        """The digest the upstream has for the tag now; None when it does not say (then a GET asks)."""
        async with self._limit(upstream):
            remote = await self._session(upstream)
            async with await remote.request(
                "HEAD", f"/v2/{name}/manifests/{reference}", scope=f"repository:{name}:pull", headers={"Accept": ACCEPT}
            ) as response:
                if response.status != 200:
                    return None
                return response.headers.get("Docker-Content-Digest")

    async def _get_manifest(self, upstream: Upstream, name: str, reference: str) -> Fetched | None:
        url = upstream.endpoint.url
        async with self._limit(upstream):
            remote = await self._session(upstream)
            path = f"/v2/{name}/manifests/{reference}"
            async with await remote.request(
                "GET", path, scope=f"repository:{name}:pull", headers={"Accept": ACCEPT}
            ) as response:
                if response.status == 404:
                    return None
                if response.status != 200:
                    raise UpstreamFailed(_answered(url, response.status, f"GET {path}", await body_excerpt(response)))
                with translated(url, f"GET {path}", self._timeout):
                    content = await response.content.read(self._max_manifest_bytes + 1)
                announced = response.headers.get("Docker-Content-Digest")
                content_type = response.headers.get("Content-Type")
        if len(content) > self._max_manifest_bytes:
            raise UpstreamFailed(f"{url} answered GET {path} with more than {self._max_manifest_bytes} bytes")
        expected = reference if looks_like_digest(reference) else announced
        algorithm = expected.split(":", 1)[0] if expected and ":" in expected else "sha256"
        try:
            digest = str(digest_bytes(content, algorithm))
        except ValueError:
            raise UpstreamFailed(f"{url} names the manifest {reference} with digest {expected!r}") from None
        if expected is not None and digest != expected:
            raise UpstreamFailed(f"{url} answered GET {path} with a manifest whose digest is {digest}, not {expected}")
        try:
            parsed = parse_manifest(content, content_type)
        except ManifestInvalid as exc:
            raise UpstreamFailed(f"{url} answered GET {path} with no manifest: {exc}") from None
        return Fetched(digest=digest, media_type=parsed.media_type, content=content)

    def _keep(
        self, upstream: Upstream, repository: str, tag: str | None, fetched: Fetched, operator: str, pulled: bool
    ) -> None:
        """Keeps the manifest in the background (once, however many pull it meanwhile); a GET (`pulled`)
        is counted once the keep is over, so that the kept artifact carries its pull time (what the default
        retention rule, pulled within 7 days, reads) and its count."""
        key = (repository, fetched.digest, tag)
        keeping = self._keeping.get(key)
        if keeping is None:

            async def keep() -> None:
                try:
                    await self._store(upstream, repository, tag, fetched, operator)
                finally:
                    del self._keeping[key]

            keeping = self._keeping[key] = self._tasks.spawn(keep())
        if pulled:

            async def count(kept: asyncio.Task[None]) -> None:
                await asyncio.wait({kept})
                self._pulls.record(repository, fetched.digest, operator, fetched.media_type)

            self._tasks.spawn(count(keeping))

    async def _store(
        self, upstream: Upstream, repository: str, tag: str | None, fetched: Fetched, operator: str
    ) -> None:
        parsed = parse_manifest(fetched.content, fetched.media_type)
        try:
            # Every blob first: the manifest's row may only name stored blobs.
            await asyncio.gather(
                *(self._ensure_blob(upstream, repository, parse_digest(d)) for d in parsed.blob_digests)
            )
            await self._manifests.put(
                repository, tag or fetched.digest, fetched.media_type, fetched.content, operator=operator, cached=True
            )
        except (BerthError, RemoteError) as exc:
            # A quota, an immutable tag, an upstream that failed midway: served, not kept; the next pull tries.
            log.warning("proxy_manifest_not_kept", repository=repository, digest=fetched.digest, reason=str(exc))
            return
        log.info("proxy_manifest_kept", repository=repository, digest=fetched.digest, tag=tag)

    # --- blobs ------------------------------------------------------------------------------------------

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
            async with self._limit(upstream):
                remote = await self._session(upstream)
                async with await remote.request("HEAD", path, scope=f"repository:{name}:pull") as response:
                    if response.status == 404:
                        raise BlobUnknown(f"blob {digest} unknown to {url}, the upstream of {upstream.project}")
                    if response.status != 200 or response.content_length is None:
                        raise UpstreamFailed(_answered(url, response.status, f"HEAD {path}", ""))
                    return response.content_length
        except RemoteError as exc:
            raise UpstreamFailed(f"cannot ask {url} for blob {digest}: {exc}") from None

    async def _ensure_blob(self, upstream: Upstream, repository: str, digest: Digest) -> None:
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
            async with self._limit(upstream):
                remote = await self._session(upstream)
                async with await remote.request("GET", path, scope=f"repository:{name}:pull") as response:
                    if response.status == 404:
                        raise BlobUnknown(f"blob {digest} unknown to {url}, the upstream of {upstream.project}")
                    if response.status != 200:
                        raise UpstreamFailed(
                            _answered(url, response.status, f"GET {path}", await body_excerpt(response))
                        )
                    fetch.begin(response.content_length)
                    started = time.monotonic()
                    with translated(url, f"GET {path}", self._timeout):
                        async for chunk in response.content.iter_chunked(FETCH_CHUNK):
                            hasher.update(chunk)
                            await fetch.append(chunk)
                            received += len(chunk)
                            if upstream.speed_kb is not None:
                                # proxy_speed_kb: no faster than the project allows.
                                ahead = received / (upstream.speed_kb * 1024) - (time.monotonic() - started)
                                if ahead > 0:
                                    await asyncio.sleep(ahead)
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

    # --- plumbing ---------------------------------------------------------------------------------------

    def _limit(self, upstream: Upstream) -> contextlib.AbstractAsyncContextManager[object]:
        """max_upstream_conn: the project's requests to its upstream at once."""
        if upstream.max_connections is None:
            return contextlib.nullcontext()
        key = (upstream.project, upstream.max_connections)
        semaphore = self._limits.get(key)
        if semaphore is None:
            semaphore = self._limits[key] = asyncio.Semaphore(upstream.max_connections)
        return semaphore

    async def _session(self, upstream: Upstream) -> RemoteRegistry:
        session = self._sessions.get(upstream.endpoint)
        if session is None:
            session = RemoteRegistry(upstream.endpoint, timeout=self._timeout)
            await session.__aenter__()
            self._sessions[upstream.endpoint] = session
        return session

    async def lifespan(self, app: object) -> AsyncIterator[None]:
        async with contextlib.asynccontextmanager(self._fetches.lifespan)(app):
            try:
                yield
            finally:
                await self._tasks.cancel_all()
                for session in self._sessions.values():
                    await session.__aexit__(None, None, None)
                self._sessions.clear()


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


def _answered(url: str, status: int, what: str, excerpt: str) -> str:
    if status in (401, 403):
        return f"{url} refused the endpoint's credentials ({status} on {what})"
    return f"{url} answered {status} to {what}" + (f": {excerpt}" if excerpt else "")
