"""Garbage collection for real: token, registry, core and jobservice processes on one database, Redis prefix
and blob storage, driven over HTTP (the registry's OCI API as a client pushes and pulls, core's /system/gc as
curl would). What GC frees is exactly what nothing references; pushes reusing the very blobs GC is deleting,
concurrently with it, never lose a byte of an acknowledged image."""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from services.common.cache import LookupCache
from services.common.db import Database
from services.common.oci import mediatypes as mt
from services.common.oci.digest import parse_digest
from services.common.settings import DatabaseSettings
from services.common.storage.filesystem import FilesystemDriver
from services.common.storage.paths import blob_dir, blob_path, upload_dir
from services.jobservice import gc_store
from services.registry.blobs import BlobService
from tests.harness.oci import digest_of, image_manifest, push_blob, push_image, push_manifest
from tests.harness.plugin import PG_HOST, PG_PORT, PG_USER, TestDatabase, fresh_database
from tests.harness.token import add_project, query
from tests.harness.waiting import async_eventually
from tests.integration.core.registry_stack import Stack, running_stack_with_jobservice

pytestmark = pytest.mark.integration
GC = "/system/gc"
DEADLINE_S = 120.0
PROJECT = "gc"


@pytest.fixture(scope="module", params=["filesystem", "s3"])
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """On each driver, with a database of its own: on S3 (a real SeaweedFS) the sweep's deletes are
    DeleteObjects calls, 1,000 keys each."""
    s3 = None
    if request.param == "s3":
        s3 = (request.getfixturevalue("seaweedfs"), request.getfixturevalue("s3_bucket"))
    with fresh_database() as database, running_stack_with_jobservice(database, tmp_path_factory, s3=s3) as s:
        add_project(database, PROJECT)
        yield s


def gc(stack: Stack, *, deadline_s: float = DEADLINE_S, **parameters: Any) -> dict[str, Any]:
    """Runs GC now through core and waits for it; the finished run, with its log."""
    with stack.api() as c:
        r = c.post(f"{GC}/schedule", json={"schedule": {"type": "Manual"}, "parameters": parameters})
        assert r.status_code == 201, r.text
        run_id = int(r.headers["Location"].rsplit("/", 1)[1])
        deadline = time.monotonic() + deadline_s
        while (body := c.get(f"{GC}/{run_id}").json())["job_status"] not in ("Success", "Error", "Stopped"):
            assert time.monotonic() < deadline, f"GC {run_id} did not finish: {body}"
            time.sleep(0.1)
        assert body["job_status"] == "Success", c.get(f"{GC}/{run_id}/log").text
        body["log"] = c.get(f"{GC}/{run_id}/log").text
        return body


def result(stack: Stack, run: dict[str, Any]) -> dict[str, Any]:
    rows = query(stack.db, "SELECT result::text AS r FROM jobs WHERE id = $1", run["id"])
    value: dict[str, Any] = json.loads(rows[0]["r"])
    return value


def pull_all(registry: httpx.Client, repo: str, reference: str, expected: dict[str, bytes]) -> None:
    r = registry.get(f"/v2/{repo}/manifests/{reference}", headers={"Accept": mt.OCI_MANIFEST})
    assert r.status_code == 200, r.text
    manifest = r.json()
    for descriptor in [manifest["config"], *manifest["layers"]]:
        blob = registry.get(f"/v2/{repo}/blobs/{descriptor['digest']}")
        assert blob.status_code == 200, (descriptor, blob.text[:200])
        assert blob.content == expected[descriptor["digest"]]


def test_gc_frees_exactly_what_nothing_references(stack: Stack) -> None:
    repo = f"{PROJECT}/exact"
    shared, only_a, only_b = b"shared layer" * 100, b"layer of a only" * 100, b"layer of b only" * 100
    config_a, config_b = b'{"os":"linux","n":"a"}', b'{"os":"linux","n":"b"}'
    with stack.registry_client("admin", "Harbor12345") as registry:
        _, a = push_image(registry, repo, "a", layers=[shared, only_a], config=config_a)
        _, b = push_image(registry, repo, "b", layers=[shared, only_b], config=config_b)
        with stack.api() as c:
            assert c.delete(f"/projects/{PROJECT}/repositories/exact/artifacts/{a}").status_code == 200
        gone = {digest_of(only_a): len(only_a), digest_of(config_a): len(config_a)}
        # Inside the default window (2 hours) nothing is collected: a push in progress is never a victim.
        assert result(stack, gc(stack, dry_run=True)) == {
            "dry_run": True,
            "blobs": 0,
            "bytes": 0,
            "untagged_artifacts": 0,
        }
        dry = result(stack, gc(stack, dry_run=True, time_window=0))
        assert dry == {"dry_run": True, "blobs": 2, "bytes": sum(gone.values()), "untagged_artifacts": 0}
        assert all(stack.blob_stored(d) for d in gone)  # a dry run deletes nothing
        run = gc(stack, time_window=0, workers=3)
        assert result(stack, run) == {
            "dry_run": False,
            "blobs": 2,
            "bytes": sum(gone.values()),
            "untagged_artifacts": 0,
            "uploads": 0,
        }
        assert "deleted 2 blobs" in run["log"]
        assert not any(stack.blob_stored(d) for d in gone)
        assert (
            query(stack.db, "SELECT count(*) AS n FROM blobs WHERE digest = ANY($1::text[])", list(gone))[0]["n"] == 0
        )
        expected = {digest_of(x): x for x in (shared, only_b, config_b)}
        pull_all(registry, repo, "b", expected)
        assert result(stack, gc(stack, time_window=0))["blobs"] == 0  # nothing left to free
        # The freed blobs can be pushed again, and served.
        _, again = push_image(registry, repo, "a2", layers=[shared, only_a], config=config_a)
        pull_all(registry, repo, "a2", {digest_of(x): x for x in (shared, only_a, config_a)})
    assert b and again == a


def test_delete_untagged_takes_untagged_artifacts_and_then_their_blobs(stack: Stack) -> None:
    repo = f"{PROJECT}/untagged"
    old_layer, new_layer = b"old release" * 50, b"new release" * 50
    with stack.registry_client("admin", "Harbor12345") as registry:
        _, old = push_image(registry, repo, "latest", layers=[old_layer])
        _, new = push_image(registry, repo, "latest", layers=[new_layer])  # moves the tag: old is untagged
        assert old != new
        dry = result(stack, gc(stack, dry_run=True, delete_untagged=True, time_window=0))
        assert dry["untagged_artifacts"] == 1
        run = result(stack, gc(stack, delete_untagged=True, time_window=0))
        assert run["untagged_artifacts"] == 1 and run["blobs"] >= 1
        assert registry.get(f"/v2/{repo}/manifests/{old}", headers={"Accept": mt.OCI_MANIFEST}).status_code == 404
        assert not stack.blob_stored(digest_of(old_layer))
        pull_all(registry, repo, "latest", {digest_of(new_layer): new_layer, **_config(registry, repo)})


def _config(registry: httpx.Client, repo: str) -> dict[str, bytes]:
    manifest = registry.get(f"/v2/{repo}/manifests/latest", headers={"Accept": mt.OCI_MANIFEST}).json()
    digest = manifest["config"]["digest"]
    return {digest: registry.get(f"/v2/{repo}/blobs/{digest}").content}


def _push_like_a_client(registry: httpx.Client, repo: str, tag: str, blobs: list[bytes]) -> str | None:
    """What docker does: HEAD each blob, upload only the missing, PUT the manifest; on BLOB_UNKNOWN push the
    blobs it named and try again. The manifest's digest once acknowledged (201), None if never."""
    config, layers = blobs[0], blobs[1:]
    manifest = image_manifest(config, layers)
    for _ in range(10):
        for data in blobs:
            if registry.head(f"/v2/{repo}/blobs/{digest_of(data)}").status_code != 200:
                push_blob(registry, repo, data)
        r = push_manifest(registry, repo, tag, manifest, mt.OCI_MANIFEST)
        if r.status_code == 201:
            return digest_of(manifest)
        assert r.status_code == 400 and "BLOB_UNKNOWN" in r.text, r.text
    return None


def test_pushes_that_reuse_the_blobs_gc_is_deleting_never_lose_a_byte(stack: Stack) -> None:
    """Orphans: blobs of deleted images, candidates for every GC run. Pushers keep pushing new images made
    of them (HEAD, upload the missing, manifest) while GC runs back to back with a zero window. Afterwards
    every acknowledged image pulls back byte for byte, and a last GC frees only the orphans nobody took."""
    repo = f"{PROJECT}/race"
    rng = random.Random(7)
    orphans = [hashlib.sha256(f"orphan {i}".encode()).digest() * rng.randint(1, 40) for i in range(40)]
    with stack.registry_client("admin", "Harbor12345") as registry:
        for i in range(0, len(orphans), 4):
            _, digest = push_image(registry, repo, f"seed{i}", layers=orphans[i : i + 4])
            with stack.api() as c:
                assert c.delete(f"/projects/{PROJECT}/repositories/race/artifacts/{digest}").status_code == 200
    acknowledged: dict[str, list[bytes]] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def pusher(n: int) -> None:
        local = random.Random(n)
        with stack.registry_client("admin", "Harbor12345") as registry:
            i = 0
            while not stop.is_set():
                config = json.dumps({"os": "linux", "pusher": n, "i": i}).encode()
                blobs = [config, *local.sample(orphans, 3)]
                tag = f"p{n}-{i}"
                digest = _push_like_a_client(registry, repo, tag, blobs)
                if digest is not None:
                    with lock:
                        acknowledged[tag] = blobs
                i += 1

    runs = 0
    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(pusher, n) for n in range(4)]
        # GC back to back until enough images were acknowledged meanwhile (a busy machine pushes slowly,
        # and on S3 an upload is a dozen object-store calls: there most pushes lose the race to GC).
        deadline = time.monotonic() + 900
        while runs < 5 or len(acknowledged) < 12:
            assert time.monotonic() < deadline, f"{runs} GC runs, {len(acknowledged)} images acknowledged"
            gc(stack, time_window=0, workers=5)
            runs += 1
        stop.set()
        for f in futures:
            f.result()
    with stack.registry_client("admin", "Harbor12345") as registry:
        for tag, blobs in acknowledged.items():
            pull_all(registry, repo, tag, {digest_of(x): x for x in blobs})
        # A last GC takes every orphan no acknowledged image took, and none that one did.
        used = {digest_of(x) for blobs in acknowledged.values() for x in blobs}
        unused = {digest_of(x) for x in orphans} - used
        gc(stack, time_window=0)
        assert _present(stack, unused) == set() and _present(stack, used) == used
        for tag, blobs in acknowledged.items():
            pull_all(registry, repo, tag, {digest_of(x): x for x in blobs})


def _present(stack: Stack, digests: set[str]) -> set[str]:
    rows = query(stack.db, "SELECT digest FROM blobs WHERE digest = ANY($1::text[])", list(digests))
    return {r["digest"] for r in rows}


@pytest.mark.parametrize(
    "parameters",
    [{"workers": 0}, {"workers": 6}, {"workers": "2"}, {"time_window": -1}, {"dry_run": "no"}, {"delete_untagged": 1}],
)
def test_gc_parameters_out_of_range_are_400(stack: Stack, parameters: dict[str, Any]) -> None:
    with stack.api() as c:
        r = c.post(f"{GC}/schedule", json={"schedule": {"type": "Manual"}, "parameters": parameters})
        assert r.status_code == 400, r.text


def test_gc_is_the_system_administrators(stack: Stack) -> None:
    with stack.api(None) as anonymous:
        assert anonymous.get(GC).status_code == 401
        assert anonymous.post(f"{GC}/schedule", json={"schedule": {"type": "Manual"}}).status_code == 401


async def test_mark_in_windows_takes_exactly_the_unreferenced_and_passes_over_what_a_push_holds(
    pg_database: TestDatabase,
) -> None:
    """The mark's SQL on its own, in windows of 2 blobs over 10, so every batch boundary is crossed: a
    referenced blob, one linked or uploaded within the window, one already 'deleting' and one whose link a
    push holds stay; every other is marked and unlinked, and the loop ends."""
    digests = [f"sha256:{i:064x}" for i in range(10)]
    db = Database(DatabaseSettings(host=PG_HOST, port=PG_PORT, username=PG_USER, name=pg_database.name))
    await db.open()
    holder = await asyncpg.connect(pg_database.dsn())
    try:
        pool = db.pool
        repo = await pool.fetchval("INSERT INTO repositories (name) VALUES ('gc/windows') RETURNING id")
        await pool.executemany(
            "INSERT INTO blobs (digest, size, created_at) VALUES ($1, 1, now() - interval '1 day')",
            [(d,) for d in digests],
        )
        await pool.executemany(
            "INSERT INTO repository_blobs (repository_id, digest, created_at)"
            " VALUES ($1, $2, now() - interval '1 day')",
            [(repo, d) for d in digests],
        )
        artifact = await pool.fetchval(
            "INSERT INTO artifacts (repository_id, digest, media_type, size, content)"
            " VALUES ($1, 'sha256:manifest', 'application/vnd.oci.image.manifest.v1+json', 1, 'x') RETURNING id",
            repo,
        )
        await pool.execute("INSERT INTO artifact_blobs (artifact_id, digest) VALUES ($1, $2)", artifact, digests[2])
        await pool.execute("UPDATE repository_blobs SET created_at = now() WHERE digest = $1", digests[5])
        await pool.execute("UPDATE blobs SET created_at = now() WHERE digest = $1", digests[7])
        await pool.execute("UPDATE blobs SET status = 'deleting' WHERE digest = $1", digests[9])
        # A push linking blob 3 again holds its link row until it commits.
        held = holder.transaction()
        await held.start()
        await holder.execute("SELECT 1 FROM repository_blobs WHERE digest = $1 FOR UPDATE", digests[3])

        marked: list[str] = []
        after: str | None = ""
        calls = 0
        while after is not None:
            async with db.transaction() as tx:
                batch, after = await gc_store.mark(tx, 3600.0, 2, after)
            marked += batch
            calls += 1
            assert calls <= 6, "the mark never ends"
        await held.rollback()

        expected = [digests[i] for i in (0, 1, 4, 6, 8)]
        assert sorted(marked) == expected
        rows = await pool.fetch("SELECT digest FROM blobs WHERE status = 'deleting' ORDER BY digest")
        assert [r["digest"] for r in rows] == sorted([*expected, digests[9]])
        rows = await pool.fetch("SELECT digest FROM repository_blobs ORDER BY digest")
        assert [r["digest"] for r in rows] == [d for d in digests if d not in expected]
    finally:
        await holder.close()
        await db.close()


class _MoveThatWaits(FilesystemDriver):
    """The real filesystem driver whose first move, once done, waits for `release`: an upload's commit
    held between putting its bytes in place and committing its row."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.moved, self.release = asyncio.Event(), asyncio.Event()

    async def move(self, source: str, destination: str) -> None:
        await super().move(source, destination)
        if not self.moved.is_set():
            self.moved.set()
            await self.release.wait()


async def _one_chunk(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def test_an_upload_of_a_new_blob_keeps_its_bytes_through_a_second_upload_and_a_sweep(
    pg_database: TestDatabase, tmp_path: Path
) -> None:
    """Two uploads of one new blob: the first has moved its bytes into place and not committed yet; the
    second commits (or waits for the first), and GC marks and sweeps with a zero window; then the first
    commits. The blob is live with its bytes. (When the first held no row lock while its bytes moved, the
    second committed, the sweep deleted the bytes the first had moved, and the first's row went live
    without them: CI's race test on S3 pulled a 404.)"""
    db = Database(DatabaseSettings(host=PG_HOST, port=PG_PORT, username=PG_USER, name=pg_database.name))
    await db.open()
    try:
        storage = _MoveThatWaits(tmp_path)
        blobs = BlobService(db, storage, LookupCache(1 << 20))
        data = b"a blob nobody has pushed before"
        digest = parse_digest(digest_of(data))

        async def commit(upload_id: str) -> None:
            source = f"{upload_dir(upload_id)}/data"
            await storage.write(source, _one_chunk(data))
            await blobs.commit("gc/new", upload_id, source, digest, len(data))

        async def second_done_or_waiting() -> bool:
            waiting = await db.pool.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'",
                pg_database.name,
            )
            return second.done() or waiting > 0

        first = asyncio.create_task(commit(str(uuid.uuid4())))
        await asyncio.wait_for(storage.moved.wait(), DEADLINE_S)
        second = asyncio.create_task(commit(str(uuid.uuid4())))
        await async_eventually(second_done_or_waiting, "the second upload commits or waits", DEADLINE_S)
        after: str | None = ""
        while after is not None:
            async with db.transaction() as tx:
                _, after = await gc_store.mark(tx, 0.0, 1000, after)
        async with db.transaction() as tx:  # the sweep's steps, as one deleter takes them
            batch = await gc_store.lock_deleting(tx, 1000)
            await storage.delete_many([blob_dir(parse_digest(d)) for d, _ in batch])
            await gc_store.delete_rows(tx, [d for d, _ in batch])
        storage.release.set()
        await asyncio.wait_for(asyncio.gather(first, second), DEADLINE_S)

        assert await db.pool.fetchval("SELECT status FROM blobs WHERE digest = $1", str(digest)) == "live"
        assert b"".join([chunk async for chunk in storage.read(blob_path(digest))]) == data
    finally:
        await db.close()
