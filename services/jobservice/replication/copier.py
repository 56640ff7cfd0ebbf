"""The copy engine of replication: one artifact (an image, or an index with its child manifests) and its
accessories (referrers: signatures, SBOMs) from an ArtifactSource to a remote destination, as Harbor's
image transfer does it, with these guarantees:

- blob bytes are streamed in chunks of at most 1 MiB, never held whole, and hashed on the way: a blob whose
  bytes do not match its descriptor's digest is aborted before its last chunk is sent (the destination
  checks again at the final `PUT ?digest=`);
- what the destination already has is not sent again: a blob it holds is skipped, one this session saw in
  another of its repositories is mounted from there, a tag already at the digest is not pushed again;
- a connection cut while a blob streams does not start the copy over: the source is read on from the byte
  it stopped at (HTTP Range), the destination's upload goes on from what it says it holds (`GET` of the
  upload's URL answers `Range: 0-N`), or the blob starts over when the destination cannot say;
- manifests go after everything they reference (an index after its children, a referrer after its
  subject), so that a destination never holds a manifest whose content is missing;
- every failure is a CopyError (or the remote client's RemoteError) of one line naming the repository,
  the digest and the registry.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp

from services.common.oci import mediatypes as mt
from services.common.oci.digest import Digest, InvalidDigest, parse_digest
from services.common.remote.client import RemoteError, RemoteRegistry, RemoteUnauthorized, translated

# The most of a blob read or sent at once.
CHUNK_BYTES = 1 << 20
# Distribution's own limit on a manifest's size; a larger answer is no manifest.
MAX_MANIFEST_BYTES = 4 << 20
# Tries of one blob on the destination (a cut upload, a 5xx) before the copy fails.
BLOB_ATTEMPTS = 3
# Seconds before the next try of a blob, times the tries so far.
RETRY_PAUSE_S = 0.5
# Times the source's stream of one blob may break and be opened again where it stopped.
SOURCE_REOPENS = 3
# Pages of one referrers listing followed (the spec's Link: rel="next").
MAX_REFERRER_PAGES = 100
# How much of an error answer's body a message quotes.
EXCERPT_BYTES = 200
ACCEPT_MANIFESTS = ", ".join(sorted(mt.MANIFESTS))
# Layers a registry must not copy (Windows base layers: their bytes are fetched from `urls`).
FOREIGN_LAYERS = frozenset(
    {
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    }
)
_STATUSES_WORTH_A_RETRY = frozenset({408, 429, 500, 502, 503, 504})
# What a registry without the referrers API answers to it: the spec's 404, or a route it does not serve.
_NO_REFERRERS_API = frozenset({404, 405, 501})

Log = Callable[[str], Awaitable[None]]


class CopyError(Exception):
    """Why copying an artifact failed, in one line naming the repository, the digest and the registry."""


class _Transient(CopyError):
    """A failure that another try of the same blob may not meet (a 5xx, an upload the destination lost)."""


class _Superseded(Exception):
    """Ends the body of a request that was given up: a newer request reads the blob now."""


@dataclass(frozen=True)
class Descriptor:
    """An OCI content descriptor: what a manifest, an index or a referrers listing says of one piece."""

    media_type: str
    digest: str
    size: int
    artifact_type: str = ""

    @classmethod
    def parse(cls, value: object, where: str) -> Descriptor:
        """`value` (a decoded JSON object) as a Descriptor; CopyError naming `where` when it is malformed."""
        if not isinstance(value, dict):
            raise CopyError(f"{where} has a descriptor that is not a JSON object")
        media_type, digest, size = value.get("mediaType"), value.get("digest"), value.get("size")
        artifact_type = value.get("artifactType", "")
        if not isinstance(media_type, str) or not isinstance(artifact_type, str):
            raise CopyError(f"{where} has a descriptor of {digest!r} without a valid mediaType")
        if not isinstance(digest, str):
            raise CopyError(f"{where} has a descriptor without a digest")
        try:
            parse_digest(digest)
        except InvalidDigest as exc:
            raise CopyError(f"{where} has a descriptor with a bad digest: {exc}") from None
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise CopyError(f"{where} has a descriptor of {digest} without a valid size")
        return cls(media_type, digest, size, artifact_type)


@dataclass(frozen=True)
class Manifest:
    """A manifest as the source serves it: its media type, its bytes (pushed as they are, so that the
    digest stays the same) and their digest."""

    media_type: str
    body: bytes
    digest: str


def manifest_of(repository: str, reference: str, body: bytes, content_type: str, where: str) -> Manifest:
    """The Manifest served as `repository`'s `reference` (a tag or a digest) by `where`: its media type is
    the Content-Type, or else the body's own `mediaType` (or, without one, what its shape says: the image
    spec makes the field optional); its digest is computed from the body (with the reference's algorithm)
    and, when the reference is a digest, must be it."""
    named = _named(repository, reference)
    media_type = content_type.partition(";")[0].strip()
    if media_type not in mt.MANIFESTS:
        document = _json_object(body, f"manifest {named} on {where}")
        declared = document.get("mediaType")
        if declared is None and document.get("schemaVersion") == 2:
            declared = mt.OCI_INDEX if "manifests" in document else mt.OCI_MANIFEST if "config" in document else None
        if not isinstance(declared, str) or declared not in mt.MANIFESTS:
            shown = declared if isinstance(declared, str) else media_type or "no media type"
            raise CopyError(f"manifest {named} on {where} is {shown}, which replication does not copy")
        media_type = declared
    if _is_digest(reference):
        expected = _digest(reference, f"manifest {named} on {where}")
        computed = f"{expected.algorithm}:{hashlib.new(expected.algorithm, body).hexdigest()}"
        if computed != reference:
            raise CopyError(f"manifest {named} on {where} does not match its digest: its bytes hash to {computed}")
    else:
        computed = f"sha256:{hashlib.sha256(body).hexdigest()}"
    return Manifest(media_type, body, computed)


class ArtifactSource(Protocol):
    """Where replication reads artifacts from: a remote registry (RemoteSource) or this registry's storage.

    Every failure is a CopyError or RemoteError of one line that names the repository, the digest or
    reference, and `where`.
    """

    @property
    def where(self) -> str:
        """The source as messages name it (a URL)."""
        ...

    async def manifest(self, repository: str, reference: str) -> Manifest:
        """The manifest `reference` (a tag or a digest) of `repository`, as `manifest_of` makes it: a
        reference that is a digest is checked against the bytes. CopyError when there is none."""
        ...

    def blob(self, repository: str, digest: str, offset: int = 0) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        """`async with source.blob(repo, digest, offset) as chunks:` the blob's bytes from `offset` on (to
        resume a cut stream), in chunks of at most CHUNK_BYTES, as they arrive: never the whole blob at
        once. A stream that breaks raises RemoteError; the caller checks the bytes against the digest."""
        ...

    async def referrers(self, repository: str, digest: str) -> list[Descriptor]:
        """The manifests whose `subject` is `digest` (OCI 1.1 referrers): signatures, SBOMs. Empty when
        there are none or the source has no referrers API."""
        ...


class _OnRemote:
    """A remote registry, and its name in messages."""

    def __init__(self, remote: RemoteRegistry) -> None:
        self._remote = remote

    @property
    def where(self) -> str:
        return self._remote.endpoint.url


class RemoteSource(_OnRemote):
    """An ArtifactSource reading a remote registry (Harbor, Berth, CNCF Distribution, …) over its V2 API."""

    async def manifest(self, repository: str, reference: str) -> Manifest:
        what = f"GET manifest {_named(repository, reference)}"
        path = f"/v2/{repository}/manifests/{reference}"
        headers = {"Accept": ACCEPT_MANIFESTS}
        async with await self._remote.request("GET", path, scope=_pull(repository), headers=headers) as response:
            if response.status == 404:
                raise CopyError(f"manifest {_named(repository, reference)} is not on {self.where}")
            if response.status != 200:
                raise await _refusal(response, self.where, what)
            body = await _read_limited(self._remote, response, MAX_MANIFEST_BYTES, what)
            content_type = response.headers.get("Content-Type", "")
        return manifest_of(repository, reference, body, content_type, self.where)

    @contextlib.asynccontextmanager
    async def blob(self, repository: str, digest: str, offset: int = 0) -> AsyncIterator[AsyncIterator[bytes]]:
        what = f"GET blob {repository}@{digest}"
        headers = {"Range": f"bytes={offset}-"} if offset else None
        path = f"/v2/{repository}/blobs/{digest}"
        async with await self._remote.request("GET", path, scope=_pull(repository), headers=headers) as response:
            skip = 0
            if response.status == 206 and offset:
                answered = response.headers.get("Content-Range", "")
                if not answered.startswith(f"bytes {offset}-"):
                    raise CopyError(f"{self.where} answered {what} from byte {offset} with {answered!r}")
            elif response.status == 200:
                skip = offset  # a source that ignores Range: what was read already is read past
            elif response.status == 404:
                raise CopyError(f"blob {digest} of {repository} is not on {self.where}")
            else:
                raise await _refusal(response, self.where, what)
            yield self._chunks(response, skip, what)

    async def _chunks(self, response: aiohttp.ClientResponse, skip: int, what: str) -> AsyncIterator[bytes]:
        chunks = response.content.iter_chunked(CHUNK_BYTES)
        while True:
            with _reading(self._remote, what):
                try:
                    chunk = await anext(chunks)
                except StopAsyncIteration:
                    return
            if skip >= len(chunk):
                skip -= len(chunk)
                continue
            chunk, skip = chunk[skip:], 0
            yield chunk

    async def referrers(self, repository: str, digest: str) -> list[Descriptor]:
        what = f"GET referrers of {repository}@{digest}"
        found: list[Descriptor] = []
        path = f"/v2/{repository}/referrers/{digest}"
        for _ in range(MAX_REFERRER_PAGES):
            headers = {"Accept": mt.OCI_INDEX}
            async with await self._remote.request("GET", path, scope=_pull(repository), headers=headers) as response:
                if response.status in _NO_REFERRERS_API and not found:
                    return []  # a registry without the referrers API (Distribution 2.8, Harbor before 2.8)
                if response.status != 200:
                    raise await _refusal(response, self.where, what)
                body = await _read_limited(self._remote, response, MAX_MANIFEST_BYTES, what)
                link = response.links.get("next")
                following = link.get("url") if link is not None else None
            listing = f"the referrers of {repository}@{digest} on {self.where}"
            manifests = _json_object(body, listing).get("manifests") or []
            if not isinstance(manifests, list):
                raise CopyError(f"{listing} are no list of manifests")
            found.extend(Descriptor.parse(entry, listing) for entry in manifests)
            if following is None:
                return found
            path = str(following)
        raise CopyError(f"{self.where} lists more than {MAX_REFERRER_PAGES} pages of {what}")


@dataclass(frozen=True)
class BlobUpload:
    """An upload session on the destination: where its next request goes (the Location of its last
    answer) and how many bytes it holds."""

    repository: str
    digest: str
    location: str
    offset: int
    min_chunk: int = 0  # OCI-Chunk-Min-Length: the smallest PATCH the destination takes


class RemoteDestination(_OnRemote):
    """A remote registry replication writes to, with what copying needs of it. One instance serves one job:
    it remembers where it has seen each blob, so that a later repository's copy mounts the blob from there
    instead of sending its bytes again (concurrent copies may share it)."""

    def __init__(self, remote: RemoteRegistry) -> None:
        super().__init__(remote)
        # digest → a repository on the destination holding it (seen by a HEAD, an upload or a mount).
        self._holders: dict[str, str] = {}

    async def has_blob(self, repository: str, digest: str) -> bool:
        """Whether `repository` on the destination holds the blob (HEAD)."""
        what = f"HEAD blob {repository}@{digest}"
        path = f"/v2/{repository}/blobs/{digest}"
        async with await self._remote.request("HEAD", path, scope=_push(repository)) as response:
            if response.status == 404:
                return False
            if response.status != 200:
                raise await _refusal(response, self.where, what)
        self._holders[digest] = repository
        return True

    async def start_upload(self, repository: str, digest: str, *, mount_from: str | None = None) -> BlobUpload | None:
        """Starts an upload of the blob to `repository`, first trying to mount it (`POST ?mount=&from=`) from
        `mount_from`, or else from a repository this session saw holding it: None when it was mounted
        (201), else the upload to send the bytes to (202, also when the mount was refused)."""
        holder = mount_from or self._holders.get(digest)
        path, scope = f"/v2/{repository}/blobs/uploads/", _push(repository)
        if holder is not None and holder != repository:
            path += f"?mount={digest}&from={holder}"
            scope += f" {_pull(holder)}"
        what = f"POST upload of blob {repository}@{digest}"
        async with await self._remote.request("POST", path, scope=scope) as response:
            if response.status == 201 and holder is not None:
                self._holders[digest] = repository
                return None
            if response.status != 202:
                raise await _refusal(response, self.where, what)
            location = response.headers.get("Location")
            if not location:
                raise CopyError(f"{self.where} answered {what} with no Location")
            minimum = response.headers.get("OCI-Chunk-Min-Length", "")
        return BlobUpload(repository, digest, location, 0, int(minimum) if minimum.isdigit() else 0)

    async def append(self, upload: BlobUpload, body: AsyncIterable[bytes], length: int, *, ranged: bool) -> BlobUpload:
        """Sends `length` bytes of `body` to the upload at its offset (one PATCH, streamed; with `ranged`
        a chunk with Content-Range, else a stream); the upload as the destination now has it."""
        what = f"PATCH upload of blob {upload.repository}@{upload.digest} at byte {upload.offset}"
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(length)}
        if ranged:
            headers["Content-Range"] = f"{upload.offset}-{upload.offset + length - 1}"
        scope = _push(upload.repository)
        async with await self._remote.request(
            "PATCH", upload.location, scope=scope, headers=headers, data=body
        ) as response:
            if response.status == 416:  # it holds another amount than we thought: ask it where it stands
                raise _Transient(f"{self.where} answered 416 to {what}: the upload holds another amount")
            if response.status != 202:
                raise await _refusal(response, self.where, what)
            location = response.headers.get("Location") or upload.location
            held = _held(response.headers.get("Range", ""))
        expected = upload.offset + length
        if held is not None and held != expected:
            raise _Transient(f"{self.where} holds {held} bytes of blob {upload.digest} after {what} of {length}")
        return BlobUpload(upload.repository, upload.digest, location, expected, upload.min_chunk)

    async def upload_status(self, upload: BlobUpload) -> BlobUpload | None:
        """The upload as the destination has it now (GET of its URL: `Range: 0-N`), to go on after a cut;
        None when the destination cannot say (no such upload any more, no Range, or the ambiguous `0-0`)."""
        what = f"GET upload of blob {upload.repository}@{upload.digest}"
        async with await self._remote.request("GET", upload.location, scope=_push(upload.repository)) as response:
            if response.status in (400, 404, 416):
                return None  # Distribution drops an upload its cut PATCH left longer than it had said
            if response.status not in (202, 204):
                raise await _refusal(response, self.where, what)
            held = _held(response.headers.get("Range", ""))
            location = response.headers.get("Location") or upload.location
        if held is None:
            return None
        return BlobUpload(upload.repository, upload.digest, location, held, upload.min_chunk)

    async def finish_upload(self, upload: BlobUpload) -> None:
        """Commits the upload (`PUT ?digest=`): the destination checks the bytes against the digest."""
        what = f"PUT upload of blob {upload.repository}@{upload.digest}"
        separator = "&" if "?" in upload.location else "?"
        url = f"{upload.location}{separator}digest={upload.digest}"
        async with await self._remote.request("PUT", url, scope=_push(upload.repository)) as response:
            if response.status not in (201, 204):
                raise await _refusal(response, self.where, what)
            answered = response.headers.get("Docker-Content-Digest")
        if answered and answered != upload.digest:
            raise CopyError(f"{self.where} stored blob {upload.digest} of {upload.repository} as {answered}")
        self._holders[upload.digest] = upload.repository

    async def cancel_upload(self, upload: BlobUpload) -> None:
        """Drops the upload (DELETE), best effort: the destination purges abandoned uploads itself."""
        with contextlib.suppress(RemoteError):  # an upload it lost already, or the destination is down
            async with await self._remote.request("DELETE", upload.location, scope=_push(upload.repository)):
                pass

    async def manifest_digest(self, repository: str, reference: str) -> str | None:
        """The digest of the manifest `reference` (a tag or digest) of `repository`; None when there is none."""
        what = f"HEAD manifest {_named(repository, reference)}"
        path = f"/v2/{repository}/manifests/{reference}"
        headers = {"Accept": ACCEPT_MANIFESTS}
        async with await self._remote.request("HEAD", path, scope=_push(repository), headers=headers) as response:
            if response.status == 404:
                return None
            if response.status != 200:
                raise await _refusal(response, self.where, what)
            answered = response.headers.get("Docker-Content-Digest")
        if answered:
            return answered
        # A registry that names no digest on HEAD: the body's own.
        async with await self._remote.request("GET", path, scope=_push(repository), headers=headers) as response:
            if response.status == 404:
                return None
            if response.status != 200:
                raise await _refusal(response, self.where, f"GET manifest {_named(repository, reference)}")
            body = await _read_limited(self._remote, response, MAX_MANIFEST_BYTES, what)
        algorithm = reference.partition(":")[0] if _is_digest(reference) else "sha256"
        return f"{algorithm}:{hashlib.new(algorithm, body).hexdigest()}"

    async def put_manifest(self, repository: str, reference: str, manifest: Manifest) -> None:
        """Pushes `manifest` as `reference` (a tag, or its digest) of `repository`, with its media type."""
        what = f"PUT manifest {_named(repository, reference)} ({manifest.digest})"
        path = f"/v2/{repository}/manifests/{reference}"
        headers = {"Content-Type": manifest.media_type}
        async with await self._remote.request(
            "PUT", path, scope=_push(repository), headers=headers, data=manifest.body
        ) as response:
            if response.status not in (200, 201, 202):
                raise await _refusal(response, self.where, what)
            answered = response.headers.get("Docker-Content-Digest")
        if answered and answered != manifest.digest:
            raise CopyError(f"{self.where} stored manifest {manifest.digest} of {repository} as {answered}")


@dataclass(frozen=True)
class CopyResult:
    """What one copy did. Blobs mounted from another repository of the destination are not copied."""

    manifest_digest: str
    blobs_copied: int
    blobs_skipped: int  # the destination had them
    blobs_mounted: int
    bytes_copied: int  # the sizes of the blobs copied
    tags_skipped: tuple[str, ...]  # destination tags at another digest, left alone (override off)
    referrers: tuple[str, ...]  # the digests of the accessories copied


async def copy_artifact(
    source: ArtifactSource,
    source_repository: str,
    reference: str,
    destination: RemoteDestination,
    destination_repository: str,
    tags: Sequence[str],
    *,
    override: bool,
    speed_kbps: int | None = None,
    chunk_size: int | None = None,
    parallel_blobs: int = 3,
    log: Log | None = None,
) -> CopyResult:
    """Copies the manifest `reference` (a tag or a digest) of `source_repository` to `destination_repository`
    under each of `tags` (by digest only when `tags` is empty), with everything under it first (an index's
    children, each manifest's config and layers, at most `parallel_blobs` blobs at once), then its
    referrers, after their subject, by digest.

    With `override` off, a destination tag at another digest is left alone and reported (Harbor's
    behaviour): when every tag is, nothing is copied. `speed_kbps` (KiB/s; None, 0 or Harbor's -1 for no
    limit) bounds the bytes per second this copy streams; `chunk_size` sends blobs in PATCHes of that many
    bytes (Harbor's copy_by_chunk) instead of one stream each.
    """
    if chunk_size is not None and chunk_size <= 0:
        raise ValueError(f"chunk_size must be positive, not {chunk_size}")
    if parallel_blobs < 1:
        raise ValueError(f"parallel_blobs must be at least 1, not {parallel_blobs}")
    limit = _TokenBucket(speed_kbps * 1024) if speed_kbps is not None and speed_kbps > 0 else None
    copy = _Copy(
        source,
        source_repository,
        destination,
        destination_repository,
        chunk_size=chunk_size,
        parallel_blobs=parallel_blobs,
        limit=limit,
        log=log,
    )
    top = await source.manifest(source_repository, reference)
    wanted = list(dict.fromkeys(tags))
    writes: list[str] = []
    skipped: list[str] = []
    for tag in wanted:
        existing = await destination.manifest_digest(destination_repository, tag)
        if existing == top.digest:
            continue
        if existing is not None and not override:
            skipped.append(tag)
            await copy.say(
                f"tag {tag} of {destination_repository} on {destination.where} is {existing}, not {top.digest}:"
                " left alone (override is off)"
            )
            continue
        writes.append(tag)
    if wanted and len(skipped) == len(wanted):
        return copy.result(top.digest, skipped)  # Harbor's behaviour: nothing of it is copied
    if wanted:
        await copy.manifest(top, writes)
    else:
        await copy.by_digest(top)
    await copy.referrers()
    return copy.result(top.digest, skipped)


class _TokenBucket:
    """At most `rate` bytes a second on average, bursts of at most `burst`: a taker waits for the tokens it
    lacks, and the time it waited (like any time since the last take) refills the bucket."""

    def __init__(self, rate: float) -> None:
        self._rate = rate
        # Pieces of at most a second's worth: no wait is longer than a second, which no peer's idle
        # timeout minds.
        self.burst = int(min(rate, CHUNK_BYTES))
        self._tokens = float(self.burst)
        self._stamp = time.monotonic()
        self._lock = asyncio.Lock()  # takers are served in turn

    async def take(self, count: int) -> None:
        async with self._lock:
            now = time.monotonic()
            self._tokens = min(float(self.burst), self._tokens + (now - self._stamp) * self._rate)
            self._stamp = now
            self._tokens -= count
            if self._tokens < 0:
                await asyncio.sleep(-self._tokens / self._rate)


class _Feed:
    """The bytes of one blob from the source, in order, hashed as they are handed on, for the uploads of
    that blob: `stream(start, length)` is the body of one PATCH. The destination's acknowledged offsets
    are marked (with the hash so far), so that a later stream may start anywhere from the last mark on: the
    source is read again from the mark, hashing without sending up to where the destination stands.

    A request given up may leave its body generator behind; each stream bumps a generation, and an older
    one ends at its next step. One lock keeps two of them from reading the source at once."""

    def __init__(
        self,
        source: ArtifactSource,
        repository: str,
        blob: Descriptor,
        limit: _TokenBucket | None,
        say: Callable[[str], Awaitable[None]],
    ) -> None:
        self._source, self._repository, self._blob = source, repository, blob
        self._expected: Digest = parse_digest(blob.digest)
        self._limit = limit
        self._piece = min(CHUNK_BYTES, limit.burst) if limit is not None else CHUNK_BYTES
        self._say = say
        self._lock = asyncio.Lock()
        self._generation = 0
        self._stack: contextlib.AsyncExitStack | None = None
        self._chunks: AsyncIterator[bytes] | None = None
        self._pending = b""  # read from the source, not handed on yet
        self._given = 0  # bytes handed on (and hashed)
        self._hasher = self._expected.hasher()
        self._mark: tuple[int, hashlib._Hash] = (0, self._expected.hasher())
        self._reopens = 0
        self.failure: CopyError | RemoteError | None = None  # why the source side failed, if it did

    def can_go_on_from(self, offset: int) -> bool:
        """Whether a stream may start at `offset`: not before the last mark, not past the blob's end."""
        return self._mark[0] <= offset <= self._blob.size

    def restart(self) -> None:
        """A new upload: the next stream starts at byte 0."""
        self._mark = (0, self._expected.hasher())

    def acknowledge(self, offset: int) -> None:
        """The destination holds `offset` bytes: a later stream never starts before them."""
        if offset == self._given:
            self._mark = (offset, self._hasher.copy())

    async def stream(self, start: int, length: int) -> AsyncIterator[bytes]:
        self._generation += 1
        generation = self._generation
        try:
            await self._seek(start, generation)
            left = length
            while left:
                piece = await self._take(min(left, self._piece), generation)
                left -= len(piece)
                yield piece
        except (CopyError, RemoteError) as exc:
            # A _Transient here is the destination's (an upload standing before its mark), not the source's.
            if generation == self._generation and not isinstance(exc, _Transient):
                self.failure = exc
            raise

    async def settle(self) -> None:
        """Checks that all the blob was handed on and hashes to its digest (reading the source from the last
        mark when a cut left the hash behind where the destination stands)."""
        self._generation += 1
        await self._seek(self._blob.size, self._generation)
        self._verify()

    async def close(self) -> None:
        await self._close_source()

    async def _seek(self, start: int, generation: int) -> None:
        async with self._lock:
            self._check(generation)
            if start == self._given:
                return
            offset, hasher = self._mark
            if not offset <= start <= self._blob.size:
                raise _Transient(
                    f"the upload of blob {self._blob.digest} stands at byte {start}, before its acknowledged {offset}"
                )
            await self._close_source()
            self._given, self._hasher, self._pending = offset, hasher.copy(), b""
            while self._given < start:
                await self._consume(start - self._given, generation)

    async def _take(self, count: int, generation: int) -> bytes:
        async with self._lock:
            self._check(generation)
            return await self._consume(count, generation)

    async def _consume(self, count: int, generation: int) -> bytes:
        """At most `count` bytes handed on (hashed, paid for, and checked against the digest at the end)."""
        await self._fill(generation)
        piece, self._pending = self._pending[: min(count, self._piece)], self._pending[min(count, self._piece) :]
        self._hasher.update(piece)
        self._given += len(piece)
        if self._given == self._blob.size:
            self._verify()
        if self._limit is not None:
            await self._limit.take(len(piece))
        return piece

    async def _fill(self, generation: int) -> None:
        while not self._pending:
            try:
                if self._chunks is None:
                    await self._open()
                assert self._chunks is not None
                chunk = await anext(self._chunks)
            except StopAsyncIteration:
                raise CopyError(
                    f"{self._source.where} sent only {self._given} of the {self._blob.size} bytes of blob"
                    f" {self._blob.digest} of {self._repository}"
                ) from None
            except RemoteUnauthorized:
                raise
            except (RemoteError, _Transient) as exc:  # a cut stream, a 5xx: read on from where it stopped
                await self._close_source()
                self._check(generation)
                await self._reopen(exc)
                continue
            if self._given + len(chunk) > self._blob.size:
                raise CopyError(
                    f"{self._source.where} sent more than the {self._blob.size} bytes of blob {self._blob.digest}"
                    f" of {self._repository}"
                )
            self._pending = chunk
            self._check(generation)

    async def _open(self) -> None:
        stack = contextlib.AsyncExitStack()
        try:
            self._chunks = await stack.enter_async_context(
                self._source.blob(self._repository, self._blob.digest, self._given)
            )
        except BaseException:
            await stack.aclose()
            raise
        self._stack = stack

    async def _reopen(self, exc: Exception) -> None:
        self._reopens += 1
        if self._reopens > SOURCE_REOPENS:
            raise CopyError(
                f"reading blob {self._blob.digest} of {self._repository} from {self._source.where} broke"
                f" {self._reopens} times, the last at byte {self._given}: {exc}"
            ) from exc
        await self._say(
            f"reading blob {self._blob.digest} of {self._repository} broke at byte {self._given} ({exc}):"
            " reading on from there"
        )

    async def _close_source(self) -> None:
        stack, self._stack, self._chunks = self._stack, None, None
        if stack is not None:
            await stack.aclose()

    def _check(self, generation: int) -> None:
        if generation != self._generation:
            raise _Superseded

    def _verify(self) -> None:
        if self._given != self._blob.size:
            raise CopyError(
                f"only {self._given} of the {self._blob.size} bytes of blob {self._blob.digest} of"
                f" {self._repository} were read from {self._source.where}"
            )
        computed = f"{self._expected.algorithm}:{self._hasher.hexdigest()}"
        if computed != self._blob.digest:
            raise CopyError(
                f"blob {self._blob.digest} of {self._repository} on {self._source.where} does not match its"
                f" digest: its bytes hash to {computed}"
            )


class _Copy:
    """The state of one copy_artifact call: what it has copied, what it counts, its limits."""

    def __init__(
        self,
        source: ArtifactSource,
        source_repository: str,
        destination: RemoteDestination,
        destination_repository: str,
        *,
        chunk_size: int | None,
        parallel_blobs: int,
        limit: _TokenBucket | None,
        log: Log | None,
    ) -> None:
        self._source, self._src = source, source_repository
        self._destination, self._dst = destination, destination_repository
        self._chunk_size = chunk_size
        self._gate = asyncio.Semaphore(parallel_blobs)
        self._limit = limit
        self._log = log
        self._blobs_done: set[str] = set()
        self._manifests_done: list[str] = []  # in copy order: whose referrers to look for
        self._manifests_seen: set[str] = set()
        self._referrers: list[str] = []
        self._copied = self._skipped = self._mounted = self._bytes = 0

    def result(self, digest: str, tags_skipped: list[str]) -> CopyResult:
        return CopyResult(
            digest, self._copied, self._skipped, self._mounted, self._bytes, tuple(tags_skipped), tuple(self._referrers)
        )

    async def say(self, line: str) -> None:
        if self._log is not None:
            await self._log(line)

    async def manifest(self, manifest: Manifest, references: Sequence[str]) -> None:
        """`manifest` under each of `references` (tags, or its digest), after everything it references."""
        where = f"manifest {self._src}@{manifest.digest} on {self._source.where}"
        document = _json_object(manifest.body, where)
        if manifest.media_type in mt.INDEXES:
            for child in _descriptors(document.get("manifests"), where, "manifests"):
                await self._child(child)
        else:
            config = document.get("config")
            if config is None:
                raise CopyError(f"{where} has no config")
            blobs = [Descriptor.parse(config, where), *_descriptors(document.get("layers"), where, "layers")]
            await self._blobs([b for b in blobs if b.media_type not in FOREIGN_LAYERS])
        for reference in references:
            await self._destination.put_manifest(self._dst, reference, manifest)
        self._manifests_done.append(manifest.digest)
        self._manifests_seen.add(manifest.digest)

    async def by_digest(self, manifest: Manifest) -> None:
        """`manifest` by its digest only; not pushed again when the destination has it (Harbor would record
        a push), but what it references is still checked, a HEAD a blob, as the counts report it."""
        present = await self._destination.manifest_digest(self._dst, manifest.digest) is not None
        await self.manifest(manifest, [] if present else [manifest.digest])

    async def _child(self, child: Descriptor) -> None:
        if child.digest not in self._manifests_seen:
            await self.by_digest(await self._source.manifest(self._src, child.digest))

    async def referrers(self) -> None:
        """The referrers of every manifest copied (and of theirs, in turn), each after its subject."""
        index = 0
        while index < len(self._manifests_done):
            subject = self._manifests_done[index]
            index += 1
            for referrer in await self._source.referrers(self._src, subject):
                if referrer.digest in self._manifests_seen:
                    continue
                await self.by_digest(await self._source.manifest(self._src, referrer.digest))
                self._referrers.append(referrer.digest)
                await self.say(f"copied {referrer.digest}, a referrer of {subject}")

    async def _blobs(self, blobs: list[Descriptor]) -> None:
        todo = [blob for blob in {b.digest: b for b in blobs}.values() if blob.digest not in self._blobs_done]
        self._blobs_done.update(blob.digest for blob in todo)
        try:
            async with asyncio.TaskGroup() as group:
                for blob in todo:
                    group.create_task(self._blob(blob))
        except BaseExceptionGroup as failed:
            # One line for the operator: the first failure (the others are the cancelled siblings').
            first = failed.exceptions[0]
            if isinstance(first, Exception) and not isinstance(first, BaseExceptionGroup):
                raise first from None
            raise

    async def _blob(self, blob: Descriptor) -> None:
        async with self._gate:
            if await self._destination.has_blob(self._dst, blob.digest):
                self._skipped += 1
                return
            feed = _Feed(self._source, self._src, blob, self._limit, self.say)
            try:
                mounted = await self._upload(blob, feed)
            finally:
                await feed.close()
            if mounted:
                self._mounted += 1
                await self.say(f"blob {blob.digest} mounted in {self._dst} on {self._destination.where}")
            else:
                self._copied += 1
                self._bytes += blob.size
                await self.say(f"blob {blob.digest} ({blob.size} bytes) copied to {self._dst}")

    async def _upload(self, blob: Descriptor, feed: _Feed) -> bool:
        """Streams the blob to the destination, going on after a cut; True when it was mounted instead."""
        destination = self._destination
        upload: BlobUpload | None = None
        failures = 0
        while True:
            try:
                if upload is None:
                    upload = await destination.start_upload(self._dst, blob.digest)
                    if upload is None:
                        return True
                    feed.restart()
                while upload.offset < blob.size:
                    length = blob.size - upload.offset
                    if self._chunk_size is not None:
                        length = min(length, max(self._chunk_size, upload.min_chunk))
                    ranged = self._chunk_size is not None or upload.offset > 0
                    upload = await destination.append(upload, feed.stream(upload.offset, length), length, ranged=ranged)
                    feed.acknowledge(upload.offset)
                await feed.settle()
                await destination.finish_upload(upload)
                return False
            except (CopyError, RemoteError) as exc:
                failures += 1
                # The source's failure (bytes that do not match, a stream that kept breaking) is the one to
                # report, not the destination's broken request it caused.
                fatal = feed.failure or (None if _worth_a_retry(exc) else exc)
                if fatal is None and failures >= BLOB_ATTEMPTS:
                    fatal = CopyError(
                        f"copying blob {blob.digest} of {self._src} to {self._dst} on {destination.where} failed"
                        f" {failures} times, the last: {exc}"
                    )
                if fatal is not None:
                    if upload is not None:
                        await destination.cancel_upload(upload)
                    if fatal is exc:
                        raise
                    raise fatal from exc
                await asyncio.sleep(RETRY_PAUSE_S * failures)
                upload = await self._resume(upload, feed, exc)

    async def _resume(self, upload: BlobUpload | None, feed: _Feed, exc: Exception) -> BlobUpload | None:
        """Where the upload goes on after `exc`: from what the destination holds, or None to start over."""
        if upload is None:
            return None
        status: BlobUpload | None = None
        with contextlib.suppress(CopyError, RemoteError):  # a destination that cannot say: start over
            status = await self._destination.upload_status(upload)
        if status is not None and feed.can_go_on_from(status.offset):
            await self.say(f"upload of blob {upload.digest} broke ({exc}): resuming at byte {status.offset}")
            return status
        await self.say(f"upload of blob {upload.digest} broke ({exc}): starting it over")
        await self._destination.cancel_upload(upload)
        return None


def _worth_a_retry(exc: Exception) -> bool:
    if isinstance(exc, RemoteUnauthorized):
        return False
    return isinstance(exc, _Transient | RemoteError)


def _descriptors(value: object, where: str, key: str) -> list[Descriptor]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise CopyError(f"{where} has a {key} that is no list")
    return [Descriptor.parse(entry, where) for entry in value]


def _json_object(body: bytes, where: str) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except ValueError:
        raise CopyError(f"{where} is not JSON") from None
    if not isinstance(document, dict):
        raise CopyError(f"{where} is not a JSON object")
    return document


def _held(header: str) -> int | None:
    """The bytes an upload holds by its `Range: 0-N` (N + 1); None for none, the ambiguous `0-0` (Distribution
    says it for 0 bytes and for 1) or nonsense."""
    first, dash, last = header.removeprefix("bytes=").partition("-")
    if not dash or first != "0" or not last.isdigit() or int(last) == 0:
        return None
    return int(last) + 1


async def _read_limited(remote: RemoteRegistry, response: aiohttp.ClientResponse, limit: int, what: str) -> bytes:
    where = remote.endpoint.url
    if response.content_length is not None and response.content_length > limit:
        raise CopyError(f"{where} answered {what} with {response.content_length} bytes, more than {limit}")
    parts: list[bytes] = []
    total = 0
    with _reading(remote, what):
        async for chunk in response.content.iter_chunked(CHUNK_BYTES):
            total += len(chunk)
            if total > limit:
                raise CopyError(f"{where} answered {what} with more than {limit} bytes")
            parts.append(chunk)
    return b"".join(parts)


async def _refusal(response: aiohttp.ClientResponse, where: str, what: str) -> CopyError:
    """An answer of the wrong status as one line: the status, and the OCI error's code and message (or the
    start of the body)."""
    try:
        excerpt = (await response.content.read(EXCERPT_BYTES * 4)).decode(errors="replace")
    except (aiohttp.ClientError, TimeoutError):
        excerpt = ""  # the status says enough; the body is only a hint
    reason = _oci_reason(excerpt) or " ".join(excerpt.split())[:EXCERPT_BYTES]
    hints = {401: " (the endpoint's credentials were refused)", 403: " (the endpoint's credentials lack that access)"}
    hint = hints.get(response.status, "")
    message = f"{where} answered {response.status} to {what}{hint}" + (f": {reason}" if reason else "")
    if response.status in _STATUSES_WORTH_A_RETRY:
        return _Transient(message)
    return CopyError(message)


def _oci_reason(text: str) -> str:
    try:
        document = json.loads(text)
    except ValueError:
        return ""
    errors = document.get("errors") if isinstance(document, dict) else None
    if not isinstance(errors, list) or not errors or not isinstance(errors[0], dict):
        return ""
    code, message = errors[0].get("code", ""), errors[0].get("message", "")
    return " ".join(f"{code}: {message}".strip(": ").split())[:EXCERPT_BYTES]


@contextlib.contextmanager
def _reading(remote: RemoteRegistry, what: str) -> Iterator[None]:
    """Errors while a body is read (a cut or stalled connection) as the client's RemoteError."""
    # The client keeps its timeout private; the message only quotes it.
    with translated(remote.endpoint.url, what, remote.timeout):
        yield


def _digest(value: str, where: str) -> Digest:
    try:
        return parse_digest(value)
    except InvalidDigest as exc:
        raise CopyError(f"{where}: {exc}") from None


def _is_digest(reference: str) -> bool:
    return ":" in reference


def _named(repository: str, reference: str) -> str:
    return f"{repository}@{reference}" if _is_digest(reference) else f"{repository}:{reference}"


def _pull(repository: str) -> str:
    return f"repository:{repository}:pull"


def _push(repository: str) -> str:
    return f"repository:{repository}:pull,push"
