"""The storage-driver conformance suite: every driver behaves as services/common/storage/driver.py says.

Each test runs against every driver; a new driver joins by adding itself to the `driver` fixture.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import httpx
import pytest

from services.common.storage import FileInfo, PathNotFound, StorageDriver
from services.common.storage.factory import s3_client
from services.common.storage.filesystem import WRITE_BUFFER, FilesystemDriver
from services.common.storage.memory import MemoryDriver
from services.common.storage.s3 import MIN_PART, S3Driver

MIB = 1 << 20


@pytest.fixture(params=["filesystem", "memory", "s3"])
async def driver(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StorageDriver]:
    if request.param == "filesystem":
        yield FilesystemDriver(tmp_path / "root")
    elif request.param == "memory":
        yield MemoryDriver()
    else:
        # A real S3 (SeaweedFS), the smallest part size S3 allows so multipart paths are taken by a few
        # megabytes, and a key prefix of each test's own in the module's bucket.
        seaweedfs = request.getfixturevalue("seaweedfs")
        bucket = request.getfixturevalue("s3_bucket")
        async with s3_client(seaweedfs.settings(bucket)) as client:
            yield S3Driver(client, bucket, root=f"t/{secrets.token_hex(6)}", part_size=MIN_PART)


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def stream(parts: Iterable[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


class Broken(Exception):
    pass


async def failing(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part
    raise Broken("the client went away")


async def read_all(driver: StorageDriver, path: str, offset: int = 0, length: int | None = None) -> bytes:
    return b"".join([chunk async for chunk in driver.read(path, offset, length)])


def pattern(n: int, seed: int = 0) -> bytes:
    """n bytes that are not all alike, so misplaced bytes show."""
    return bytes((i * 31 + seed) % 251 for i in range(n))


# --- write, stat, read --------------------------------------------------------------------------------


async def test_write_then_stat_and_read(driver: StorageDriver) -> None:
    size = await driver.write("a/b/data", chunks(b"hello ", b"world"))
    assert size == 11
    info = await driver.stat("a/b/data")
    assert isinstance(info, FileInfo)
    assert info.path == "a/b/data"
    assert info.size == 11
    assert info.is_dir is False
    assert info.modified > 0
    assert await read_all(driver, "a/b/data") == b"hello world"


async def test_write_empty_stream_creates_empty_file(driver: StorageDriver) -> None:
    assert await driver.write("uploads/x/data", chunks()) == 0
    info = await driver.stat("uploads/x/data")
    assert (info.size, info.is_dir) == (0, False)
    assert await read_all(driver, "uploads/x/data") == b""


async def test_write_replaces_existing_file(driver: StorageDriver) -> None:
    await driver.write("f", chunks(b"a long first version"))
    assert await driver.write("f", chunks(b"short")) == 5
    assert await read_all(driver, "f") == b"short"


async def test_read_with_offset_and_length(driver: StorageDriver) -> None:
    await driver.write("f", chunks(b"0123456789"))
    assert await read_all(driver, "f", 2, 3) == b"234"
    assert await read_all(driver, "f", 0, 10) == b"0123456789"
    assert await read_all(driver, "f", 0, 0) == b""


async def test_read_with_offset_only(driver: StorageDriver) -> None:
    await driver.write("f", chunks(b"0123456789"))
    assert await read_all(driver, "f", 7) == b"789"
    assert await read_all(driver, "f", 10) == b""


async def test_read_length_beyond_the_end(driver: StorageDriver) -> None:
    await driver.write("f", chunks(b"0123456789"))
    assert await read_all(driver, "f", 8, 100) == b"89"
    assert await read_all(driver, "f", 0, 1000) == b"0123456789"
    assert await read_all(driver, "f", 20, 5) == b""


async def test_read_large_file_in_pieces(driver: StorageDriver) -> None:
    data = pattern(3 * MIB + 17)
    await driver.write("big", chunks(data))
    pieces = [chunk async for chunk in driver.read("big")]
    assert b"".join(pieces) == data
    assert all(pieces)  # no empty chunks
    assert await read_all(driver, "big", MIB - 3, MIB + 6) == data[MIB - 3 : 2 * MIB + 3]


async def test_write_at_offset_truncates_and_appends(driver: StorageDriver) -> None:
    await driver.write("f", chunks(b"0123456789"))
    size = await driver.write("f", chunks(b"abc"), offset=4)
    assert size == 4 + 3
    assert (await driver.stat("f")).size == 7
    assert await read_all(driver, "f") == b"0123abc"


async def test_write_at_offset_with_nothing_truncates(driver: StorageDriver) -> None:
    await driver.write("f", chunks(b"0123456789"))
    assert await driver.write("f", chunks(), offset=4) == 4
    assert await read_all(driver, "f") == b"0123"


async def test_write_at_end_appends(driver: StorageDriver) -> None:
    await driver.write("f", chunks(b"01234"))
    assert await driver.write("f", chunks(b"56789"), offset=5) == 10
    assert await read_all(driver, "f") == b"0123456789"


async def test_write_at_offset_large(driver: StorageDriver) -> None:
    first = pattern(2 * MIB + 5, seed=1)
    second = pattern(MIB + 9, seed=2)
    await driver.write("f", chunks(first))
    offset = MIB + 1
    assert await driver.write("f", chunks(second), offset=offset) == offset + len(second)
    assert await read_all(driver, "f") == first[:offset] + second


async def test_a_write_larger_than_a_part(driver: StorageDriver) -> None:
    data = pattern(12 * MIB + 7, seed=4)  # three parts and a bit of S3's smallest part size
    seen: list[bytes] = []
    assert await driver.write(
        "big", stream([data[i : i + 65536] for i in range(0, len(data), 65536)]), observe=seen.append
    ) == len(data)
    assert b"".join(seen) == data
    assert (await driver.stat("big")).size == len(data)
    assert await read_all(driver, "big") == data
    assert await read_all(driver, "big", 5 * MIB - 1, 2) == data[5 * MIB - 1 : 5 * MIB + 1]


async def test_chunks_of_an_upload_then_its_move(driver: StorageDriver) -> None:
    # The sizes of a chunked push: pieces smaller and larger than a part, the last one small.
    sizes = [MIB, 3 * MIB, 7 * MIB, 2 * MIB, 6 * MIB, 1]
    pieces = [pattern(n, seed=i) for i, n in enumerate(sizes)]
    offset = 0
    for piece in pieces:
        offset = await driver.write("uploads/u/data", chunks(piece), offset=offset)
    whole = b"".join(pieces)
    assert offset == len(whole)
    assert (await driver.stat("uploads/u/data")).size == len(whole)
    assert await read_all(driver, "uploads/u/data", MIB - 2, 3 * MIB + 4) == whole[MIB - 2 : 4 * MIB + 2]
    assert await driver.list("uploads/u") == ["uploads/u/data"]
    await driver.write("blobs/x/data", chunks(b"an older copy"))
    await driver.move("uploads/u/data", "blobs/x/data")
    assert (await driver.stat("blobs/x/data")).size == len(whole)
    assert await read_all(driver, "blobs/x/data") == whole
    with pytest.raises(PathNotFound):
        await driver.stat("uploads/u/data")


async def test_a_write_inside_an_earlier_chunk_drops_everything_after_it(driver: StorageDriver) -> None:
    pieces = [pattern(2 * MIB, seed=1), pattern(6 * MIB, seed=2), pattern(MIB, seed=3)]
    offset = 0
    for piece in pieces:
        offset = await driver.write("f", chunks(piece), offset=offset)
    cut = 2 * MIB + 5 * MIB + 3  # inside the second chunk
    assert await driver.write("f", chunks(b"tail"), offset=cut) == cut + 4
    assert await read_all(driver, "f") == b"".join(pieces)[:cut] + b"tail"
    assert await driver.write("f", chunks(b"new"), offset=0) == 3
    assert await read_all(driver, "f") == b"new"
    assert (await driver.stat("f")).size == 3


async def test_a_stream_failing_after_a_part_keeps_what_was_observed(driver: StorageDriver) -> None:
    seen: list[bytes] = []
    parts = [pattern(3 * MIB, seed=5), pattern(3 * MIB, seed=6), b"end"]
    with pytest.raises(Broken):
        await driver.write("f", failing(*parts), observe=seen.append)
    observed = b"".join(seen)
    assert b"".join(parts).startswith(observed)
    assert await read_all(driver, "f") == observed


async def test_a_moved_file_reads_whole_and_from_its_download_url(driver: StorageDriver) -> None:
    """After move, a file reads the same whatever its chunks were, and so does its download URL, if the
    driver has one (S3: a pre-signed URL of the one object move made)."""
    pieces = [pattern(6 * MIB, seed=1), pattern(MIB, seed=2), pattern(5, seed=3)]
    offset = 0
    for piece in pieces:
        offset = await driver.write("uploads/v/data", chunks(piece), offset=offset)
    await driver.move("uploads/v/data", "blobs/y/data")
    whole = b"".join(pieces)
    assert await read_all(driver, "blobs/y/data") == whole
    assert await driver.list("blobs/y") == ["blobs/y/data"]
    url = await driver.download_url("blobs/y/data", 60)
    assert (url is not None) == isinstance(driver, S3Driver)
    if url is not None:
        async with httpx.AsyncClient() as http:
            answer = await http.get(url)
            assert answer.status_code == 200, answer.text
            assert answer.content == whole
            ranged = await http.get(url, headers={"Range": "bytes=10-19"})
            assert (ranged.status_code, ranged.content) == (206, whole[10:20])


# --- observe ------------------------------------------------------------------------------------------


async def test_observe_sees_every_byte_in_order(driver: StorageDriver) -> None:
    small = [pattern(n, seed=n) for n in range(1, 2000)]  # ~2 MB in small, uneven chunks
    large = [pattern(MIB + 123, seed=7), pattern(2 * MIB + 1, seed=8)]
    parts = [*small[:1000], large[0], *small[1000:], large[1], b"", b"tail"]
    expected = b"".join(parts)
    seen: list[bytes] = []

    size = await driver.write("uploads/u/data", stream(parts), observe=seen.append)

    assert size == len(expected)
    assert b"".join(seen) == expected
    assert await read_all(driver, "uploads/u/data") == expected


async def test_observe_with_offset_sees_only_new_bytes(driver: StorageDriver) -> None:
    await driver.write("f", chunks(b"0123456789"))
    seen: list[bytes] = []
    await driver.write("f", chunks(b"ab", b"cd"), offset=3, observe=seen.append)
    assert b"".join(seen) == b"abcd"
    assert await read_all(driver, "f") == b"012abcd"


async def test_observe_exactly_one_buffer(driver: StorageDriver) -> None:
    parts = [b"x" * (WRITE_BUFFER // 2), b"y" * (WRITE_BUFFER // 2), b"z"]
    seen: list[bytes] = []
    await driver.write("f", stream(parts), observe=seen.append)
    assert b"".join(seen) == b"".join(parts)


# --- a failing stream ---------------------------------------------------------------------------------


async def test_failing_stream_propagates(driver: StorageDriver) -> None:
    with pytest.raises(Broken):
        await driver.write("f", failing(b"abc", b"def"))


async def test_failing_stream_keeps_what_was_observed(driver: StorageDriver) -> None:
    # Whatever part of the stream reached the file, the observer saw exactly that part: an upload's
    # hash and its bytes never disagree.
    await driver.write("f", chunks(b"0123456789"))
    seen: list[bytes] = []
    parts = [pattern(MIB + 1, seed=3), b"more", b"and more"]
    with pytest.raises(Broken):
        await driver.write("f", failing(*parts), offset=4, observe=seen.append)
    observed = b"".join(seen)
    assert b"".join(parts).startswith(observed)
    assert await read_all(driver, "f") == b"0123" + observed
    assert (await driver.stat("f")).size == 4 + len(observed)


async def test_failing_stream_at_once(driver: StorageDriver) -> None:
    with pytest.raises(Broken):
        await driver.write("f", failing())


# --- missing paths ------------------------------------------------------------------------------------


async def test_stat_missing(driver: StorageDriver) -> None:
    with pytest.raises(PathNotFound) as info:
        await driver.stat("nope/data")
    assert info.value.path == "nope/data"


async def test_read_missing(driver: StorageDriver) -> None:
    with pytest.raises(PathNotFound):
        await read_all(driver, "nope/data")


async def test_delete_missing(driver: StorageDriver) -> None:
    with pytest.raises(PathNotFound):
        await driver.delete("nope/data")


async def test_move_missing(driver: StorageDriver) -> None:
    with pytest.raises(PathNotFound):
        await driver.move("nope/data", "elsewhere/data")


async def test_list_missing(driver: StorageDriver) -> None:
    with pytest.raises(PathNotFound):
        await driver.list("nope")


async def test_read_of_a_directory_is_not_found(driver: StorageDriver) -> None:
    await driver.write("dir/file", chunks(b"x"))
    with pytest.raises(PathNotFound):
        await read_all(driver, "dir")


async def test_list_of_a_file_is_not_found(driver: StorageDriver) -> None:
    await driver.write("dir/file", chunks(b"x"))
    with pytest.raises(PathNotFound):
        await driver.list("dir/file")


@pytest.mark.parametrize("operation", ["stat", "read", "delete", "list", "move"])
async def test_paths_beneath_a_file_are_not_found(driver: StorageDriver, operation: str) -> None:
    await driver.write("dir/file", chunks(b"x"))
    path = "dir/file/child"
    with pytest.raises(PathNotFound):
        if operation == "stat":
            await driver.stat(path)
        elif operation == "read":
            await read_all(driver, path)
        elif operation == "delete":
            await driver.delete(path)
        elif operation == "list":
            await driver.list(path)
        else:
            await driver.move(path, "elsewhere")


async def test_prefix_of_a_name_is_not_a_directory(driver: StorageDriver) -> None:
    await driver.write("blobs/abc/data", chunks(b"x"))
    for path in ("blobs/ab", "blobs/abc/dat"):
        with pytest.raises(PathNotFound):
            await driver.stat(path)
        with pytest.raises(PathNotFound):
            await driver.list(path)


# --- move ---------------------------------------------------------------------------------------------


async def test_move(driver: StorageDriver) -> None:
    await driver.write("uploads/u/data", chunks(b"blob bytes"))
    await driver.move("uploads/u/data", "blobs/sha256/ab/abcd/data")
    assert await read_all(driver, "blobs/sha256/ab/abcd/data") == b"blob bytes"
    with pytest.raises(PathNotFound):
        await driver.stat("uploads/u/data")


async def test_move_replaces_destination(driver: StorageDriver) -> None:
    await driver.write("src", chunks(b"new"))
    await driver.write("dst", chunks(b"old and longer"))
    await driver.move("src", "dst")
    assert await read_all(driver, "dst") == b"new"
    assert (await driver.stat("dst")).size == 3
    with pytest.raises(PathNotFound):
        await driver.stat("src")


# --- delete -------------------------------------------------------------------------------------------


async def test_delete_file(driver: StorageDriver) -> None:
    await driver.write("d/a", chunks(b"a"))
    await driver.write("d/b", chunks(b"b"))
    await driver.delete("d/a")
    with pytest.raises(PathNotFound):
        await driver.stat("d/a")
    assert await read_all(driver, "d/b") == b"b"


async def test_delete_directory_removes_its_tree(driver: StorageDriver) -> None:
    await driver.write("uploads/u1/data", chunks(b"1"))
    await driver.write("uploads/u1/extra/deeper/file", chunks(b"2"))
    await driver.write("uploads/u2/data", chunks(b"3"))
    await driver.write("uploads/u10/data", chunks(b"4"))  # shares a name prefix with u1
    await driver.delete("uploads/u1")
    for path in ("uploads/u1", "uploads/u1/data", "uploads/u1/extra/deeper/file"):
        with pytest.raises(PathNotFound):
            await driver.stat(path)
    assert await read_all(driver, "uploads/u2/data") == b"3"
    assert await read_all(driver, "uploads/u10/data") == b"4"
    assert await driver.list("uploads") == ["uploads/u10", "uploads/u2"]


# --- delete_many --------------------------------------------------------------------------------------


async def test_delete_many_removes_files_and_trees_and_keeps_the_rest(driver: StorageDriver) -> None:
    await driver.write("blobs/a/data", chunks(b"a"))
    await driver.write("blobs/b/data", chunks(b"b"))
    await driver.write("blobs/b/extra/deeper/file", chunks(b"b2"))
    await driver.write("blobs/c/data", chunks(b"c"))
    await driver.write("blobs/bb/data", chunks(b"bb"))  # shares a name prefix with b
    await driver.write("loose", chunks(b"l"))
    assert await driver.delete_many(["blobs/a", "blobs/b", "loose"]) == []
    for path in ("blobs/a", "blobs/a/data", "blobs/b", "blobs/b/extra/deeper/file", "loose"):
        with pytest.raises(PathNotFound):
            await driver.stat(path)
    assert await read_all(driver, "blobs/c/data") == b"c"
    assert await read_all(driver, "blobs/bb/data") == b"bb"
    assert await driver.list("blobs") == ["blobs/bb", "blobs/c"]
    assert await driver.list("") == ["blobs"]


async def test_delete_many_reports_the_absent_in_order(driver: StorageDriver) -> None:
    await driver.write("d/x", chunks(b"x"))
    await driver.write("d/y/data", chunks(b"y"))
    await driver.write("d/z", chunks(b"z"))
    await driver.write("file", chunks(b"f"))
    absent = await driver.delete_many(["nope", "d/x", "d/gone/data", "d/y", "file/child", "d/x"])
    assert absent == ["nope", "d/gone/data", "file/child", "d/x"]  # the second d/x: the first took it
    assert await driver.list("d") == ["d/z"]
    assert await read_all(driver, "file") == b"f"


async def test_delete_many_again_finds_everything_absent(driver: StorageDriver) -> None:
    paths = [f"blobs/{i:04d}" for i in range(2500)]  # more than a driver's chunk of paths
    for start in range(0, len(paths), 100):
        await asyncio.gather(*(driver.write(f"{p}/data", chunks(p.encode())) for p in paths[start : start + 100]))
    await driver.write("blobs/keep/data", chunks(b"k"))
    assert await driver.delete_many(paths) == []
    assert await driver.list("blobs") == ["blobs/keep"]
    assert await driver.delete_many(paths) == paths


async def test_delete_many_of_nothing(driver: StorageDriver) -> None:
    await driver.write("f", chunks(b"x"))
    assert await driver.delete_many([]) == []
    assert await read_all(driver, "f") == b"x"


# --- list and directories -----------------------------------------------------------------------------


async def test_list_direct_children_sorted(driver: StorageDriver) -> None:
    for path in ("r/b/data", "r/a", "r/c/d/e", "r/c/f", "r/B", "other/x"):
        await driver.write(path, chunks(b"x"))
    assert await driver.list("r") == ["r/B", "r/a", "r/b", "r/c"]
    assert await driver.list("r/c") == ["r/c/d", "r/c/f"]
    assert await driver.list("r/c/d") == ["r/c/d/e"]


async def test_list_with_trailing_slash(driver: StorageDriver) -> None:
    await driver.write("r/a", chunks(b"x"))
    assert await driver.list("r/") == ["r/a"]


async def test_list_root(driver: StorageDriver) -> None:
    await driver.write("blobs/x", chunks(b"x"))
    await driver.write("uploads/y", chunks(b"y"))
    assert await driver.list("") == ["blobs", "uploads"]


async def test_stat_directory(driver: StorageDriver) -> None:
    await driver.write("blobs/sha256/ab/abcd/data", chunks(b"x"))
    for path in ("blobs", "blobs/sha256", "blobs/sha256/ab/abcd"):
        info = await driver.stat(path)
        assert info.is_dir is True
        assert info.path == path


# --- driver specifics ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["../x", "a/../../x", "..", "/etc/passwd"])
async def test_filesystem_refuses_paths_outside_the_root(tmp_path: Path, path: str) -> None:
    fs = FilesystemDriver(tmp_path / "root")
    with pytest.raises(ValueError):
        await fs.write(path, chunks(b"x"))
    with pytest.raises(ValueError):
        await fs.stat(path)
    with pytest.raises(ValueError):
        await read_all(fs, path)
    with pytest.raises(ValueError):
        await fs.delete(path)
    with pytest.raises(ValueError):
        await fs.delete_many(["a", path])
    with pytest.raises(ValueError):
        await fs.list(path)
    with pytest.raises(ValueError):
        await fs.move("a", path)
    with pytest.raises(ValueError):
        fs.local_path(path)
    assert not (tmp_path / "x").exists()


async def test_filesystem_refuses_symlink_out_of_the_root(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "root"
    root.mkdir()
    (root / "link").symlink_to(outside)
    (outside / "x").write_bytes(b"outside")
    fs = FilesystemDriver(root)
    with pytest.raises(ValueError):
        await fs.write("link/x", chunks(b"x"))
    with pytest.raises(ValueError):
        await fs.delete("link/x")
    with pytest.raises(ValueError):
        await fs.delete_many(["link/x"])
    assert (outside / "x").read_bytes() == b"outside"


async def test_filesystem_delete_many_refuses_a_chunk_with_a_path_outside_the_root(tmp_path: Path) -> None:
    fs = FilesystemDriver(tmp_path / "root")
    await fs.write("a/data", chunks(b"a"))
    with pytest.raises(ValueError):
        await fs.delete_many(["a", "../x"])
    assert await read_all(fs, "a/data") == b"a"  # refused before anything was removed


async def test_filesystem_delete_many_removes_a_symlink_not_its_target(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_bytes(b"k")
    root = tmp_path / "root"
    fs = FilesystemDriver(root)
    await fs.write("d/data", chunks(b"x"))
    (root / "d" / "link").symlink_to(outside)
    assert await fs.delete_many(["d"]) == []
    assert not (root / "d").exists()
    assert (outside / "keep").read_bytes() == b"k"


@pytest.mark.parametrize("many", [False, True])
async def test_filesystem_delete_of_a_symlink_removes_the_link_not_its_target(tmp_path: Path, many: bool) -> None:
    root = tmp_path / "root"
    fs = FilesystemDriver(root)
    await fs.write("target/data", chunks(b"t"))
    (root / "link").symlink_to(root / "target")
    if many:
        assert await fs.delete_many(["link"]) == []
    else:
        await fs.delete("link")
    assert not (root / "link").is_symlink()
    assert await read_all(fs, "target/data") == b"t"


async def test_filesystem_dots_inside_the_root_are_fine(tmp_path: Path) -> None:
    fs = FilesystemDriver(tmp_path / "root")
    await fs.write("a/../b/data", chunks(b"x"))
    assert await read_all(fs, "b/data") == b"x"


async def test_filesystem_local_path(tmp_path: Path) -> None:
    root = tmp_path / "root"
    fs = FilesystemDriver(root)
    await fs.write("blobs/sha256/ab/abcd/data", chunks(b"bytes"))
    local = fs.local_path("blobs/sha256/ab/abcd/data")
    assert local is not None
    assert local == root.resolve() / "blobs/sha256/ab/abcd/data"
    assert root.resolve() in local.parents
    assert local.read_bytes() == b"bytes"


async def test_filesystem_files_are_plain_files(tmp_path: Path) -> None:
    root = tmp_path / "root"
    fs = FilesystemDriver(root)
    await fs.write("x/y", chunks(b"on disk"))
    assert (root / "x" / "y").read_bytes() == b"on disk"
    assert os.stat(root / "x" / "y").st_mode & 0o777 == 0o644 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.mark.parametrize("path", ["../x", "/etc/passwd", "a/b~00000000000000000001"])
async def test_s3_refuses_paths_outside_the_root_and_segment_names(path: str) -> None:
    s3 = S3Driver(client=None, bucket="b", root="r")
    for call in (s3.stat(path), read_all(s3, path), s3.delete(path), s3.delete_many(["a", path]), s3.list(path)):
        with pytest.raises(ValueError):
            await call


def test_memory_local_path_is_none() -> None:
    assert MemoryDriver().local_path("blobs/x/data") is None
