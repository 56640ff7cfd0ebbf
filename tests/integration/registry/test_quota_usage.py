"""Project quotas against a real registry process: what a push, a delete, a mount or a repository's removal
does to `quotas.used` and `project_blobs` (migration 0019's triggers), the limit as Harbor words its
refusal, the QUOTA_EXCEED and QUOTA_WARNING events, and usage that stays exact under concurrent pushes and
deletes sharing layers and under pushes racing each other at the limit.

The rule a usage follows (services/core/statistics/store.py): the bytes of the distinct blobs named by the
manifests of the project's artifacts, plus the distinct manifests themselves. `assert_usage_exact` recounts it
from the artifacts for every project and compares it with what the triggers keep.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property, partial
from typing import Any

import asyncpg
import httpx
import pytest

from services.common.oci import mediatypes as mt
from services.common.quota import display_size
from tests.harness.oci import digest_of, image_manifest, index_manifest, push_blob, push_manifest
from tests.harness.plugin import RegistryProcess, TestDatabase
from tests.harness.token import add_project, query
from tests.harness.waiting import eventually
from tests.integration.registry.helpers import assert_error

pytestmark = pytest.mark.integration
MIB = 1024 * 1024
# Harbor's words (src/pkg/quota/types: "adding %s of %s resource, which when updated to current usage of %s
# will exceed the configured upper limit of %s.").
EXCEEDED = (
    "adding {adding} of storage resource, which when updated to current usage of {used}"
    " will exceed the configured upper limit of {hard}."
)
EXCEEDED_PATTERN = re.compile(
    r"adding (?P<adding>.+) of storage resource, which when updated to current usage of (?P<used>.+)"
    r" will exceed the configured upper limit of (?P<hard>.+)\."
)


WARNING = "quota usage reach 85%: resource storage used {used} of {hard}"


# --------------------------------------------------------------------------------------------- images


def blob(label: str, size: int) -> bytes:
    """`size` bytes that only `label` produces."""
    seed = hashlib.sha256(label.encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


@dataclass(frozen=True)
class Image:
    config: bytes
    layers: tuple[bytes, ...]

    @cached_property
    def manifest(self) -> bytes:
        return image_manifest(self.config, list(self.layers))

    @property
    def digest(self) -> str:
        return digest_of(self.manifest)

    @property
    def blobs(self) -> tuple[bytes, ...]:
        return (self.config, *self.layers)

    def sizes(self) -> dict[str, int]:
        """Every digest the image references (its manifest's too), with its size."""
        return {digest_of(x): len(x) for x in (self.manifest, *self.blobs)}


def image(label: str, *layers: bytes) -> Image:
    config = json.dumps({"architecture": "amd64", "os": "linux", "label": label}).encode()
    return Image(config, layers)


@dataclass(frozen=True)
class Index:
    children: tuple[Image, ...]

    @cached_property
    def manifest(self) -> bytes:
        platforms = [{"architecture": f"arch{i}", "os": "linux"} for i in range(len(self.children))]
        return index_manifest([(c.manifest, mt.OCI_MANIFEST, p) for c, p in zip(self.children, platforms, strict=True)])

    @property
    def digest(self) -> str:
        return digest_of(self.manifest)

    def sizes(self) -> dict[str, int]:
        sizes = {self.digest: len(self.manifest)}
        for child in self.children:
            sizes.update(child.sizes())
        return sizes


def usage(*items: Image | Index) -> int:
    """The usage a project holding exactly `items` has: each digest once."""
    sizes: dict[str, int] = {}
    for item in items:
        sizes.update(item.sizes())
    return sum(sizes.values())


def digests(*items: Image | Index) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for item in items:
        sizes.update(item.sizes())
    return sizes


def push_blobs(client: httpx.Client, repo: str, img: Image) -> None:
    for data in img.blobs:
        push_blob(client, repo, data)


def put(client: httpx.Client, repo: str, reference: str, item: Image | Index) -> httpx.Response:
    media_type = mt.OCI_INDEX if isinstance(item, Index) else mt.OCI_MANIFEST
    return push_manifest(client, repo, reference, item.manifest, media_type)


def push(client: httpx.Client, repo: str, tag: str, item: Image | Index) -> None:
    """Blobs (and, for an index, its children by digest) then the manifest; each acknowledged."""
    if isinstance(item, Index):
        for child in item.children:
            push_blobs(client, repo, child)
            r = put(client, repo, child.digest, child)
            assert r.status_code == 201, r.text
    else:
        push_blobs(client, repo, item)
    r = put(client, repo, tag, item)
    assert r.status_code == 201, r.text


def delete(client: httpx.Client, repo: str, item: Image | Index) -> None:
    r = client.delete(f"/v2/{repo}/manifests/{item.digest}")
    assert r.status_code == 202, r.text


# --------------------------------------------------------------------------------------------- database


def _run(db: TestDatabase, work: Callable[[asyncpg.Connection], Any]) -> Any:
    async def main() -> Any:
        conn = await asyncpg.connect(db.dsn())
        try:
            return await work(conn)
        finally:
            await conn.close()

    return asyncio.run(main())


# The rule, recounted from the artifacts: each project's distinct (digest, size) of the blobs its artifacts'
# manifests name and of the manifests themselves, over the repositories named "<project>/...".
RECOUNT = (
    "SELECT p.id AS project_id, u.digest, u.size FROM projects p CROSS JOIN LATERAL ("
    " SELECT b.digest, b.size FROM repositories r JOIN artifacts a ON a.repository_id = r.id"
    " JOIN artifact_blobs ab ON ab.artifact_id = a.id JOIN blobs b ON b.digest = ab.digest"
    " WHERE split_part(r.name, '/', 1) = p.name"
    " UNION SELECT a.digest, a.size FROM repositories r JOIN artifacts a ON a.repository_id = r.id"
    " WHERE split_part(r.name, '/', 1) = p.name) u"
)


def assert_usage_exact(db: TestDatabase) -> dict[str, int]:
    """For every project, in one snapshot: one quota row, `used` equal to the recount, and project_blobs
    holding exactly the recount's digests with their sizes. Returns each project's usage by name."""

    async def work(conn: asyncpg.Connection) -> tuple[list[Any], list[Any], list[Any]]:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            projects = await conn.fetch(
                "SELECT p.id, p.name, (SELECT count(*) FROM quotas q WHERE q.project_id = p.id) AS quotas,"
                " (SELECT q.used FROM quotas q WHERE q.project_id = p.id) AS used FROM projects p"
            )
            recount = await conn.fetch(RECOUNT)
            held = await conn.fetch("SELECT project_id, digest, size FROM project_blobs")
            return projects, recount, held

    projects, recount, held = _run(db, work)
    expected: dict[int, dict[str, int]] = {p["id"]: {} for p in projects}
    for r in recount:
        expected[r["project_id"]][r["digest"]] = r["size"]
    kept: dict[int, dict[str, int]] = {p["id"]: {} for p in projects}
    for r in held:
        assert r["project_id"] in kept, f"project_blobs row of a project that is gone: {dict(r)}"
        kept[r["project_id"]][r["digest"]] = r["size"]
    usages = {}
    for p in projects:
        assert p["quotas"] == 1, f"project {p['name']} has {p['quotas']} quota rows"
        want, have = expected[p["id"]], kept[p["id"]]
        assert have == want, (
            f"project {p['name']}: project_blobs lacks {sorted(set(want) - set(have))},"
            f" has extra {sorted(set(have) - set(want))}"
            f" (or sizes differ: {[(d, have[d], want[d]) for d in set(want) & set(have) if have[d] != want[d]]})"
        )
        assert p["used"] == sum(want.values()), (
            f"project {p['name']}: quotas.used is {p['used']}, the recount {sum(want.values())}"
        )
        usages[p["name"]] = p["used"]
    return usages


def used(db: TestDatabase, project: str) -> int:
    rows = query(db, "SELECT q.used FROM quotas q JOIN projects p ON p.id = q.project_id WHERE p.name = $1", project)
    assert len(rows) == 1, f"project {project} has {len(rows)} quota rows"
    value: int = rows[0]["used"]
    return value


def held(db: TestDatabase, project: str) -> dict[str, int]:
    rows = query(
        db,
        "SELECT pb.digest, pb.size FROM project_blobs pb JOIN projects p ON p.id = pb.project_id WHERE p.name = $1",
        project,
    )
    return {r["digest"]: r["size"] for r in rows}


def set_limit(db: TestDatabase, project: str, hard: int) -> None:
    query(
        db, "UPDATE quotas SET hard = $2 FROM projects p WHERE p.id = quotas.project_id AND p.name = $1", project, hard
    )


def events(db: TestDatabase, project: str, event_type: str) -> list[dict[str, Any]]:
    rows = query(
        db,
        "SELECT payload::text AS payload FROM event_outbox WHERE type = $1 AND payload->>'repository' LIKE $2"
        " ORDER BY id",
        event_type,
        f"{project}/%",
    )
    return [json.loads(r["payload"]) for r in rows]


def artifact_count(db: TestDatabase, repo: str, digest: str) -> int:
    rows = query(
        db,
        "SELECT count(*) AS n FROM artifacts a JOIN repositories r ON r.id = a.repository_id"
        " WHERE r.name = $1 AND a.digest = $2",
        repo,
        digest,
    )
    n: int = rows[0]["n"]
    return n


def tag_count(db: TestDatabase, repo: str, tag: str) -> int:
    rows = query(
        db,
        "SELECT count(*) AS n FROM tags t JOIN repositories r ON r.id = t.repository_id"
        " WHERE r.name = $1 AND t.name = $2",
        repo,
        tag,
    )
    n: int = rows[0]["n"]
    return n


# --------------------------------------------------------------------------------------------- fixtures


@pytest.fixture
def project(module_database: TestDatabase, registry_server: RegistryProcess) -> str:
    """A project of the test's own (unlimited), so its usage is the test's alone."""
    name = f"q{uuid.uuid4().hex[:10]}"
    add_project(module_database, name)
    return name


@pytest.fixture
def new_project(module_database: TestDatabase, registry_server: RegistryProcess) -> Callable[[], str]:
    def make() -> str:
        name = f"q{uuid.uuid4().hex[:10]}"
        add_project(module_database, name)
        return name

    return make


@pytest.fixture
def clients(registry_server: RegistryProcess) -> Iterator[Callable[[], httpx.Client]]:
    """More clients of the registry (one per thread), closed at the end."""
    made: list[httpx.Client] = []

    def make() -> httpx.Client:
        client = registry_server.client()
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


# --------------------------------------------------------------------------------------------- counting


def test_a_new_project_has_an_unlimited_quota_with_nothing_used(module_database: TestDatabase, project: str) -> None:
    rows = query(
        module_database,
        "SELECT q.hard, q.used FROM quotas q JOIN projects p ON p.id = q.project_id WHERE p.name = $1",
        project,
    )
    assert [(r["hard"], r["used"]) for r in rows] == [(-1, 0)]
    assert held(module_database, project) == {}


def test_push_counts_manifest_config_and_layers(
    registry: httpx.Client, module_database: TestDatabase, project: str
) -> None:
    img = image("one", blob("one/base", 3000), blob("one/top", 1200))
    repo = f"{project}/app"
    push_blobs(registry, repo, img)
    # Uploaded blobs count for nothing until a manifest names them.
    assert used(module_database, project) == 0
    r = put(registry, repo, "v1", img)
    assert r.status_code == 201, r.text
    assert used(module_database, project) == len(img.manifest) + len(img.config) + 3000 + 1200
    assert held(module_database, project) == img.sizes()
    assert assert_usage_exact(module_database)[project] == usage(img)


def test_the_same_image_again_counts_nothing(
    registry: httpx.Client, module_database: TestDatabase, project: str
) -> None:
    img = image("same", blob("same/layer", 5000))
    push(registry, f"{project}/a", "v1", img)
    before = used(module_database, project)
    assert before == usage(img)
    push(registry, f"{project}/b", "v1", img)  # a second repository of the project
    push(registry, f"{project}/a", "v2", img)  # another tag of the same digest
    assert used(module_database, project) == before
    assert held(module_database, project) == img.sizes()
    assert_usage_exact(module_database)


def test_an_image_sharing_a_base_layer_adds_only_its_new_bytes(
    registry: httpx.Client, module_database: TestDatabase, project: str
) -> None:
    base = blob("share/base", 8000)
    first, second = image("first", base, blob("share/first", 700)), image("second", base, blob("share/second", 900))
    push(registry, f"{project}/app", "first", first)
    before = used(module_database, project)
    push(registry, f"{project}/other", "second", second)
    assert used(module_database, project) - before == len(second.manifest) + len(second.config) + 900
    assert used(module_database, project) == usage(first, second)
    assert_usage_exact(module_database)


def test_an_index_counts_itself_and_each_child_once(
    registry: httpx.Client, module_database: TestDatabase, project: str
) -> None:
    base = blob("index/base", 4000)
    amd64, arm64 = image("amd64", base, blob("index/amd64", 600)), image("arm64", base, blob("index/arm64", 650))
    index = Index((amd64, arm64))
    push(registry, f"{project}/multi", "latest", index)
    expected = len(index.manifest) + len(amd64.manifest) + len(arm64.manifest)
    expected += len(amd64.config) + len(arm64.config) + 4000 + 600 + 650
    assert used(module_database, project) == expected == usage(index)
    assert held(module_database, project) == index.sizes()
    # The same index in another repository of the project (its children pushed there first): nothing more.
    push(registry, f"{project}/copy", "latest", index)
    assert used(module_database, project) == expected
    assert_usage_exact(module_database)


def test_a_delete_releases_only_the_digests_nothing_else_references(
    registry: httpx.Client, module_database: TestDatabase, project: str
) -> None:
    base = blob("del/base", 6000)
    a, b = image("a", base, blob("del/a", 800)), image("b", base, blob("del/b", 900))
    index = Index((image("c", base, blob("del/c", 300)), b))
    one, two = f"{project}/one", f"{project}/two"
    push(registry, one, "a", a)
    push(registry, one, "b", b)
    push(registry, two, "a", a)
    push(registry, two, "index", index)
    assert used(module_database, project) == usage(a, b, index)

    delete(registry, one, a)  # still in `two`
    assert used(module_database, project) == usage(a, b, index)
    delete(registry, one, b)  # still a child of the index in `two`
    assert used(module_database, project) == usage(a, b, index)
    delete(registry, two, a)  # nowhere else: its manifest, config and own layer go, the base stays
    assert (
        used(module_database, project)
        == usage(b, index)
        == usage(a, b, index) - sum(size for digest, size in a.sizes().items() if digest != digest_of(base))
    )
    assert digest_of(base) in held(module_database, project)
    assert_usage_exact(module_database)

    # A child an index names cannot go; the index can, and its children stay (they are artifacts too).
    assert_error(registry.delete(f"/v2/{two}/manifests/{b.digest}"), 409, "DENIED")
    delete(registry, two, index)
    assert used(module_database, project) == usage(*index.children)
    for child in index.children:
        delete(registry, two, child)
    assert used(module_database, project) == 0
    assert held(module_database, project) == {}
    assert_usage_exact(module_database)


def test_a_mounted_blob_counts_only_once_a_manifest_names_it(
    registry: httpx.Client, module_database: TestDatabase, new_project: Callable[[], str]
) -> None:
    source_project, target_project = new_project(), new_project()
    layer = blob("mount/layer", 7000)
    src = image("src", layer)
    source = f"{source_project}/src"
    push(registry, source, "v1", src)
    source_usage = used(module_database, source_project)

    # Into another project: nothing there counts until a manifest of that project names the blob.
    target = f"{target_project}/dst"
    r = registry.post(f"/v2/{target}/blobs/uploads/", params={"mount": digest_of(layer), "from": source})
    assert r.status_code == 201, r.text
    assert used(module_database, target_project) == 0
    assert held(module_database, target_project) == {}
    dst = image("dst", layer)
    push_blob(registry, target, dst.config)
    r = put(registry, target, "v1", dst)
    assert r.status_code == 201, r.text
    assert used(module_database, target_project) == len(dst.manifest) + len(dst.config) + len(layer) == usage(dst)
    assert used(module_database, source_project) == source_usage

    # Within the project: the layer is counted already, so the new manifest adds its own bytes and its config.
    sibling = f"{source_project}/sibling"
    r = registry.post(f"/v2/{sibling}/blobs/uploads/", params={"mount": digest_of(layer), "from": source})
    assert r.status_code == 201, r.text
    assert used(module_database, source_project) == source_usage
    again = image("again", layer)
    push_blob(registry, sibling, again.config)
    r = put(registry, sibling, "v1", again)
    assert r.status_code == 201, r.text
    assert used(module_database, source_project) == source_usage + len(again.manifest) + len(again.config)
    assert_usage_exact(module_database)


def test_a_repository_deleted_in_sql_leaves_what_the_other_repositories_hold(
    registry: httpx.Client, module_database: TestDatabase, project: str
) -> None:
    base = blob("repo/base", 5000)
    a, b, c = (image(n, base, blob(f"repo/{n}", 400 + i)) for i, n in enumerate("abc"))
    index = Index((a, c))
    one, two = f"{project}/one", f"{project}/two"
    push(registry, one, "a", a)
    push(registry, one, "index", index)
    push(registry, two, "b", b)
    push(registry, two, "a", a)
    assert used(module_database, project) == usage(a, b, c, index)

    # As core's repository delete does: one statement, the artifacts, tags and references go by cascade.
    query(module_database, "DELETE FROM repositories WHERE name = $1", one)
    assert used(module_database, project) == usage(a, b)
    assert held(module_database, project) == digests(a, b)
    assert_usage_exact(module_database)

    query(module_database, "DELETE FROM repositories WHERE name = $1", two)
    assert used(module_database, project) == 0
    assert held(module_database, project) == {}
    assert_usage_exact(module_database)


def test_a_digest_named_twice_or_both_as_manifest_and_as_layer_counts_once(
    registry: httpx.Client, module_database: TestDatabase, project: str
) -> None:
    repo = f"{project}/app"
    layer = blob("twice/layer", 2500)
    doubled = image("twice", layer, layer)  # one layer listed twice
    push(registry, repo, "doubled", doubled)
    assert used(module_database, project) == usage(doubled) == len(doubled.manifest) + len(doubled.config) + 2500
    # Another image whose layer is the bytes of the first's manifest: that digest is a manifest and a blob.
    wrapper = image("twice/wrapper", doubled.manifest)
    push(registry, repo, "wrapper", wrapper)
    assert used(module_database, project) == usage(doubled, wrapper)
    assert_usage_exact(module_database)
    # The manifest goes; the layer naming the same digest keeps it counted.
    delete(registry, repo, doubled)
    assert used(module_database, project) == usage(wrapper)
    assert doubled.digest in held(module_database, project)
    assert_usage_exact(module_database)
    delete(registry, repo, wrapper)
    assert used(module_database, project) == 0
    assert_usage_exact(module_database)


# --------------------------------------------------------------------------------------------- the limit


def test_a_push_past_the_limit_is_denied_in_harbors_words_and_writes_nothing(
    registry: httpx.Client, module_database: TestDatabase, project: str
) -> None:
    repo = f"{project}/app"
    base = image("limit/base", blob("limit/base", int(8.3 * MIB)))
    push(registry, repo, "base", base)
    set_limit(module_database, project, 10 * MIB)
    before, kept = used(module_database, project), held(module_database, project)
    too_big = image("limit/big", blob("limit/base", int(8.3 * MIB)), blob("limit/big", int(2.1 * MIB)))
    adding = len(too_big.manifest) + len(too_big.config) + int(2.1 * MIB)
    push_blobs(registry, repo, too_big)

    r = put(registry, repo, "big", too_big)
    error = assert_error(r, 403, "DENIED")
    assert error is not None
    message = EXCEEDED.format(adding=display_size(adding), used=display_size(before), hard=display_size(10 * MIB))
    assert error["message"] == message
    assert message == (
        "adding 2.1 MiB of storage resource, which when updated to current usage of 8.3 MiB"
        " will exceed the configured upper limit of 10.0 MiB."
    )
    # Nothing of the push: no artifact, no tag, the usage and the references as they were.
    assert artifact_count(module_database, repo, too_big.digest) == 0
    assert tag_count(module_database, repo, "big") == 0
    assert registry.get(f"/v2/{repo}/manifests/big").status_code == 404
    assert used(module_database, project) == before
    assert held(module_database, project) == kept
    assert not [e for e in events(module_database, project, "PUSH_ARTIFACT") if e["digest"] == too_big.digest]
    exceeded = events(module_database, project, "QUOTA_EXCEED")
    assert len(exceeded) == 1
    first = exceeded[0]
    assert first["details"] == message
    assert (first["repository"], first["digest"], first["tag"], first["operator"]) == (
        repo,
        too_big.digest,
        "big",
        "admin",
    )
    assert_usage_exact(module_database)


def test_a_push_by_digest_past_the_limit_is_denied_too(
    registry: httpx.Client, module_database: TestDatabase, project: str
) -> None:
    repo = f"{project}/app"
    img = image("bydigest", blob("bydigest/layer", 3000))
    push_blobs(registry, repo, img)
    set_limit(module_database, project, usage(img) - 1)
    error = assert_error(put(registry, repo, img.digest, img), 403, "DENIED")
    assert error is not None
    assert error["message"] == EXCEEDED.format(
        adding=display_size(usage(img)), used=display_size(0), hard=display_size(usage(img) - 1)
    )
    assert artifact_count(module_database, repo, img.digest) == 0
    assert [(e["digest"], e["tag"]) for e in events(module_database, project, "QUOTA_EXCEED")] == [(img.digest, None)]
    # Exactly at the limit is within it.
    set_limit(module_database, project, usage(img))
    assert put(registry, repo, img.digest, img).status_code == 201
    assert used(module_database, project) == usage(img)
    assert_usage_exact(module_database)


def test_a_push_adding_nothing_is_allowed_over_the_limit(
    registry: httpx.Client, module_database: TestDatabase, project: str
) -> None:
    img = image("over", blob("over/layer", 4000))
    push(registry, f"{project}/app", "v1", img)
    before = used(module_database, project)
    set_limit(module_database, project, before - 100)  # a limit below the usage: allowed, as in Harbor

    # Re-tagging the digest, and the same image in another repository of the project, add 0 bytes.
    assert put(registry, f"{project}/app", "v2", img).status_code == 201
    assert put(registry, f"{project}/app", img.digest, img).status_code == 201
    push(registry, f"{project}/elsewhere", "v1", img)
    assert used(module_database, project) == before
    assert tag_count(module_database, f"{project}/app", "v2") == 1

    # Anything that adds is refused.
    more = image("over/more", blob("over/layer", 4000), blob("over/more", 10))
    push_blobs(registry, f"{project}/app", more)
    assert_error(put(registry, f"{project}/app", "v3", more), 403, "DENIED")
    assert used(module_database, project) == before
    assert events(module_database, project, "QUOTA_WARNING") == []  # adding nothing warns of nothing
    assert_usage_exact(module_database)


def test_a_push_reaching_85_percent_of_the_limit_records_a_warning(
    registry: httpx.Client, module_database: TestDatabase, project: str
) -> None:
    repo = f"{project}/app"
    hard = 100_000
    set_limit(module_database, project, hard)
    small = image("warn/small", blob("warn/small", 50_000))
    push(registry, repo, "small", small)
    assert used(module_database, project) * 100 < hard * 85
    assert events(module_database, project, "QUOTA_WARNING") == []

    big = image("warn/big", blob("warn/big", 36_000))
    after = usage(small, big)
    assert hard * 85 <= after * 100 and after <= hard
    push(registry, repo, "big", big)
    assert used(module_database, project) == after
    warnings = events(module_database, project, "QUOTA_WARNING")
    assert len(warnings) == 1
    assert warnings[0]["details"] == WARNING.format(used=display_size(after), hard=display_size(hard))
    assert (warnings[0]["repository"], warnings[0]["digest"], warnings[0]["tag"]) == (repo, big.digest, "big")
    # Recorded with the push, in its transaction: its PUSH_ARTIFACT is there as well.
    assert [e["tag"] for e in events(module_database, project, "PUSH_ARTIFACT") if e["digest"] == big.digest] == ["big"]
    assert events(module_database, project, "QUOTA_EXCEED") == []
    assert_usage_exact(module_database)


def test_the_limit_in_force_when_a_push_commits_decides(
    registry: httpx.Client, module_database: TestDatabase, project: str
) -> None:
    """The push checks an unlimited quota before it writes, then waits at commit for the quota row, which
    the test holds; meanwhile the limit is lowered below what the push adds. The push is refused at commit,
    with Harbor's message from the refusal, and nothing of it stays."""
    repo = f"{project}/app"
    img = image("commit", blob("commit/layer", 4000))
    push_blobs(registry, repo, img)

    project_id = query(module_database, "SELECT id FROM projects WHERE name = $1", project)[0]["id"]
    holder_pid: list[int] = []
    release = threading.Event()

    async def hold(conn: asyncpg.Connection) -> None:
        async with conn.transaction():
            await conn.execute("SELECT 1 FROM quotas WHERE project_id = $1 FOR UPDATE", project_id)
            holder_pid.append(await conn.fetchval("SELECT pg_backend_pid()"))
            assert await asyncio.to_thread(release.wait, 120), "never released"
            await conn.execute("UPDATE quotas SET hard = 1 WHERE project_id = $1", project_id)

    def blocked_by_holder() -> bool:
        rows = query(
            module_database,
            "SELECT count(*) AS n FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))",
            holder_pid[0],
        )
        return bool(rows[0]["n"])

    with ThreadPoolExecutor(2) as pool:
        holder = pool.submit(_run, module_database, hold)
        try:
            eventually(lambda: holder_pid or holder.done(), "the test holds the quota row", 60)
            assert not holder.done(), holder.result()
            pushed = pool.submit(put, registry, repo, "v1", img)
            eventually(lambda: pushed.done() or blocked_by_holder(), "the push waits at commit for the quota row", 60)
            assert not pushed.done(), pushed.result().text
        finally:
            release.set()
        holder.result()
        r = pushed.result()
    error = assert_error(r, 403, "DENIED")
    assert error is not None
    match = EXCEEDED_PATTERN.fullmatch(error["message"])
    assert match is not None, error["message"]
    # The whole push, though refused at commit: the transaction's addition is applied there in one step.
    assert match["adding"] == display_size(usage(img)), error["message"]
    assert (match["used"], match["hard"]) == ("0 B", "1 B"), error["message"]
    assert artifact_count(module_database, repo, img.digest) == 0
    assert tag_count(module_database, repo, "v1") == 0
    assert used(module_database, project) == 0
    assert held(module_database, project) == {}
    assert [e["details"] for e in events(module_database, project, "QUOTA_EXCEED")] == [error["message"]]
    assert_usage_exact(module_database)


# --------------------------------------------------------------------------------------------- concurrency


def _all_at_once(work: list[Callable[[], Any]]) -> list[Any]:
    """Runs every callable on its own thread, released together; their results in order (raises the first
    failure)."""
    barrier = threading.Barrier(len(work))

    def run(job: Callable[[], Any]) -> Any:
        barrier.wait(timeout=120)
        return job()

    with ThreadPoolExecutor(len(work)) as pool:
        futures = [pool.submit(run, job) for job in work]
        return [f.result() for f in futures]


class _Exactness:
    """`assert_usage_exact` over and over on its own thread while a race goes on: every committed state is
    exact (the usage changes in the transaction of the change that alters it), not only the last one."""

    def __init__(self, db: TestDatabase) -> None:
        self._db = db
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._check)
        self.checks = 0
        self.failure: AssertionError | None = None

    def _check(self) -> None:
        while self.failure is None and (not self._stop.is_set() or self.checks == 0):
            try:
                assert_usage_exact(self._db)
            except AssertionError as exc:
                self.failure = exc
            self.checks += 1

    def __enter__(self) -> _Exactness:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=120)
        if self.failure is not None:
            raise AssertionError(f"usage not exact while the race went on: {self.failure}")


def test_concurrent_pushes_and_deletes_sharing_a_base_layer_keep_usage_exact(
    registry: httpx.Client,
    module_database: TestDatabase,
    project: str,
    clients: Callable[[], httpx.Client],
) -> None:
    """Each round pushes 10 images at once, all with one base layer, a layer of the round's (new to the
    project: ten charges insert the same reference) and one of their own, while the 10 of the round before
    are deleted (ten releases of the last round's layer, and of the base, whose references move from one
    set to the other)."""
    base = blob("race/base", 20_000)
    repos = [f"{project}/race{i % 3}" for i in range(10)]
    pushers = [clients() for _ in range(10)]
    deleters = [clients() for _ in range(10)]

    def images_of(round_: int) -> list[Image]:
        shared = blob(f"race/{round_}/shared", 5000)
        return [image(f"race/{round_}/{i}", base, shared, blob(f"race/{round_}/{i}", 1000 + 37 * i)) for i in range(10)]

    def pushing(i: int, img: Image, tag: str) -> int:
        return put(pushers[i], repos[i], tag, img).status_code

    def deleting(i: int, img: Image) -> int:
        return deleters[i].delete(f"/v2/{repos[i]}/manifests/{img.digest}").status_code

    old = images_of(0)
    for i, img in enumerate(old):
        push(registry, repos[i], f"r0-{i}", img)
    assert used(module_database, project) == usage(*old)

    for round_ in range(1, 6):
        new = images_of(round_)
        for i, img in enumerate(new):  # blobs first: the race is the manifests' and the deletes'
            push_blobs(pushers[i], repos[i], img)
        work: list[Callable[[], Any]] = [
            *(partial(pushing, i, img, f"r{round_}-{i}") for i, img in enumerate(new)),
            *(partial(deleting, i, img) for i, img in enumerate(old)),
        ]
        with _Exactness(module_database):
            statuses = _all_at_once(work)
        assert statuses == [201] * 10 + [202] * 10, f"round {round_}: {statuses}"
        assert used(module_database, project) == usage(*new), f"round {round_}"
        assert held(module_database, project) == digests(*new), f"round {round_}"
        assert_usage_exact(module_database)
        old = new

    # Last, everything goes at once: nothing is left.
    statuses = _all_at_once([partial(deleting, i, img) for i, img in enumerate(old)])
    assert statuses == [202] * 10
    assert used(module_database, project) == 0
    assert held(module_database, project) == {}
    assert_usage_exact(module_database)


def _delete_repository(db: TestDatabase, name: str) -> int:
    """As core's repository delete: one statement, its artifacts going by cascade. The rows deleted."""

    async def work(conn: asyncpg.Connection) -> int:
        status: str = await conn.execute("DELETE FROM repositories WHERE name = $1", name)
        return int(status.split()[-1])

    result: int = _run(db, work)
    return result


def test_concurrent_pushes_and_repository_deletes_sharing_a_base_layer_keep_usage_exact(
    registry: httpx.Client,
    module_database: TestDatabase,
    project: str,
    clients: Callable[[], httpx.Client],
) -> None:
    """Each round: the round before's repositories (images sharing the base) are deleted in SQL, each in its
    own transaction, while the round's images (the same base, layers of their own) are pushed into new
    repositories."""
    base = blob("repo-race/base", 20_000)
    pushers = [clients() for _ in range(6)]

    def images_of(round_: int) -> dict[str, Image]:
        return {
            f"{project}/r{round_}-{i}": image(f"repo-race/{round_}/{i}", base, blob(f"repo-race/{round_}/{i}", 2000))
            for i in range(6)
        }

    def pushing(client: httpx.Client, repo: str, img: Image) -> int:
        return put(client, repo, "v1", img).status_code

    old = images_of(0)
    for repo, img in old.items():
        push(registry, repo, "v1", img)
    for round_ in range(1, 5):
        new = images_of(round_)
        for client, (repo, img) in zip(pushers, new.items(), strict=True):
            push_blobs(client, repo, img)
        work: list[Callable[[], Any]] = [
            *(partial(pushing, c, repo, img) for c, (repo, img) in zip(pushers, new.items(), strict=True)),
            *(partial(_delete_repository, module_database, repo) for repo in old),
        ]
        with _Exactness(module_database):
            results = _all_at_once(work)
        assert results == [201] * 6 + [1] * 6, f"round {round_}: {results}"
        assert used(module_database, project) == usage(*new.values()), f"round {round_}"
        assert held(module_database, project) == digests(*new.values()), f"round {round_}"
        assert_usage_exact(module_database)
        old = new


@dataclass
class _Watcher:
    """Reads a project's committed usage over and over on its own connection until stopped; the highest seen."""

    db: TestDatabase
    project: str
    highest: int = -1
    reads: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> _Watcher:
        self._thread = threading.Thread(target=lambda: _run(self.db, self._watch))
        self._thread.start()
        return self

    async def _watch(self, conn: asyncpg.Connection) -> None:
        sql = "SELECT q.used FROM quotas q JOIN projects p ON p.id = q.project_id WHERE p.name = $1"
        while not self._stop.is_set() or self.reads == 0:
            self.highest = max(self.highest, await conn.fetchval(sql, self.project))
            self.reads += 1

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(timeout=120)


@pytest.mark.parametrize("round_", range(2))
@pytest.mark.parametrize("shared_base", [False, True], ids=["own-layers", "new-shared-base"])
def test_concurrent_pushes_at_the_limit_never_take_the_usage_past_it(
    registry: httpx.Client,
    module_database: TestDatabase,
    project: str,
    clients: Callable[[], httpx.Client],
    round_: int,
    shared_base: bool,
) -> None:
    """Six images of one size, whose blobs are all uploaded, pushed at once into a project whose limit
    holds exactly three: three are acknowledged, three refused with 403 DENIED, and the usage is never
    past the limit, at the end exactly the three. With a base layer all six share and the project does
    not hold yet, whichever commits first pays for it, and a push that inserted it and was refused leaves
    it to the others."""
    repo = f"{project}/race"
    base = (blob(f"limit-race/{round_}/base", 20_000),) if shared_base else ()
    # Equal sizes: configs and layers of one length, so the manifests are of one length too.
    imgs = [
        Image(
            json.dumps({"os": "linux", "n": f"{round_}-{i:02d}"}).encode(),
            (*base, blob(f"limit-race/{round_}/{i}", 30_000)),
        )
        for i in range(6)
    ]
    shared = sum(len(b) for b in base)
    own = usage(imgs[0]) - shared
    assert all(usage(img) == shared + own for img in imgs)
    for img in imgs:
        push_blobs(registry, repo, img)
    hard = shared + 3 * own
    set_limit(module_database, project, hard)
    pushers = [clients() for _ in imgs]
    for client in pushers:  # the token first, so the race is the manifests' alone
        assert client.get(f"/v2/{repo}/tags/list").status_code in (200, 404)

    with _Watcher(module_database, project) as watcher, _Exactness(module_database):
        responses = _all_at_once(
            [partial(put, c, repo, f"t{i}", img) for i, (c, img) in enumerate(zip(pushers, imgs, strict=True))]
        )
    assert watcher.reads > 0 and watcher.highest <= hard, f"usage {watcher.highest} seen past the limit {hard}"

    accepted = [img for img, r in zip(imgs, responses, strict=True) if r.status_code == 201]
    refused = [(img, r) for img, r in zip(imgs, responses, strict=True) if r.status_code != 201]
    assert len(accepted) == 3, [(r.status_code, r.text[:300]) for r in responses]
    held_by_accepted = digests(*accepted)
    for img, r in refused:
        error = assert_error(r, 403, "DENIED")
        assert error is not None
        match = EXCEEDED_PATTERN.fullmatch(error["message"])
        assert match is not None, error["message"]
        # Refused before writing or at commit, always the whole push's new bytes against the three that got in.
        adding = sum(n for d, n in img.sizes().items() if d not in held_by_accepted)
        assert match["adding"] == display_size(adding), error["message"]
        assert (match["used"], match["hard"]) == (display_size(hard), display_size(hard)), error["message"]

    assert used(module_database, project) == hard == usage(*accepted)
    assert held(module_database, project) == digests(*accepted)
    for img in imgs:
        assert artifact_count(module_database, repo, img.digest) == (1 if img in accepted else 0)
    assert sorted(e["digest"] for e in events(module_database, project, "QUOTA_EXCEED")) == sorted(
        img.digest for img, _ in refused
    )
    assert_usage_exact(module_database)

    # Once full, the next push is refused before it writes, with its whole size.
    extra = image("limit-race/extra", blob(f"limit-race/{round_}/extra", 10))
    push_blobs(registry, repo, extra)
    error = assert_error(put(registry, repo, "extra", extra), 403, "DENIED")
    assert error is not None
    assert error["message"] == EXCEEDED.format(
        adding=display_size(usage(extra)), used=display_size(hard), hard=display_size(hard)
    )
