"""HTTP handlers of the distribution API: parse, call one service method, render. No rules, no SQL."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

import structlog
from aiohttp import web

from services.common.oci import mediatypes as mt
from services.common.oci.digest import Digest, InvalidDigest, parse_digest
from services.common.oci.names import is_valid_name
from services.common.settings import RegistrySettings
from services.common.storage import PathNotFound
from services.registry.api import body
from services.registry.api.routes import Access, Route
from services.registry.auth import ROUTE, Authorizer
from services.registry.blobs import BlobService, digest_param
from services.registry.errors import (
    BlobUnknown,
    BlobUploadInvalid,
    BlobUploadUnknown,
    ManifestUnknown,
    PaginationInvalid,
)
from services.registry.manifests import ManifestService
from services.registry.metadata.models import Manifest
from services.registry.proxy.cache import ProxyCache
from services.registry.proxy.fetches import BlobReader
from services.registry.proxy.manifests import Fetched
from services.registry.pulls import PullRecorder
from services.registry.uploads import UploadService

log = structlog.get_logger()
Handler = Callable[[web.Request, Route], Awaitable[web.StreamResponse]]
API_VERSION_HEADER = ("Docker-Distribution-API-Version", "registry/2.0")
MAX_PAGE = 10_000
DEFAULT_CATALOG_PAGE = 1_000


def _page_params(request: web.Request) -> tuple[int, str]:
    raw = request.query.get("n")
    if raw is None:
        n = -1
    else:
        try:
            n = int(raw)
        except ValueError:
            raise PaginationInvalid(f"n={raw!r} is not a number") from None
        if n < 0:
            raise PaginationInvalid(f"n={raw!r} must not be negative")
    return min(n, MAX_PAGE), request.query.get("last", "")


def _paged(items: list[str], n: int, path: str, last_key: str) -> tuple[list[str], dict[str, str]]:
    if n == 0:
        return [], {}
    if len(items) <= n:
        return items, {}
    items = items[:n]
    link = f"{path}?{urlencode({'n': n, 'last': items[-1]})}"
    return items, {"Link": f'<{link}>; rel="next"'}


@dataclass(frozen=True)
class BlobDownloads:
    """How blob GETs reach a driver's download URL (S3): a 307 to it, or through nginx."""

    redirect: bool = False
    expiry_s: int = 1200


class RegistryApi:
    def __init__(
        self,
        settings: RegistrySettings,
        authorizer: Authorizer,
        blobs: BlobService,
        uploads: UploadService,
        manifests: ManifestService,
        pulls: PullRecorder,
        downloads: BlobDownloads | None = None,
        proxy: ProxyCache | None = None,
    ) -> None:
        self._settings = settings
        self._proxy = proxy
        self._downloads = downloads or BlobDownloads()
        self._authorizer = authorizer
        self._blobs = blobs
        self._uploads = uploads
        self._manifests = manifests
        self._pulls = pulls
        self._handlers: dict[tuple[str, str], Handler] = {
            ("base", "GET"): self.base,
            ("base", "HEAD"): self.base,
            ("catalog", "GET"): self.catalog,
            ("blob", "GET"): self.get_blob,
            ("blob", "HEAD"): self.get_blob,
            ("blob", "DELETE"): self.delete_blob,
            ("upload", "POST"): self.start_upload,
            ("upload", "PATCH"): self.patch_upload,
            ("upload", "PUT"): self.put_upload,
            ("upload", "GET"): self.upload_status,
            ("upload", "DELETE"): self.cancel_upload,
            ("manifest", "GET"): self.get_manifest,
            ("manifest", "HEAD"): self.get_manifest,
            ("manifest", "PUT"): self.put_manifest,
            ("manifest", "DELETE"): self.delete_manifest,
            ("tags", "GET"): self.tags,
            ("referrers", "GET"): self.referrers,
        }

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        route: Route = request[ROUTE]
        return await self._handlers[(route.endpoint, request.method)](request, route)

    async def base(self, request: web.Request, route: Route) -> web.StreamResponse:
        return web.json_response({})

    # --- blobs -----------------------------------------------------------------------------------------

    async def get_blob(self, request: web.Request, route: Route) -> web.StreamResponse:
        digest = digest_param(route.ref)
        headers = {
            "Docker-Content-Digest": str(digest),
            "Content-Type": "application/octet-stream",
            "ETag": f'"{digest}"',
            "Cache-Control": "max-age=31536000",
        }
        try:
            size = await self._blobs.size(route.name, digest)
        except BlobUnknown:
            upstream = await self._proxy.upstream(route.name) if self._proxy is not None else None
            if self._proxy is None or upstream is None:
                raise
            if request.method == "HEAD":
                size = await self._proxy.blobs.blob_size(upstream, route.name, digest)
                return await head_response(request, headers, size)
            reader = await self._proxy.blobs.blob_reader(upstream, route.name, digest)
            if reader is not None:
                return await self._stream_fetch(request, reader, headers)
            size = await self._blobs.size(route.name, digest)  # the registry held it: linked here now
        if request.method == "HEAD":
            return await head_response(request, {**headers, "Accept-Ranges": "bytes"}, size)
        local = self._blobs.local_path(digest)
        if local is not None:
            if self._settings.accel_redirect:
                # nginx streams the file itself (sendfile, ranges); Python never touches the bytes.
                headers["X-Accel-Redirect"] = self._settings.accel_prefix + self._blobs.path(digest)
                return web.Response(status=200, headers=headers)
            return web.FileResponse(local, headers=headers)
        if self._downloads.redirect or self._settings.accel_redirect:
            # Signed only when someone else fetches it: streaming through this process needs no URL.
            url = await self._blobs.download_url(digest, self._downloads.expiry_s)
            if url is not None and self._downloads.redirect:
                # The client fetches from the object store itself, with the URL's own short-lived signature.
                return web.Response(status=307, headers={**headers, "Location": url, "Content-Length": "0"})
            if url is not None:
                # nginx fetches from the object store and streams to the client; the digest rides in the
                # path, as nginx keeps no header of this answer once it proxies the object store's.
                target = urlsplit(url)
                headers["X-Accel-Redirect"] = f"{self._settings.accel_s3_prefix}{digest}{target.path}?{target.query}"
                return web.Response(status=200, headers=headers)
        return await self._stream_blob(request, digest, size, headers)

    async def _stream_blob(
        self, request: web.Request, digest: Digest, size: int, headers: dict[str, str]
    ) -> web.StreamResponse:
        """Bytes through this process, when no proxy stands in front (a test, a bare registry): a single
        range or the whole blob."""
        try:
            wanted = request.http_range
        except ValueError:
            wanted = slice(None, None)
        start, stop = wanted.start or 0, size if wanted.stop is None else min(wanted.stop, size)
        if start < 0:  # bytes=-N: the last N
            start, stop = max(size + start, 0), size
        ranged = wanted.start is not None or wanted.stop is not None
        if ranged and start >= size:
            raise web.HTTPRequestRangeNotSatisfiable(headers={"Content-Range": f"bytes */{size}"})
        response = web.StreamResponse(status=206 if ranged else 200, headers={**headers, "Accept-Ranges": "bytes"})
        if ranged:
            response.headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
        response.content_length = stop - start
        chunks = self._blobs.read(digest, start, stop - start)
        # The first chunk before the status line: a blob whose bytes are missing is a clean error, not a
        # 200 cut short.
        try:
            first = await anext(chunks, b"")
        except PathNotFound:
            log.error("blob_bytes_missing", digest=str(digest))
            raise BlobUnknown(f"blob {digest} is recorded but its bytes are missing from storage") from None
        await response.prepare(request)
        await response.write(first)
        async for chunk in chunks:
            await response.write(chunk)
        await response.write_eof()
        return response

    async def _stream_fetch(
        self, request: web.Request, reader: BlobReader, headers: dict[str, str]
    ) -> web.StreamResponse:
        """A proxy cache's blob as it arrives from the upstream: the whole blob (a range is answered once
        it is stored), its size when the upstream said it. An upstream that fails before its first byte is
        a clean error; after it, the body is cut short."""
        try:
            size = await reader.ready()
            response = web.StreamResponse(status=200, headers=headers)
            if size is not None:
                response.content_length = size
            await response.prepare(request)
        except BaseException:
            reader.close()
            raise
        chunks = reader.chunks()
        try:
            async for chunk in chunks:
                await response.write(chunk)
        except Exception as exc:
            # The status line is out: cutting the connection is the only way left to say the body is bad.
            log.warning("proxy_blob_stream_cut", digest=str(reader.fetch.digest), reason=str(exc))
            if request.transport is not None:
                request.transport.close()
            return response
        finally:
            await chunks.aclose()  # its spool file now, not when the collector finds it (a client gone)
        await response.write_eof()
        return response

    async def delete_blob(self, request: web.Request, route: Route) -> web.StreamResponse:
        await self._blobs.delete(route.name, digest_param(route.ref))
        return web.Response(status=202, headers={"Content-Length": "0"})

    # --- uploads ---------------------------------------------------------------------------------------

    async def start_upload(self, request: web.Request, route: Route) -> web.StreamResponse:
        if route.ref:
            raise BlobUploadInvalid("POST starts an upload at /blobs/uploads/; PATCH or PUT an existing one")
        mount, source = request.query.get("mount"), request.query.get("from")
        if mount is not None and source:
            # Any mount that cannot be done (bad digest or name, no access, blob not there) falls back to
            # a normal upload (202), as the spec asks.
            digest = _digest_or_none(mount)
            if (
                digest is not None
                and is_valid_name(source)
                and await self._authorizer.allows(request, Access("repository", source, "pull"))
                and await self._blobs.mount(route.name, digest, source)
            ):
                return self._blob_created(route.name, str(digest))
        if "digest" in request.query:
            digest = digest_param(request.query["digest"])
            await self._uploads.monolithic(route.name, digest, body.stream(request), request.content_length)
            return self._blob_created(route.name, str(digest))
        upload = await self._uploads.start(route.name)
        return web.Response(status=202, headers={**self._uploads.state_headers(upload), "Content-Length": "0"})

    def _blob_created(self, name: str, digest: str) -> web.Response:
        return web.Response(
            status=201,
            headers={"Location": f"/v2/{name}/blobs/{digest}", "Docker-Content-Digest": digest, "Content-Length": "0"},
        )

    def _upload_id(self, route: Route) -> str:
        if not route.ref:
            raise BlobUploadUnknown("no upload id in the URL")
        return route.ref

    async def patch_upload(self, request: web.Request, route: Route) -> web.StreamResponse:
        upload = await self._uploads.status(route.name, self._upload_id(route))
        chunk = body.content_range(request, self._uploads.state_headers(upload))
        start, length = chunk if chunk is not None else (None, request.content_length)
        upload = await self._uploads.append(route.name, upload.id, body.stream(request), start=start, length=length)
        return web.Response(status=202, headers={**self._uploads.state_headers(upload), "Content-Length": "0"})

    async def put_upload(self, request: web.Request, route: Route) -> web.StreamResponse:
        upload = await self._uploads.status(route.name, self._upload_id(route))
        if "digest" not in request.query:
            raise BlobUploadInvalid("PUT must name the blob's digest: ?digest=<algorithm>:<hex>")
        digest = digest_param(request.query["digest"])
        stream, chunk_args = None, {}
        if body.has_body(request):
            chunk = body.content_range(request, self._uploads.state_headers(upload))
            start, length = chunk if chunk is not None else (None, request.content_length)
            stream, chunk_args = body.stream(request), {"start": start, "length": length}
        await self._uploads.finish(route.name, upload.id, digest, stream, **chunk_args)
        return self._blob_created(route.name, str(digest))

    async def upload_status(self, request: web.Request, route: Route) -> web.StreamResponse:
        upload = await self._uploads.status(route.name, self._upload_id(route))
        return web.Response(status=204, headers=self._uploads.state_headers(upload))

    async def cancel_upload(self, request: web.Request, route: Route) -> web.StreamResponse:
        await self._uploads.cancel(route.name, self._upload_id(route))
        return web.Response(status=204)

    # --- manifests -------------------------------------------------------------------------------------

    async def get_manifest(self, request: web.Request, route: Route) -> web.StreamResponse:
        upstream = await self._proxy.upstream(route.name) if self._proxy is not None else None
        manifest: Manifest | Fetched
        if self._proxy is not None and upstream is not None:
            manifest = await self._proxy.manifests.manifest(
                upstream, route.name, route.ref, operator(request), pulled=request.method == "GET"
            )
        else:
            manifest = await self._manifests.get(route.name, route.ref)
        accepted = _accepted_types(request)
        if accepted is not None and manifest.media_type not in accepted:
            raise ManifestUnknown(
                f"manifest {route.ref} is {manifest.media_type}, which the Accept header does not list"
            )
        headers = {
            "Docker-Content-Digest": manifest.digest,
            "Content-Type": manifest.media_type,
            "ETag": f'"{manifest.digest}"',
        }
        if request.method == "GET" and not isinstance(manifest, Fetched):
            # A HEAD is a client checking what it has; only a GET is a pull (as Harbor counts them). One
            # from a proxy cache's upstream is counted once it is kept (ProxyCache.manifest).
            self._pulls.record(route.name, manifest.digest, operator(request), manifest.media_type)
        # aiohttp sends the headers and Content-Length of this body without the body itself for HEAD.
        return web.Response(status=200, body=manifest.content, headers=headers)

    async def put_manifest(self, request: web.Request, route: Route) -> web.StreamResponse:
        data = await body.read_limited(request, self._settings.max_manifest_bytes)
        pushed = await self._manifests.put(
            route.name, route.ref, request.headers.get("Content-Type"), data, operator=operator(request)
        )
        headers = {
            "Location": f"/v2/{route.name}/manifests/{pushed.digest}",
            "Docker-Content-Digest": pushed.digest,
            "Content-Length": "0",
        }
        if pushed.subject_digest is not None:
            headers["OCI-Subject"] = pushed.subject_digest
        return web.Response(status=201, headers=headers)

    async def delete_manifest(self, request: web.Request, route: Route) -> web.StreamResponse:
        await self._manifests.delete(route.name, route.ref, operator=operator(request))
        return web.Response(status=202, headers={"Content-Length": "0"})

    # --- listings --------------------------------------------------------------------------------------

    async def tags(self, request: web.Request, route: Route) -> web.StreamResponse:
        n, last = _page_params(request)
        limit = MAX_PAGE if n < 0 else n
        tags = await self._manifests.tags(route.name, last, limit + 1)
        tags, headers = _paged(tags, limit, f"/v2/{route.name}/tags/list", last)
        return web.json_response({"name": route.name, "tags": tags}, headers=headers)

    async def catalog(self, request: web.Request, route: Route) -> web.StreamResponse:
        n, last = _page_params(request)
        limit = DEFAULT_CATALOG_PAGE if n < 0 else n
        names = await self._manifests.catalog(last, limit + 1)
        names, headers = _paged(names, limit, "/v2/_catalog", last)
        return web.json_response({"repositories": names}, headers=headers)

    async def referrers(self, request: web.Request, route: Route) -> web.StreamResponse:
        subject = digest_param(route.ref)
        artifact_type = request.query.get("artifactType") or None
        found = await self._manifests.referrers(route.name, subject, artifact_type)
        manifests = []
        for r in found:
            entry: dict[str, object] = {"mediaType": r.media_type, "digest": r.digest, "size": r.size}
            if r.artifact_type is not None:
                entry["artifactType"] = r.artifact_type
            if r.annotations:
                entry["annotations"] = r.annotations
            manifests.append(entry)
        headers = {"Content-Type": mt.OCI_INDEX}
        if artifact_type is not None:
            headers["OCI-Filters-Applied"] = "artifactType"
        index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": manifests}
        return web.Response(status=200, body=json.dumps(index).encode(), headers=headers)


def _digest_or_none(value: str) -> Digest | None:
    try:
        return parse_digest(value)
    except InvalidDigest:
        return None


def operator(request: web.Request) -> str:
    """Who the verified token names (an anonymous token names nobody)."""
    return request.get("user") or "anonymous"


async def head_response(request: web.Request, headers: dict[str, str], length: int) -> web.StreamResponse:
    """Headers, with the Content-Length of a body we do not send."""
    resp = web.StreamResponse(status=200, headers=headers)
    resp.content_length = length
    await resp.prepare(request)
    await resp.write_eof()
    return resp


def _accepted_types(request: web.Request) -> set[str] | None:
    """The manifest types the client lists in Accept, or None when it accepts any."""
    values = request.headers.getall("Accept", [])
    types = {part.split(";", 1)[0].strip() for v in values for part in v.split(",")}
    types.discard("")
    if not types or "*/*" in types or not types & mt.MANIFESTS:
        return None
    return types
