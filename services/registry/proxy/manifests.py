"""A proxy cache's manifests. A pull by digest that the project holds is served from it, with no upstream
call. A pull by tag asks the upstream for the tag's digest (one HEAD) and serves the local copy when it
matches, or when the upstream cannot be reached; otherwise, and for anything missing, the manifest comes
from the upstream, checked against its digest, and is served at once. An image manifest is then kept in
the background: its blobs first (services.registry.proxy.blobs), then the manifest through the same
transaction a push uses (quotas, events, immutability), so nothing names a blob that is not stored. An
index is kept at once, with the children clients pull kept as they are asked for."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import structlog

from services.common.errors import BerthError
from services.common.oci import mediatypes as mt
from services.common.oci.digest import digest_bytes, parse_digest
from services.common.oci.names import looks_like_digest
from services.common.remote.client import RemoteError, body_excerpt, translated
from services.common.tasks import TaskSet
from services.registry.errors import ManifestInvalid, ManifestUnknown, UpstreamFailed
from services.registry.manifest_parse import parse_manifest
from services.registry.manifests import ManifestService
from services.registry.metadata.models import Manifest
from services.registry.proxy.blobs import ProxyBlobs
from services.registry.proxy.sessions import UpstreamSessions, answered
from services.registry.proxy.upstreams import Upstream
from services.registry.pulls import PullRecorder

log = structlog.get_logger()
# The freshness check of a cached tag: past this, the local copy is served.
FRESHNESS_TIMEOUT_S = 10.0
ACCEPT = ", ".join(sorted(mt.MANIFESTS))


@dataclass(frozen=True, slots=True)
class Fetched:
    """A manifest as the upstream gave it (digest checked), served while it is being kept."""

    digest: str
    media_type: str
    content: bytes


class ProxyManifests:
    def __init__(
        self,
        sessions: UpstreamSessions,
        manifests: ManifestService,
        blobs: ProxyBlobs,
        pulls: PullRecorder,
        *,
        max_manifest_bytes: int,
    ) -> None:
        self._sessions = sessions
        self._manifests = manifests
        self._blobs = blobs
        self._pulls = pulls
        self._max_manifest_bytes = max_manifest_bytes
        self._keeping: dict[tuple[str, str, str | None], asyncio.Task[None]] = {}
        self._tasks = TaskSet()  # keeping manifests, counting their pulls

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
        async with self._sessions.limit(upstream):
            remote = await self._sessions.session(upstream)
            async with await remote.request(
                "HEAD", f"/v2/{name}/manifests/{reference}", scope=f"repository:{name}:pull", headers={"Accept": ACCEPT}
            ) as response:
                if response.status != 200:
                    return None
                return response.headers.get("Docker-Content-Digest")

    async def _get_manifest(self, upstream: Upstream, name: str, reference: str) -> Fetched | None:
        url = upstream.endpoint.url
        async with self._sessions.limit(upstream):
            remote = await self._sessions.session(upstream)
            path = f"/v2/{name}/manifests/{reference}"
            async with await remote.request(
                "GET", path, scope=f"repository:{name}:pull", headers={"Accept": ACCEPT}
            ) as response:
                if response.status == 404:
                    return None
                if response.status != 200:
                    raise UpstreamFailed(answered(url, response.status, f"GET {path}", await body_excerpt(response)))
                with translated(url, f"GET {path}", self._sessions.timeout):
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
                *(self._blobs.ensure(upstream, repository, parse_digest(d)) for d in parsed.blob_digests)
            )
            await self._manifests.put(
                repository, tag or fetched.digest, fetched.media_type, fetched.content, operator=operator, cached=True
            )
        except (BerthError, RemoteError) as exc:
            # A quota, an immutable tag, an upstream that failed midway: served, not kept; the next pull tries.
            log.warning("proxy_manifest_not_kept", repository=repository, digest=fetched.digest, reason=str(exc))
            return
        log.info("proxy_manifest_kept", repository=repository, digest=fetched.digest, tag=tag)

    async def lifespan(self, _app: object) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await self._tasks.cancel_all()
