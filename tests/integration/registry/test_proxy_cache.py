"""Proxy-cache projects against a real upstream (Debian's CNCF Distribution): a project created through
core's API with a registry endpoint serves what the upstream holds, keeps it (rows and bytes), serves it
again when the upstream is gone, fetches each blob once however many clients pull at once, and refuses
pushes. Everything is compared with the upstream byte for byte."""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import yaml

from services.common.oci import mediatypes as mt
from tests.harness.distribution import DistributionProcess
from tests.harness.oci import digest_of, image_manifest, push_blob, push_image
from tests.harness.plugin import REDIS_URL, RegistryProcess, TestDatabase
from tests.harness.registry_auth import RegistryTokenAuth
from tests.harness.seaweedfs import SeaweedFSProcess
from tests.harness.token import query
from tests.integration.core.registry_stack import ADMIN, Stack, assert_error, running_stack, wait_for
from tests.integration.core.test_artifacts import push_index

pytestmark = pytest.mark.integration

ACCEPT = ", ".join([mt.OCI_MANIFEST, mt.OCI_INDEX, mt.DOCKER_MANIFEST, mt.DOCKER_LIST])
CONCURRENT_PULLS = 10


@pytest.fixture(scope="module")
def stack(
    request: pytest.FixtureRequest,
    storage_kind: str,
    module_database: TestDatabase,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    """On each storage driver (the registry tests' `storage_kind`): on S3 the spool stays on local disk
    and the kept blob goes to the bucket."""
    s3: tuple[SeaweedFSProcess, str] | None = None
    if storage_kind == "s3":
        s3 = (request.getfixturevalue("seaweedfs"), request.getfixturevalue("s3_bucket"))
    storage = s3[0].storage_config(s3[1], chunksize=5 << 20) if s3 is not None else None
    # Core encrypts the endpoints' passwords with this key; the registry decrypts them with the same.
    key = tmp_path_factory.mktemp("secret") / "secretkey"
    with running_stack(
        module_database, tmp_path_factory, shared_settings={"secret_key_file": str(key)}, storage=storage
    ) as stack:
        if s3 is not None:
            stack.s3, stack.s3_bucket = s3
        yield stack


@dataclass
class Cache:
    """A Distribution and a proxy-cache project of it."""

    upstream: DistributionProcess
    project: str
    registry_id: int


@pytest.fixture
def cache(stack: Stack, tmp_path: Path) -> Iterator[Cache]:
    with DistributionProcess(tmp_path / "upstream") as upstream, stack.api() as api:
        name = f"up-{uuid.uuid4().hex[:8]}"
        r = api.post("/registries", json={"name": name, "url": upstream.url, "type": "docker-registry"})
        assert r.status_code == 201, r.text
        registry_id = int(r.headers["Location"].rsplit("/", 1)[1])
        project = f"cache-{uuid.uuid4().hex[:8]}"
        r = api.post("/projects", json={"project_name": project, "registry_id": registry_id})
        assert r.status_code == 201, r.text
        yield Cache(upstream, project, registry_id)


def upstream_image(cache: Cache, repo: str, tag: str, layers: list[bytes]) -> tuple[bytes, str]:
    """An image pushed to the upstream, with a config of its own (a config the registry holds already is
    linked, not fetched)."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "comment": uuid.uuid4().hex}).encode()
    with httpx.Client(base_url=cache.upstream.url, timeout=60) as client:
        return push_image(client, repo, tag, layers=layers, config=config, media_type=mt.DOCKER_MANIFEST)


def pull(client: httpx.Client, repo: str, reference: str) -> tuple[bytes, dict[str, bytes]]:
    """The manifest and every blob it names, each checked against its digest."""
    r = client.get(f"/v2/{repo}/manifests/{reference}", headers={"Accept": ACCEPT})
    assert r.status_code == 200, r.text
    manifest = r.content
    assert r.headers["Docker-Content-Digest"] == digest_of(manifest)
    doc = json.loads(manifest)
    blobs = {}
    for descriptor in [doc["config"], *doc["layers"]]:
        got = client.get(f"/v2/{repo}/blobs/{descriptor['digest']}")
        assert got.status_code == 200, got.text
        assert digest_of(got.content) == descriptor["digest"]
        blobs[descriptor["digest"]] = got.content
    return manifest, blobs


def kept(stack: Stack, repository: str, digest: str) -> bool:
    rows = query(
        stack.db,
        "SELECT 1 FROM artifacts a JOIN repositories r ON r.id = a.repository_id WHERE r.name = $1 AND a.digest = $2",
        repository,
        digest,
    )
    return bool(rows)


def pulls_of(stack: Stack, repository: str, digest: str) -> int | None:
    rows = query(
        stack.db,
        "SELECT a.pull_count FROM artifacts a JOIN repositories r ON r.id = a.repository_id"
        " WHERE r.name = $1 AND a.digest = $2 AND a.pull_time IS NOT NULL",
        repository,
        digest,
    )
    return int(rows[0]["pull_count"]) if rows else None


def upstream_requests(upstream: DistributionProcess, method: str, path: str) -> int:
    """How many `method path` requests the upstream answered, from its access log."""
    return upstream.logs().count(f'"{method} {path} HTTP/1.1"')


def upstream_count(upstream: DistributionProcess, method: str, path: str, expected: int) -> int:
    """The count once the upstream's log shows at least `expected` (it writes a line after answering)."""
    count: int = wait_for(
        lambda: n if (n := upstream_requests(upstream, method, path)) >= expected else 0,
        f"{expected} x {method} {path} in the upstream's log",
    )
    return count


def test_a_pull_is_served_from_the_upstream_kept_and_served_again_without_it(stack: Stack, cache: Cache) -> None:
    layers = [os.urandom(3 * 1024 * 1024), b"a small layer"]
    manifest, digest = upstream_image(cache, "team/tool", "v1", layers)
    repository = f"{cache.project}/team/tool"

    with stack.registry_client(*ADMIN) as client:
        got, blobs = pull(client, repository, "v1")
        assert got == manifest
        assert set(blobs.values()) >= set(layers)
        wait_for(lambda: kept(stack, repository, digest), f"{repository}@{digest} kept")
        for blob in blobs:
            assert stack.blob_stored(blob)
        # The pull that brought it counts, once kept: the default retention rule reads its time.
        wait_for(lambda: pulls_of(stack, repository, digest) == 1, "the first pull counted on the kept artifact")
        # The artifact is a normal one to core's API, tag included.
        with stack.api() as api:
            r = api.get(f"/projects/{cache.project}/repositories/team%252Ftool/artifacts/{digest}?with_tag=true")
            assert r.status_code == 200, r.text
            assert [t["name"] for t in r.json()["tags"]] == ["v1"]

        cache.upstream.stop()
        again, blobs_again = pull(client, repository, "v1")
        assert again == manifest and blobs_again == blobs
        by_digest, _ = pull(client, repository, digest)
        assert by_digest == manifest
        # What it never fetched fails with the upstream named.
        r = client.get(f"/v2/{cache.project}/team/other/manifests/v1", headers={"Accept": ACCEPT})
        assert r.status_code == 503, r.text
        error = r.json()["errors"][0]
        assert error["code"] == "UNAVAILABLE" and cache.upstream.url in error["message"], error


def test_a_moved_upstream_tag_is_fetched_again(stack: Stack, cache: Cache) -> None:
    _, first = upstream_image(cache, "app", "latest", [b"first layer"])
    repository = f"{cache.project}/app"
    with stack.registry_client(*ADMIN) as client:
        pull(client, repository, "latest")
        wait_for(lambda: kept(stack, repository, first), "the first image kept")
        manifest, second = upstream_image(cache, "app", "latest", [b"second layer"])
        got, _ = pull(client, repository, "latest")
        assert got == manifest
        wait_for(lambda: kept(stack, repository, second), "the second image kept")
        # One freshness HEAD per pull of the tag; the unchanged tag is then served from the cache.
        path = "/v2/app/manifests/latest"
        heads, gets = upstream_count(cache.upstream, "HEAD", path, 1), upstream_count(cache.upstream, "GET", path, 2)
        assert pull(client, repository, "latest")[0] == manifest
        assert upstream_count(cache.upstream, "HEAD", path, heads + 1) == heads + 1
        assert upstream_requests(cache.upstream, "GET", path) == gets


def test_concurrent_pulls_of_an_uncached_image_fetch_each_blob_once(stack: Stack, cache: Cache) -> None:
    layers = [os.urandom(4 * 1024 * 1024), os.urandom(1024 * 1024)]
    manifest, digest = upstream_image(cache, "big", "v1", layers)
    repository = f"{cache.project}/big"
    clients = [stack.registry_client(*ADMIN) for _ in range(CONCURRENT_PULLS)]
    try:
        with ThreadPoolExecutor(CONCURRENT_PULLS) as pool:
            results = list(pool.map(lambda c: pull(c, repository, "v1"), clients))
    finally:
        for client in clients:
            client.close()
    assert all(got == manifest for got, _ in results)
    wait_for(lambda: kept(stack, repository, digest), "the image kept")
    doc = json.loads(manifest)
    for descriptor in [doc["config"], *doc["layers"]]:
        assert upstream_count(cache.upstream, "GET", f"/v2/big/blobs/{descriptor['digest']}", 1) == 1, descriptor


def test_pushes_into_a_proxy_cache_project_are_refused(stack: Stack, cache: Cache) -> None:
    with stack.registry_client(*ADMIN) as client:
        r = client.post(f"/v2/{cache.project}/app/blobs/uploads/")
        assert r.status_code == 403, r.text
        error = r.json()["errors"][0]
        assert error["code"] == "DENIED" and "proxy cache" in error["message"], error
        with pytest.raises(AssertionError):
            push_blob(client, f"{cache.project}/app", b"refused")


def test_proxy_cache_projects_are_created_by_sysadmins_with_an_endpoint_that_exists(stack: Stack, cache: Cache) -> None:
    with stack.api() as api:
        r = api.get(f"/projects/{cache.project}")
        assert r.status_code == 200 and r.json()["registry_id"] == cache.registry_id, r.text
        # Harbor's default policy for a cache: keep what was pulled in the last 7 days, checked daily.
        policy = api.get(f"/retentions/{r.json()['metadata']['retention_id']}").json()
        assert [(rule["template"], rule["params"]) for rule in policy["rules"]] == [
            ("nDaysSinceLastPull", {"nDaysSinceLastPull": 7})
        ]
        assert policy["trigger"]["settings"]["cron"] == "0 0 0 * * *"
        # Its summary names the endpoint, without its credential (Harbor's getProjectRegistrySummary).
        registry = api.get(f"/projects/{cache.project}/summary").json()["registry"]
        assert (registry["id"], registry["url"]) == (cache.registry_id, cache.upstream.url)
        assert "credential" not in registry
        assert "registry" not in api.get("/projects/library/summary").json()
        assert "registry_id" not in api.get("/projects/library").json()
        assert_error(api.post("/projects", json={"project_name": "no-such-endpoint", "registry_id": 999999}), 400)
        assert_error(api.post("/projects", json={"project_name": "bad-endpoint", "registry_id": "one"}), 400)
        # An endpoint a proxy-cache project names stays.
        r = api.delete(f"/registries/{cache.registry_id}")
        assert_error(r, 412)
        assert "proxy cache" in r.json()["errors"][0]["message"]
        r = api.post(
            "/users",
            json={"username": "plain-user", "password": "Plain-Pass-1", "email": "p@example.com", "realname": "P"},
        )
        assert r.status_code in (201, 409), r.text
    with stack.api(("plain-user", "Plain-Pass-1")) as user:
        r = user.post("/projects", json={"project_name": "users-cache", "registry_id": cache.registry_id})
        assert_error(r, 403)


class BadUpstream(BaseHTTPRequestHandler):
    """An upstream that answers as registries gone wrong do: a 500, an HTML page, a manifest under another
    digest than it announces, and (the first time only) a layer whose bytes do not hash to its digest."""

    config = b'{"architecture": "amd64", "os": "linux", "comment": "bad upstream"}'
    layer = os.urandom(256 * 1024)
    manifest = image_manifest(config, [layer], media_type=mt.DOCKER_MANIFEST)
    served_bad_layer = False

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        cls = type(self)
        path = self.path
        if path == "/v2/":
            self._answer(200, b"{}", "application/json")
        elif path == "/v2/err/manifests/v1":
            self._answer(500, b"internal error", "text/plain")
        elif path == "/v2/html/manifests/v1":
            self._answer(200, b"<html><body>Sign in</body></html>", "text/html")
        elif path == "/v2/lying/manifests/v1":
            self._answer(200, cls.manifest, mt.DOCKER_MANIFEST, digest=digest_of(b"another manifest"))
        elif path == "/v2/bad/manifests/v1":
            self._answer(200, cls.manifest, mt.DOCKER_MANIFEST, digest=digest_of(cls.manifest))
        elif path == f"/v2/bad/blobs/{digest_of(cls.config)}":
            self._answer(200, cls.config, "application/octet-stream")
        elif path == f"/v2/short/blobs/{digest_of(cls.layer)}":
            # Half the bytes, then the connection closes: a body cut short.
            self.send_response(200)
            self.send_header("Docker-Distribution-API-Version", "registry/2.0")
            self.send_header("Content-Length", str(len(cls.layer)))
            self.end_headers()
            self.wfile.write(cls.layer[: len(cls.layer) // 2])
            self.close_connection = True
        elif path == f"/v2/bad/blobs/{digest_of(cls.layer)}":
            body = cls.layer if cls.served_bad_layer else bytes(len(cls.layer))
            cls.served_bad_layer = True
            self._answer(200, body, "application/octet-stream")
        else:
            self._answer(404, b'{"errors": [{"code": "MANIFEST_UNKNOWN", "message": "unknown"}]}', "application/json")

    def _answer(self, status: int, body: bytes, content_type: str, digest: str | None = None) -> None:
        self.send_response(status)
        self.send_header("Docker-Distribution-API-Version", "registry/2.0")
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if digest is not None:
            self.send_header("Docker-Content-Digest", digest)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def bad_cache(stack: Stack) -> Iterator[str]:
    BadUpstream.served_bad_layer = False
    server = ThreadingHTTPServer(("127.0.0.1", 0), BadUpstream)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with stack.api() as api:
            url = f"http://127.0.0.1:{server.server_address[1]}"
            name = f"bad-{uuid.uuid4().hex[:8]}"
            r = api.post("/registries", json={"name": name, "url": url, "type": "docker-registry"})
            assert r.status_code == 201, r.text
            registry_id = int(r.headers["Location"].rsplit("/", 1)[1])
            project = f"badcache-{uuid.uuid4().hex[:8]}"
            r = api.post("/projects", json={"project_name": project, "registry_id": registry_id})
            assert r.status_code == 201, r.text
        yield project
    finally:
        server.shutdown()
        server.server_close()


def test_bad_upstream_answers_store_nothing_and_the_next_pull_retries(stack: Stack, bad_cache: str) -> None:
    with stack.registry_client(*ADMIN) as client:
        for repo, needle in (("err", "answered 500"), ("html", "no manifest"), ("lying", "not sha256:")):
            r = client.get(f"/v2/{bad_cache}/{repo}/manifests/v1", headers={"Accept": ACCEPT})
            assert r.status_code == 503, r.text
            error = r.json()["errors"][0]
            assert error["code"] == "UNAVAILABLE" and needle in error["message"], error
            assert not query(stack.db, "SELECT 1 FROM repositories WHERE name = $1", f"{bad_cache}/{repo}")

        # A body cut short: the client's body is cut too, and nothing is stored.
        with pytest.raises(httpx.HTTPError):
            got = client.get(f"/v2/{bad_cache}/short/blobs/{digest_of(BadUpstream.layer)}")
            raise httpx.HTTPError(f"answered {got.status_code} with {len(got.content)} bytes")
        assert not query(stack.db, "SELECT 1 FROM blobs WHERE digest = $1", digest_of(BadUpstream.layer))

        # The layer's first fetch (a client asking for it before any manifest) brings bytes that do not
        # hash to its digest: the client never gets them all, and nothing is stored under the digest.
        repository = f"{bad_cache}/bad"
        layer = digest_of(BadUpstream.layer)
        with pytest.raises(httpx.HTTPError):
            got = client.get(f"/v2/{repository}/blobs/{layer}")
            assert got.status_code != 200 or digest_of(got.content) != layer
            raise httpx.HTTPError(f"answered {got.status_code} without the blob")
        assert not query(stack.db, "SELECT 1 FROM blobs WHERE digest = $1", layer)
        assert not kept(stack, repository, digest_of(BadUpstream.manifest))

        # The next pull asks again, and this time the upstream is right.
        manifest, blobs = pull(client, repository, "v1")
        assert manifest == BadUpstream.manifest and blobs[layer] == BadUpstream.layer
        wait_for(lambda: kept(stack, repository, digest_of(manifest)), "the image kept once its layer matched")


def references(stack: Stack, repository: str, index: str) -> dict[str, str]:
    """child digest → its platform's architecture, as the index's kept references say."""
    rows = query(
        stack.db,
        "SELECT c.digest, ref.platform->>'architecture' AS arch FROM artifact_references ref"
        " JOIN artifacts p ON p.id = ref.parent_id JOIN artifacts c ON c.id = ref.child_id"
        " JOIN repositories r ON r.id = p.repository_id WHERE r.name = $1 AND p.digest = $2",
        repository,
        index,
    )
    return {r["digest"]: r["arch"] for r in rows}


def test_an_index_is_kept_with_the_children_clients_pull(stack: Stack, cache: Cache) -> None:
    with httpx.Client(base_url=cache.upstream.url, timeout=60) as upstream:
        index, (amd64, arm64) = push_index(upstream, "multi", "v1")
    repository = f"{cache.project}/multi"
    with stack.registry_client(*ADMIN) as client:
        r = client.get(f"/v2/{repository}/manifests/v1", headers={"Accept": ACCEPT})
        assert r.status_code == 200 and digest_of(r.content) == index, r.text
        wait_for(lambda: kept(stack, repository, index), "the index kept before its children")
        pull(client, repository, amd64)
        wait_for(lambda: references(stack, repository, index) == {amd64: "amd64"}, "the pulled child joined to it")
        assert not kept(stack, repository, arm64)
        # Another platform, pulled later, is fetched then.
        pull(client, repository, arm64)
        wait_for(
            lambda: references(stack, repository, index) == {amd64: "amd64", arm64: "arm64"}, "both children joined"
        )


def test_the_quota_applies_to_what_the_cache_keeps(stack: Stack, cache: Cache) -> None:
    """A pull past the project's quota is served from the upstream all the same, and not kept."""
    with stack.api() as api:
        project = f"small-{uuid.uuid4().hex[:8]}"
        body = {"project_name": project, "registry_id": cache.registry_id, "storage_limit": 1024}
        assert api.post("/projects", json=body).status_code == 201
    manifest, digest = upstream_image(cache, "wide", "v1", [os.urandom(64 * 1024)])
    repository = f"{project}/wide"
    with stack.registry_client(*ADMIN) as client:
        got, _ = pull(client, repository, "v1")
        assert got == manifest
        wait_for(
            lambda: any(
                "proxy_manifest_not_kept" in line and repository in line and "exceed" in line
                for line in stack.registry.logs().splitlines()
            ),
            "the quota's refusal logged",
        )
        assert not kept(stack, repository, digest)
        # Served again from the upstream, still not kept.
        assert pull(client, repository, "v1")[0] == manifest
    with stack.api() as api:
        (quota,) = api.get(
            "/quotas", params={"reference": "project", "reference_id": project_id(stack, project)}
        ).json()
        assert quota["used"]["storage"] <= 1024, quota


def project_id(stack: Stack, name: str) -> int:
    (row,) = query(stack.db, "SELECT id FROM projects WHERE name = $1", name)
    return int(row["id"])


@pytest.fixture
def second_replica(stack: Stack, tmp_path: Path) -> Iterator[RegistryProcess]:
    """Another registry process on the stack's database, Redis keys, storage and secret key: a replica."""
    if stack.s3 is not None:
        storage = stack.s3.storage_config(stack.s3_bucket, chunksize=5 << 20)
    else:
        storage = {"filesystem": {"rootdirectory": str(stack.registry.storage_root)}}
    settings = {
        "redis": {"url": REDIS_URL, "key_prefix": stack.registry.redis_prefix},
        "secret_key_file": yaml.safe_load(stack.registry.config_path.read_text())["secret_key_file"],
    }
    replica = RegistryProcess(tmp_path / "replica", stack.db, token=stack.token, storage=storage, settings=settings)
    replica.start()
    try:
        yield replica
    finally:
        replica.stop()


def test_concurrent_pulls_across_replicas_fetch_each_blob_once(
    stack: Stack, cache: Cache, second_replica: RegistryProcess
) -> None:
    layers = [os.urandom(4 * 1024 * 1024), os.urandom(2 * 1024 * 1024)]
    manifest, digest = upstream_image(cache, "shared", "v1", layers)
    repository = f"{cache.project}/shared"
    auth = RegistryTokenAuth(f"{stack.token.url}/service/token", "berth-registry", ADMIN)
    clients = [
        httpx.Client(base_url=(stack.registry.url if i % 2 else second_replica.url), timeout=60, auth=auth)
        for i in range(CONCURRENT_PULLS)
    ]
    try:
        with ThreadPoolExecutor(CONCURRENT_PULLS) as pool:
            results = list(pool.map(lambda c: pull(c, repository, "v1"), clients))
    finally:
        for client in clients:
            client.close()
    assert all(got == manifest for got, _ in results)
    assert all(blobs == results[0][1] for _, blobs in results)
    wait_for(lambda: kept(stack, repository, digest), "the image kept")
    doc = json.loads(manifest)
    for descriptor in [doc["config"], *doc["layers"]]:
        assert upstream_count(cache.upstream, "GET", f"/v2/shared/blobs/{descriptor['digest']}", 1) == 1, descriptor


class CountingUpstream(BaseHTTPRequestHandler):
    """An upstream holding one image of several layers, each sent slowly, that records when each blob
    request began and when the last chunk of its answer was about to go (no client can have read it all
    before that), so overlapping requests show whatever the machine's scheduling."""

    config = b'{"architecture": "amd64", "os": "linux", "comment": "counting upstream"}'
    layers = [os.urandom(128 * 1024) for _ in range(5)]
    manifest = image_manifest(config, layers, media_type=mt.DOCKER_MANIFEST)
    blobs = {digest_of(b): b for b in [config, *layers]}
    lock = threading.Lock()
    spans: list[tuple[float, float]] = []

    def do_GET(self) -> None:
        cls = type(self)
        if self.path == "/v2/":
            self._send(200, b"{}", "application/json")
        elif self.path == "/v2/slow/manifests/v1":
            self._send(200, cls.manifest, mt.DOCKER_MANIFEST)
        elif self.path.startswith("/v2/slow/blobs/") and self.path.rsplit("/", 1)[1] in cls.blobs:
            began = time.monotonic()
            body = cls.blobs[self.path.rsplit("/", 1)[1]]
            step = 16 * 1024
            self._send(200, b"", "application/octet-stream", length=len(body))
            for start in range(0, len(body), step):
                if start + step >= len(body):
                    with cls.lock:
                        cls.spans.append((began, time.monotonic()))
                else:
                    # Long enough for concurrent fetches to overlap here if nothing kept them apart.
                    time.sleep(0.01)
                self.wfile.write(body[start : start + step])
        else:
            self._send(404, b"{}", "application/json")

    def _send(self, status: int, body: bytes, content_type: str, length: int | None = None) -> None:
        self.send_response(status)
        self.send_header("Docker-Distribution-API-Version", "registry/2.0")
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass

    @classmethod
    def most_at_once(cls) -> int:
        with cls.lock:
            edges = sorted([(b, 1) for b, _ in cls.spans] + [(e, -1) for _, e in cls.spans])
        most = current = 0
        for _, change in edges:
            current += change
            most = max(most, current)
        return most


def test_max_upstream_conn_keeps_the_fetches_from_the_upstream_one_at_a_time(stack: Stack) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), CountingUpstream)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    CountingUpstream.spans = []
    try:
        with stack.api() as api:
            url = f"http://127.0.0.1:{server.server_address[1]}"
            r = api.post(
                "/registries", json={"name": f"slow-{uuid.uuid4().hex[:8]}", "url": url, "type": "docker-registry"}
            )
            assert r.status_code == 201, r.text
            registry_id = int(r.headers["Location"].rsplit("/", 1)[1])
            project = f"limited-{uuid.uuid4().hex[:8]}"
            body = {"project_name": project, "registry_id": registry_id, "metadata": {"max_upstream_conn": "1"}}
            assert api.post("/projects", json=body).status_code == 201
            assert api.get(f"/projects/{project}").json()["metadata"]["max_upstream_conn"] == "1"
        repository = f"{project}/slow"
        with stack.registry_client(*ADMIN) as client:
            # The keeper fetches all six blobs at once unless the limit holds them back.
            got, _ = pull(client, repository, "v1")
            assert got == CountingUpstream.manifest
            wait_for(lambda: kept(stack, repository, digest_of(CountingUpstream.manifest)), "the image kept")
        assert len(CountingUpstream.spans) == len(CountingUpstream.blobs)
        assert CountingUpstream.most_at_once() == 1, CountingUpstream.spans
    finally:
        server.shutdown()
        server.server_close()
