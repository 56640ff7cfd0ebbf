"""Project quotas under garbage collection: a GC run with delete_untagged removes artifacts (rows only, by
SQL in the jobservice) and their references go from the project's usage exactly as a delete through the
registry would; GC runs racing pushes that keep moving tags leave every usage exact. Token, registry, core
and jobservice processes on one database, as tests/integration/jobservice/test_gc.py runs them."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from services.common.oci import mediatypes as mt
from tests.harness.oci import digest_of, push_blob, push_manifest
from tests.harness.plugin import TestDatabase
from tests.harness.token import add_project
from tests.integration.core.registry_stack import Stack, running_stack_with_jobservice
from tests.integration.jobservice.test_gc import gc as run_gc
from tests.integration.jobservice.test_gc import result
from tests.integration.registry.test_quota_usage import (
    Image,
    Index,
    assert_usage_exact,
    blob,
    digests,
    held,
    image,
    push,
    put,
    usage,
    used,
)

pytestmark = pytest.mark.integration
GC = "/system/gc"
DEADLINE_S = 180.0


@pytest.fixture(scope="module")
def stack(module_database: TestDatabase, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack_with_jobservice(module_database, tmp_path_factory) as s:
        yield s


def new_project(stack: Stack) -> str:
    name = f"qgc{uuid.uuid4().hex[:8]}"
    add_project(stack.db, name)
    return name


def gc(stack: Stack, **parameters: Any) -> dict[str, Any]:
    """Runs GC now through core and waits for it to succeed; the job's result."""
    return result(stack, run_gc(stack, deadline_s=DEADLINE_S, **parameters))


def test_gc_deleting_untagged_artifacts_releases_exactly_what_nothing_else_references(stack: Stack) -> None:
    project, other_project = new_project(stack), new_project(stack)
    app, keep, elsewhere = f"{project}/app", f"{project}/keep", f"{other_project}/app"
    base = blob("gc-quota/base", 9000)
    a, b, c = (image(f"gc-quota/{n}", base, blob(f"gc-quota/{n}", 1500 + i)) for i, n in enumerate("abc"))
    index = Index(tuple(image(f"gc-quota/child{i}", base, blob(f"gc-quota/child{i}", 700 + i)) for i in range(2)))
    with stack.registry_client("admin", "Harbor12345") as registry:
        push(registry, app, "latest", a)
        push(registry, app, "latest", b)  # moves the tag: a is untagged in `app`...
        push(registry, keep, "v1", a)  # ...and tagged in `keep`, so its bytes stay counted
        push(registry, app, "tmp", c)
        assert registry.delete(f"/v2/{app}/manifests/tmp").status_code == 202  # c untagged in `app` only
        push(registry, elsewhere, "v1", c)  # c's bytes belong to another project as well
        push(registry, app, index.digest, index)  # an index by digest: untagged, and its children with it
    before = usage(a, b, c, index)
    assert used(stack.db, project) == before
    assert_usage_exact(stack.db)

    dry = gc(stack, dry_run=True, delete_untagged=True, time_window=0)
    assert dry["untagged_artifacts"] == 3  # a and c in `app`, the index (its children are named by it)
    assert used(stack.db, project) == before  # a dry run changes nothing

    run = gc(stack, delete_untagged=True, time_window=0)
    # a and c in `app`, the index, then its two children.
    assert run["untagged_artifacts"] == 5, run
    assert used(stack.db, project) == usage(a, b)
    assert held(stack.db, project) == digests(a, b)
    assert used(stack.db, other_project) == usage(c)
    assert_usage_exact(stack.db)

    # Nothing is left to take; the usage stays.
    gc(stack, delete_untagged=True, time_window=0)
    assert used(stack.db, project) == usage(a, b)
    assert_usage_exact(stack.db)


def _push_like_a_client(registry: httpx.Client, repo: str, tag: str, img: Image) -> None:
    """HEAD each blob, upload the missing, PUT the manifest; once more whenever a GC running meanwhile took
    a blob before the manifest named it (BLOB_UNKNOWN)."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        for data in img.blobs:
            if registry.head(f"/v2/{repo}/blobs/{digest_of(data)}").status_code != 200:
                push_blob(registry, repo, data)
        r = push_manifest(registry, repo, tag, img.manifest, mt.OCI_MANIFEST)
        if r.status_code == 201:
            return
        assert r.status_code == 400 and "BLOB_UNKNOWN" in r.text, r.text
        assert time.monotonic() < deadline, f"{repo}:{tag} never went in"


def test_gc_racing_pushes_that_move_tags_keeps_usage_exact(stack: Stack) -> None:
    """Three pushers each push a series of images (a shared base, a layer of their own) to one tag, each push
    leaving the one before untagged; GC with delete_untagged runs back to back meanwhile. Afterwards, and
    after a last GC, the usage is exactly the recount: at the end, the images still tagged."""
    project = new_project(stack)
    base = blob("gc-race/base", 12_000)
    pushes = 8
    last: dict[str, Image] = {}

    def pusher(n: int) -> None:
        repo = f"{project}/p{n}"
        with stack.registry_client("admin", "Harbor12345") as registry:
            for i in range(pushes):
                img = image(f"gc-race/{n}/{i}", base, blob(f"gc-race/{n}/{i}", 3000 + n))
                _push_like_a_client(registry, repo, "latest", img)
                last[repo] = img

    runs = 0
    with ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(pusher, n) for n in range(3)]
        while runs < 2 or not all(f.done() for f in futures):
            gc(stack, delete_untagged=True, time_window=0, workers=3)
            runs += 1
            # One snapshot while pushes go on: every committed state is exact, not only the last.
            assert_usage_exact(stack.db)
        for f in futures:
            f.result()
    assert_usage_exact(stack.db)

    gc(stack, delete_untagged=True, time_window=0)
    assert used(stack.db, project) == usage(*last.values())
    assert held(stack.db, project) == digests(*last.values())
    assert_usage_exact(stack.db)
    with stack.registry_client("admin", "Harbor12345") as registry:
        for repo, img in last.items():
            r = registry.get(f"/v2/{repo}/manifests/latest", headers={"Accept": mt.OCI_MANIFEST})
            assert r.status_code == 200 and r.content == img.manifest
            assert put(registry, repo, "again", img).status_code == 201  # adds nothing
    assert used(stack.db, project) == usage(*last.values())
