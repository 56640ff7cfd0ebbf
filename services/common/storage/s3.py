"""The S3 driver: every path an object in one bucket (aiobotocore), under an optional key prefix.

S3 has no append, so a file is a base object (`<key>`) followed by the segments later writes added, each
its own object named by its start offset (`<key>~<offset, 20 digits>`; `~` is refused in paths, so a
segment never passes for a path and `list` hides them). A write at the end of a file adds a segment; one
inside it first deletes the segments after the offset and shrinks the one that straddles it server-side;
one at 0 replaces the base. A write of more than `part_size` bytes is a multipart upload of parts of that
size, one part in memory while the previous one uploads. `move` assembles the segments into one object at
the destination server-side (UploadPartCopy of ranges; only pieces smaller than S3's 5 MiB part minimum
are read back, at most 5 MiB at a time), so a finished upload never travels through Berth again, and every
blob at its digest path is a single object that can be pre-signed.

Directories do not exist in S3: a directory is the prefix of the keys under it, and goes with the last of
them. Every operation holds only its own state: writes of one upload may go to different processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import posixpath
import re
from collections.abc import AsyncIterable, AsyncIterator, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from services.common.storage.driver import ChunkObserver, FileInfo, PathNotFound

MIN_PART = 5 << 20  # S3's minimum size of every part but the last
MAX_COPY_PART = 5 << 30  # and the largest a part (or a CopyObject) may be
READ_CHUNK = 1 << 20
DELETE_BATCH = 1000  # keys per DeleteObjects, S3's limit
RANGE_KEYS = 100  # keys whose objects one listing of their key range looks for (delete_many)
RANGE_PAGES = 10  # pages of it before the keys left are listed one by one
SEGMENT = "~"
_SEGMENT_NAME = re.compile(r"~(\d{20})$")
_MISSING = {"404", "NoSuchKey", "NotFound"}


@dataclass(frozen=True, slots=True)
class _Piece:
    key: str
    start: int  # offset in the file
    size: int
    modified: float


class S3Driver:
    """`client` is an open aiobotocore S3 client (its owner closes it; a service's lifespan attaches it
    with `attach`); `root` a key prefix. With `encrypt`, every object is written with server-side encryption,
    as Distribution's driver does: SSE-KMS with the KMS key `keyid` when given, else SSE-S3 (AES256)."""

    def __init__(
        self,
        client: Any,
        bucket: str,
        *,
        root: str = "",
        part_size: int = 16 << 20,
        concurrency: int = 32,
        encrypt: bool = False,
        keyid: str = "",
    ) -> None:
        if part_size < MIN_PART:
            raise ValueError(f"part_size must be at least {MIN_PART} bytes (S3's minimum part), got {part_size}")
        if keyid and not encrypt:
            raise ValueError("a KMS key id is used only with encrypt")
        self._client = client
        self.bucket = bucket
        self._root = f"{root.strip('/')}/" if root.strip("/") else ""
        self._part_size = part_size
        self._calls = asyncio.Semaphore(concurrency)
        # The parameters of every call that makes an object (PutObject, CreateMultipartUpload, CopyObject; the
        # parts of a multipart upload, UploadPartCopy's included, take its encryption). A CopyObject without
        # them would leave the copy unencrypted, whatever its source was.
        self._encryption: dict[str, str] = {}
        if encrypt:
            self._encryption = (
                {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": keyid}
                if keyid
                else {"ServerSideEncryption": "AES256"}
            )

    def attach(self, client: Any) -> None:
        self._client = client

    # --- keys --------------------------------------------------------------------------------------------

    def _key(self, path: str) -> str:
        """The object key of a driver path: normalised, inside the root, free of the segment marker."""
        if SEGMENT in path:
            raise ValueError(f"storage path holds {SEGMENT!r}, which the S3 driver keeps for segments: {path}")
        if path.startswith("/"):
            raise ValueError(f"storage path escapes the root: {path}")
        normal = posixpath.normpath(path) if path else "."
        if normal == ".." or normal.startswith("../"):
            raise ValueError(f"storage path escapes the root: {path}")
        return self._root if normal == "." else self._root + normal

    def _dir_prefix(self, path: str) -> str:
        key = self._key(path)
        return key if key == self._root else key + "/"

    def _path(self, key: str) -> str:
        return key[len(self._root) :]

    # --- S3 calls ----------------------------------------------------------------------------------------

    async def _list(
        self,
        prefix: str,
        *,
        delimiter: bool = False,
        limit: int | None = None,
        start_after: str = "",
        page_size: int | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Every page of ListObjectsV2 under `prefix` (with `limit`, the first page of at most that many;
        with `start_after`, from the first key after it; pages of `page_size` keys, S3's 1,000 if None)."""
        args: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        if delimiter:
            args["Delimiter"] = "/"
        if limit is not None or page_size is not None:
            args["MaxKeys"] = limit if limit is not None else page_size
        if start_after:
            args["StartAfter"] = start_after
        while True:
            async with self._calls:
                page = await self._client.list_objects_v2(**args)
            yield page
            if limit is not None or not page.get("IsTruncated"):
                return
            args["ContinuationToken"] = page["NextContinuationToken"]

    async def _head(self, key: str) -> dict[str, Any] | None:
        try:
            async with self._calls:
                return dict(await self._client.head_object(Bucket=self.bucket, Key=key))
        except ClientError as exc:
            if _missing(exc):
                return None
            raise

    async def _layout(self, key: str) -> tuple[list[_Piece] | None, list[_Piece]]:
        """The file's pieces: the base and its contiguous segments, in order (None if there is no base);
        and every segment under its key. Segments after a gap (a write that stopped between its deletes)
        are not part of the file, and the next write there deletes them."""
        base, segments = await asyncio.gather(self._head(key), self._segments(key))
        if base is None:
            return None, segments
        pieces = [_Piece(key, 0, int(base["ContentLength"]), base["LastModified"].timestamp())]
        for piece in segments:
            if piece.start != pieces[-1].start + pieces[-1].size:
                break
            pieces.append(piece)
        return pieces, segments

    async def _pieces(self, key: str) -> list[_Piece] | None:
        return (await self._layout(key))[0]

    async def _segments(self, key: str) -> list[_Piece]:
        found = []
        async for page in self._list(key + SEGMENT):
            for obj in page.get("Contents", []):
                start = _segment_start(obj["Key"], key)
                if start is not None:
                    found.append(_Piece(obj["Key"], start, obj["Size"], obj["LastModified"].timestamp()))
        return sorted(found, key=lambda piece: piece.start)

    async def _delete_keys(self, keys: Sequence[str]) -> None:
        async def batch(chunk: Sequence[str]) -> None:
            async with self._calls:
                answer = await self._client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": [{"Key": key} for key in chunk], "Quiet": True}
                )
            errors = [e for e in answer.get("Errors", []) if e.get("Code") not in _MISSING]
            if errors:
                first = errors[0]
                raise OSError(
                    f"S3 refused to delete {len(errors)} of {len(chunk)} objects in bucket {self.bucket}, e.g."
                    f" {first.get('Key')}: {first.get('Code')} {first.get('Message', '')}".rstrip()
                )

        await asyncio.gather(*(batch(keys[i : i + DELETE_BATCH]) for i in range(0, len(keys), DELETE_BATCH)))

    async def _get(self, key: str, start: int, end: int) -> AsyncIterator[bytes]:
        """Bytes [start, end) of one object, streamed."""
        async with self._calls:
            try:
                answer = await self._client.get_object(Bucket=self.bucket, Key=key, Range=f"bytes={start}-{end - 1}")
            except ClientError as exc:
                if _missing(exc):  # deleted since it was listed (garbage collection, a concurrent write)
                    raise PathNotFound(self._path(key)) from None
                raise
            async with answer["Body"] as body:
                while data := await body.read(READ_CHUNK):
                    yield data

    async def _copy_range(
        self, key: str, upload_id: str, number: int, source: str, start: int, end: int
    ) -> dict[str, Any]:
        async with self._calls:
            answer = await self._client.upload_part_copy(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                PartNumber=number,
                CopySource={"Bucket": self.bucket, "Key": source},
                CopySourceRange=f"bytes={start}-{end - 1}",
            )
        return {"PartNumber": number, "ETag": answer["CopyPartResult"]["ETag"]}

    async def _upload_part(self, key: str, upload_id: str, number: int, data: bytes) -> dict[str, Any]:
        async with self._calls:
            answer = await self._client.upload_part(
                Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data
            )
        return {"PartNumber": number, "ETag": answer["ETag"]}

    async def _put(self, key: str, data: bytes) -> None:
        async with self._calls:
            await self._client.put_object(Bucket=self.bucket, Key=key, Body=data, **self._encryption)

    @contextlib.asynccontextmanager
    async def _multipart(self, key: str) -> AsyncIterator[_Multipart]:
        """A multipart upload completed from the parts added when the block ends, aborted if it raises."""
        async with self._calls:
            started = await self._client.create_multipart_upload(Bucket=self.bucket, Key=key, **self._encryption)
        upload = _Multipart(started["UploadId"])
        try:
            yield upload
        except BaseException:
            with contextlib.suppress(Exception):
                async with self._calls:
                    await self._client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload.id)
            raise
        parts = sorted(await asyncio.gather(*upload.pending), key=lambda part: part["PartNumber"])
        async with self._calls:
            await self._client.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload.id, MultipartUpload={"Parts": parts}
            )

    # --- the driver --------------------------------------------------------------------------------------

    def local_path(self, path: str) -> Path | None:
        return None

    async def download_url(self, path: str, expires_seconds: int) -> str | None:
        # Pre-signed for the base object alone: the file must be one object, as `move` leaves it.
        url: str = await self._client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": self._key(path)}, ExpiresIn=expires_seconds
        )
        return url

    async def stat(self, path: str) -> FileInfo:
        key = self._key(path)
        if key != self._root:
            pieces = await self._pieces(key)
            if pieces is not None:
                size = pieces[-1].start + pieces[-1].size
                return FileInfo(path=path, size=size, modified=max(p.modified for p in pieces), is_dir=False)
        async for page in self._list(self._dir_prefix(path), limit=1):
            for obj in page.get("Contents", []):
                return FileInfo(path=path, size=0, modified=obj["LastModified"].timestamp(), is_dir=True)
        raise PathNotFound(path)

    async def read(self, path: str, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        key = self._key(path)
        pieces = await self._pieces(key) if key != self._root else None
        if pieces is None:
            raise PathNotFound(path)
        end = pieces[-1].start + pieces[-1].size
        if length is not None:
            end = min(end, offset + length)
        for piece in pieces:
            lo, hi = max(offset, piece.start), min(end, piece.start + piece.size)
            if lo < hi:
                async for data in self._get(piece.key, lo - piece.start, hi - piece.start):
                    yield data

    async def write(
        self, path: str, chunks: AsyncIterable[bytes], *, offset: int = 0, observe: ChunkObserver | None = None
    ) -> int:
        key = self._key(path)
        if offset == 0:
            stale = [piece.key for piece in await self._segments(key)]
            target = key
        else:
            target = f"{key}{SEGMENT}{offset:020d}"
            stale = await self._cut(path, key, offset)
        # Segments go before the new bytes are written: old ones left after new ones would read as data.
        await self._delete_keys(stale)
        return offset + await self._stream(target, chunks, observe, always=offset == 0)

    async def _cut(self, path: str, key: str, offset: int) -> list[str]:
        """Prepare a write at `offset`: shrink the piece that straddles it, return the keys after it."""
        pieces, segments = await self._layout(key)
        if pieces is None:
            raise PathNotFound(path)
        size = pieces[-1].start + pieces[-1].size
        if offset > size:
            raise ValueError(f"write at offset {offset} beyond the end ({size} bytes) of {path}")
        contiguous = {piece.key for piece in pieces}
        stale = [p.key for p in segments if p.key not in contiguous or p.start >= offset]
        for piece in pieces:
            if piece.start < offset < piece.start + piece.size:
                await self._shrink(piece.key, offset - piece.start)
        return stale

    async def _shrink(self, key: str, size: int) -> None:
        """Keep the first `size` bytes of an object, copied onto itself server-side."""
        async with self._multipart(key) as upload:
            for start in range(0, size, MAX_COPY_PART):
                upload.add(
                    self._copy_range(key, upload.id, upload.next_number(), key, start, min(size, start + MAX_COPY_PART))
                )

    async def _stream(
        self, key: str, chunks: AsyncIterable[bytes], observe: ChunkObserver | None, *, always: bool
    ) -> int:
        """Write the stream to `key` (nothing for an empty stream unless `always`); its size. If the
        stream fails, what was read of it is written, observed, and the error raised."""
        written = 0
        buffer = bytearray()
        upload: _Multipart | None = None
        previous: asyncio.Future[Any] | None = None
        failure: Exception | None = None
        # The multipart upload, once the stream outgrows a part, completes as the block ends and is
        # aborted if anything in it raises.
        async with contextlib.AsyncExitStack() as stack:

            async def flush() -> None:
                # Observed and uploaded at once; the part before it is done first, so observation is in order.
                nonlocal upload, previous, written
                if upload is None:
                    upload = await stack.enter_async_context(self._multipart(key))
                data = bytes(buffer)
                buffer.clear()
                if previous is not None:
                    await previous
                previous = upload.add(self._upload_part(key, upload.id, upload.next_number(), data))
                if observe is not None:
                    await _observed(observe, data)
                written += len(data)

            try:
                async for chunk in chunks:
                    buffer += chunk
                    if len(buffer) >= self._part_size:
                        await flush()
            except Exception as exc:  # the client's stream broke: keep what arrived, then say so
                failure = exc
            if upload is not None:
                if buffer:
                    await flush()
            elif buffer or always:
                data = bytes(buffer)
                if observe is not None and data:
                    await _observed(observe, data)
                await self._put(key, data)
                written += len(data)
        if failure is not None:
            raise failure
        return written

    async def move(self, source: str, destination: str) -> None:
        src, dst = self._key(source), self._key(destination)
        if src == self._root:
            raise PathNotFound(source)
        pieces, stale = await asyncio.gather(self._pieces(src), self._segments(dst))
        if pieces is None:
            raise PathNotFound(source)
        await self._delete_keys([piece.key for piece in stale])
        if len(pieces) == 1 and pieces[0].size <= MAX_COPY_PART:
            async with self._calls:
                await self._client.copy_object(
                    Bucket=self.bucket, Key=dst, CopySource={"Bucket": self.bucket, "Key": src}, **self._encryption
                )
        else:
            await self._assemble(dst, pieces)
        await self._delete_keys([piece.key for piece in reversed(pieces)])

    async def _assemble(self, key: str, pieces: list[_Piece]) -> None:
        """One object at `key` from the pieces in order: ranges of at least MIN_PART copied server-side,
        smaller ones read and joined until they make a part."""
        async with self._multipart(key) as upload:
            buffer = bytearray()
            for index, piece in enumerate(pieces):
                last = index == len(pieces) - 1
                position = 0
                while position < piece.size:
                    remaining = piece.size - position
                    if not buffer and (remaining >= MIN_PART or last):
                        size = min(remaining, MAX_COPY_PART)
                        upload.add(
                            self._copy_range(key, upload.id, upload.next_number(), piece.key, position, position + size)
                        )
                        position += size
                        continue
                    take = min(remaining, MIN_PART - len(buffer))
                    async for data in self._get(piece.key, position, position + take):
                        buffer += data
                    position += take
                    if len(buffer) >= MIN_PART:
                        upload.add(self._upload_part(key, upload.id, upload.next_number(), bytes(buffer)))
                        buffer.clear()
            if buffer or upload.number == 0:
                upload.add(self._upload_part(key, upload.id, upload.next_number(), bytes(buffer)))

    async def delete(self, path: str) -> None:
        if await self.delete_many([path]):
            raise PathNotFound(path)

    async def delete_many(self, paths: Sequence[str]) -> list[str]:
        keys = [self._key(path) for path in paths]  # every path checked before anything is deleted
        unique = list(dict.fromkeys(keys))
        listed = await self._families(unique)
        doomed = [name for key in unique for name in listed[key]]
        if doomed:
            await self._delete_keys(list(dict.fromkeys(doomed)))
        absent, seen = [], set()
        for path, key in zip(paths, keys, strict=True):
            if key in seen or not listed[key]:
                absent.append(path)
            seen.add(key)
        return absent

    async def _families(self, keys: list[str]) -> dict[str, list[str]]:
        """The objects of each key, in key order: the file at it, its segments and the tree beneath it (the
        root's: everything). A listing per key made GC's sweep a ListObjectsV2 call per blob (1,000 for each
        DeleteObjects, nearly all of its time). Instead the keys, in order, go RANGE_KEYS at a time, and
        each group's key range is listed a page at a time: a sweep's batch, consecutive digests, is then a
        page per group. Where other objects fill a range (RANGE_PAGES pages and it goes on), the keys
        not yet passed are listed one by one after all, as if the range had not been tried."""
        found: dict[str, set[str]] = {key: set() for key in keys}

        def claim(name: str) -> None:
            # Every key the object is of: its own, a directory above it, the file it is a segment of.
            if name in found:
                found[name].add(name)
            for at, char in enumerate(name):
                if char == "/" and name[:at] in found:
                    found[name[:at]].add(name)
            segment = _SEGMENT_NAME.search(name)
            if segment and name[: segment.start()] in found:
                found[name[: segment.start()]].add(name)

        async def one(key: str) -> None:
            async for page in self._list(key):
                for obj in page.get("Contents", []):
                    claim(obj["Key"])

        def last_of(key: str) -> str:  # the greatest name an object of the key can have
            return key + SEGMENT + "9" * 20

        async def group(ordered: list[str]) -> None:
            high, seen, pages = max(last_of(key) for key in ordered), "", 0
            # After the greatest name below the first key (its family starts with it); pages of twice the
            # group's keys, as a blob is one object: botocore's parsing of a listing is most of its cost.
            prefix, after = posixpath.commonprefix(ordered), ordered[0][:-1]
            async for page in self._list(prefix, start_after=after, page_size=2 * len(ordered)):
                for obj in page.get("Contents", []):
                    if obj["Key"] > high:
                        return
                    claim(obj["Key"])
                    seen = obj["Key"]
                pages += 1
                if pages >= RANGE_PAGES and page.get("IsTruncated"):
                    await asyncio.gather(*(one(key) for key in ordered if last_of(key) > seen))
                    return

        if self._root in found:  # the whole tree: every name is the root's
            async for page in self._list(self._root):
                found[self._root].update(obj["Key"] for obj in page.get("Contents", []))
        ordered = sorted(key for key in found if key != self._root)
        await asyncio.gather(*(group(ordered[i : i + RANGE_KEYS]) for i in range(0, len(ordered), RANGE_KEYS)))
        return {key: sorted(names) for key, names in found.items()}

    async def list(self, path: str) -> list[str]:
        prefix = self._dir_prefix(path)
        names: list[str] = []
        folders: list[str] = []
        async for page in self._list(prefix, delimiter=True):
            folders += [p["Prefix"].rstrip("/") for p in page.get("CommonPrefixes", [])]
            names += [
                obj["Key"]
                for obj in page.get("Contents", [])
                if obj["Key"] != prefix and SEGMENT not in obj["Key"][len(prefix) :]
            ]
        # A prefix is a directory only while a key is under it; some S3-compatible services (SeaweedFS)
        # report a folder whose last key went a moment ago, so each is checked (list is no hot path).
        held = await asyncio.gather(*(self._holds(name + "/") for name in folders))
        names += [name for name, holds in zip(folders, held, strict=True) if holds]
        if not names:
            raise PathNotFound(path)
        return sorted(self._path(name) for name in names)

    async def _holds(self, prefix: str) -> bool:
        async for page in self._list(prefix, limit=1):
            return bool(page.get("Contents"))
        return False


class _Multipart:
    """The state of one multipart upload: its id and the parts on their way."""

    def __init__(self, upload_id: str) -> None:
        self.id = upload_id
        self.number = 0
        self.pending: list[asyncio.Future[Any]] = []

    def next_number(self) -> int:
        self.number += 1
        return self.number

    def add(self, part: Coroutine[Any, Any, dict[str, Any]]) -> asyncio.Future[dict[str, Any]]:
        future = asyncio.ensure_future(part)
        self.pending.append(future)
        return future


async def _observed(observe: ChunkObserver, data: bytes) -> None:
    # Hashing a part takes tens of milliseconds, off the event loop; a small write is not worth the hop.
    if len(data) >= READ_CHUNK:
        await asyncio.to_thread(observe, data)
    else:
        observe(data)


def _segment_start(name: str, key: str) -> int | None:
    """The offset at which `name` starts if it is a segment of the file at `key`, else None."""
    match = _SEGMENT_NAME.search(name)
    return int(match.group(1)) if match and name == key + match.group(0) else None


def _missing(exc: ClientError) -> bool:
    error = exc.response.get("Error", {})
    return str(error.get("Code")) in _MISSING or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404
