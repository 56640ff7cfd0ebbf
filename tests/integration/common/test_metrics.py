"""Prometheus metrics of every service, scraped from real processes on their own metrics ports
(metric.port plus each service's offset), in prometheus-client's text format, with the names Harbor's and
Distribution's dashboards read."""

from __future__ import annotations

import json
from collections.abc import Iterator

import asyncpg
import httpx
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from services.common.oci import mediatypes as mt
from tests.harness.oci import digest_of, image_manifest, push_blob, push_image, push_manifest
from tests.harness.plugin import REDIS_URL, TEST_PROJECT, TestDatabase, free_port_block
from tests.harness.token import add_project, query
from tests.harness.waiting import eventually
from tests.integration.core.registry_stack import Stack, running_stack_with_jobservice

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def metered(module_database: TestDatabase, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, int]]:
    # metric.port - 1 (nginx's stub_status, when a proxy runs) to metric.port + 3 (the jobservice), reserved as
    # one block below the ephemeral range: no port handed out elsewhere (free_port) falls inside it.
    base = free_port_block(5) + 1
    metric = {"metric": {"enabled": True, "port": base, "path": "/metrics", "refresh_seconds": 0.5}}
    with running_stack_with_jobservice(module_database, tmp_path_factory, shared_settings=metric) as stack:
        add_project(module_database, TEST_PROJECT)
        yield stack, base


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
# The metrics ports' offsets from metric.port.
REGISTRY, TOKEN, CORE, JOBSERVICE = range(4)


def samples(url: str) -> Samples:
    r = httpx.get(url, timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def test_the_registry_counts_and_times_requests_by_distributions_handler_names(metered: tuple[Stack, int]) -> None:
    stack, base = metered
    repo = f"{TEST_PROJECT}/metered"
    with stack.registry_client("admin", "Harbor12345") as registry:
        digest = push_blob(registry, repo, b"counted bytes")
        for _ in range(3):
            assert registry.get(f"/v2/{repo}/blobs/{digest}").status_code == 200
        assert registry.get(f"/v2/{repo}/manifests/nope").status_code == 404
    found = samples(f"http://127.0.0.1:{base}/metrics")
    get_blob = frozenset({("code", "200"), ("method", "GET"), ("handler", "blob")})
    assert found[("registry_http_requests_total", get_blob)] >= 3
    missing = frozenset({("code", "404"), ("method", "GET"), ("handler", "manifest")})
    assert found[("registry_http_requests_total", missing)] >= 1
    assert any(
        name == "registry_http_requests_total" and ("handler", "blob_upload") in labels for name, labels in found
    )
    timed = frozenset({("method", "GET"), ("handler", "blob")})
    assert found[("registry_http_request_duration_seconds_count", timed)] >= 3
    # No label per repository or digest: the label values are route names.
    assert not any(digest in value or repo in value for _, labels in found for _, value in labels)


def test_core_counts_and_times_requests_by_operation(metered: tuple[Stack, int]) -> None:
    stack, base = metered
    with stack.api() as api:
        for _ in range(2):
            assert api.get("/projects").status_code == 200
        assert api.get(f"/projects/{TEST_PROJECT}").status_code == 200
    found = samples(f"http://127.0.0.1:{base + 2}/metrics")
    listed = frozenset({("code", "200"), ("method", "GET"), ("operation", "/api/v2.0/projects")})
    assert found[("harbor_core_http_request_total", listed)] >= 2
    one = frozenset({("method", "GET"), ("operation", "/api/v2.0/projects/{project_name_or_id}")})
    assert found[("harbor_core_http_request_duration_seconds_count", one)] >= 1


def test_the_token_service_counts_token_requests(metered: tuple[Stack, int]) -> None:
    stack, base = metered
    assert httpx.get(f"{stack.token.url}/service/token", params={"service": "berth-registry"}).status_code == 200
    found = samples(f"http://127.0.0.1:{base + 1}/metrics")
    issued = frozenset({("code", "200"), ("method", "GET"), ("operation", "/service/token")})
    assert found[("berth_token_http_request_total", issued)] >= 1


def test_the_jobservice_reports_its_queue_and_schedules_from_the_job_rows(metered: tuple[Stack, int]) -> None:
    stack, base = metered
    with stack.api() as api:
        # A GC schedule is a schedule row; the jobservice's gauge counts it at its next refresh.
        r = api.post("/system/gc/schedule", json={"schedule": {"type": "Custom", "cron": "0 0 3 * * *"}})
        assert r.status_code == 201, r.text

    def scheduled() -> float:
        return samples(f"http://127.0.0.1:{base + 3}/metrics").get(("harbor_task_scheduled_total", frozenset()), 0)

    assert eventually(scheduled, "harbor_task_scheduled_total counting the GC schedule", deadline_s=60) >= 1


def test_core_reports_harbors_project_metrics_from_the_tables(metered: tuple[Stack, int]) -> None:
    stack, base = metered
    repo = f"{TEST_PROJECT}/counted"
    with stack.registry_client("admin", "Harbor12345") as registry:
        push_image(registry, repo, "v1", layers=[b"a layer worth counting" * 100])
        assert registry.get(f"/v2/{repo}/manifests/v1", headers={"Accept": mt.OCI_MANIFEST}).status_code == 200
    project = ("project_name", TEST_PROJECT)

    def figures() -> dict[tuple[str, frozenset[tuple[str, str]]], float] | None:
        found = samples(f"http://127.0.0.1:{base + 2}/metrics")
        wanted = [
            ("harbor_project_repo_total", frozenset({project, ("public", "false")})),
            ("harbor_project_quota_usage_byte", frozenset({project})),
            ("harbor_artifact_pulled", frozenset({project})),
        ]
        # Quota use and pulls are written by core's and the registry's event pipelines, a moment later.
        return found if all(found.get(key, 0) >= 1 for key in wanted) else None

    found = eventually(figures, "the project's repository, quota use and pull in core's metrics", deadline_s=60)
    assert found[("harbor_project_total", frozenset({("public", "false")}))] >= 1
    assert found[("harbor_project_quota_byte", frozenset({project}))] == -1  # unlimited
    members = query(
        stack.db,
        "SELECT count(*) AS n FROM project_members m JOIN projects p ON p.id = m.project_id WHERE p.name = $1",
        TEST_PROJECT,
    )[0]["n"]
    assert found[("harbor_project_member_total", frozenset({project}))] == members


def lookups(found: Samples, cache: str, result: str) -> float:
    return found.get(("berth_cache_lookups_total", frozenset({("cache", cache), ("result", result)})), 0)


def test_each_cache_counts_its_hits_and_misses(metered: tuple[Stack, int]) -> None:
    stack, base = metered
    repo = f"{TEST_PROJECT}/cached"
    with stack.registry_client("admin", "Harbor12345") as registry:
        push_image(registry, repo, "v1")

        def registry_hit() -> bool:
            # The first lookups may miss (the cache is empty, or its listener not connected yet).
            r = registry.get(f"/v2/{repo}/manifests/v1", headers={"Accept": mt.OCI_MANIFEST})
            assert r.status_code == 200, r.text
            return lookups(samples(f"http://127.0.0.1:{base + REGISTRY}/metrics"), "registry_lookups", "hit") >= 1

        eventually(registry_hit, "a manifest lookup answered from the registry's cache")
    found = samples(f"http://127.0.0.1:{base + REGISTRY}/metrics")
    assert lookups(found, "registry_lookups", "miss") >= 1
    # Every pull and push above asked the token service with the same Basic credentials: one KDF run, then
    # the credential cache.
    found = samples(f"http://127.0.0.1:{base + TOKEN}/metrics")
    assert lookups(found, "credentials", "miss") >= 1
    assert lookups(found, "credentials", "hit") >= 1
    assert lookups(found, "access", "hit") + lookups(found, "access", "miss") >= 2

    with stack.api() as api:

        def core_hit() -> bool:
            r = api.get(f"/projects/{TEST_PROJECT}/repositories/cached/artifacts")
            assert r.status_code == 200, r.text
            return lookups(samples(f"http://127.0.0.1:{base + CORE}/metrics"), "artifact_lists", "hit") >= 1

        eventually(core_hit, "an artifact list page answered from core's cache")
    found = samples(f"http://127.0.0.1:{base + CORE}/metrics")
    assert lookups(found, "artifact_lists", "miss") >= 1
    assert lookups(found, "credentials", "hit") >= 1  # the API calls' Basic credentials, checked once


def backlog(base: int, offset: int) -> tuple[float, float]:
    found = samples(f"http://127.0.0.1:{base + offset}/metrics")
    return (
        found[("berth_outbox_pending_events", frozenset())],
        found[("berth_outbox_unacknowledged_events", frozenset())],
    )


def test_the_registry_and_core_report_the_outbox_backlog(metered: tuple[Stack, int]) -> None:
    stack, base = metered
    repo = f"{TEST_PROJECT}/outbox"
    stream = f"{stack.registry.redis_prefix}events"
    # Core's audit log is the consumer that acknowledges: without it, published events stay in the outbox.
    stack.core.stop()
    client = redis.Redis.from_url(REDIS_URL)
    held = f"{stream}:held"
    moved = False
    try:
        with stack.registry_client("admin", "Harbor12345") as registry:
            push_image(registry, repo, "published")
            eventually(lambda: backlog(base, REGISTRY)[1] >= 1, "the push's event published and not acknowledged")
            # A stream key Redis cannot add to (a string): the relay's XADD fails and the events wait.
            moved = bool(client.exists(stream)) and bool(client.rename(stream, held))
            client.set(stream, "not a stream")
            push_image(registry, repo, "waiting")
            eventually(lambda: backlog(base, REGISTRY)[0] >= 1, "the push's event waiting in the outbox")
    finally:
        client.delete(stream)
        if moved:
            client.rename(held, stream)
        client.close()
        stack.core.start()
    for offset in (REGISTRY, CORE):
        eventually(lambda o=offset: backlog(base, o) == (0, 0), f"an empty outbox on metrics port +{offset}")


def untagged_image(registry: httpx.Client, repo: str, layer: bytes) -> int:
    """Pushes an image by digest alone (an untagged artifact); the bytes of its config and layer."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "layer": digest_of(layer)}).encode()
    for blob in (config, layer):
        push_blob(registry, repo, blob)
    manifest = image_manifest(config, [layer])
    r = push_manifest(registry, repo, digest_of(manifest), manifest, mt.OCI_MANIFEST)
    assert r.status_code == 201, r.text
    return len(config) + len(layer)


async def test_the_jobservice_reports_a_gc_runs_progress_while_it_runs(metered: tuple[Stack, int]) -> None:
    stack, base = metered
    url = f"http://127.0.0.1:{base + JOBSERVICE}/metrics"

    def figures() -> dict[str, float]:
        found = samples(url)
        named = {name: value for (name, _), value in found.items() if name.startswith("berth_gc_")}
        # Labelled by the process's name too; this jobservice is the only pool.
        named["concurrency"] = sum(
            value
            for (name, labels), value in found.items()
            if name == "harbor_task_concurrency" and ("type", "GARBAGE_COLLECTION") in labels
        )
        return named

    before = figures()
    assert before["berth_gc_running"] == 0 and before["concurrency"] == 0
    with stack.registry_client("admin", "Harbor12345") as registry:
        size = untagged_image(registry, f"{TEST_PROJECT}/collected", b"a layer only an untagged image holds" * 50)
    holder = await asyncpg.connect(stack.db.dsn())
    try:
        # Holds the run in its mark phase (its UPDATE of blobs waits on this lock) once the untagged
        # artifacts have gone: a run caught half way.
        transaction = holder.transaction()
        await transaction.start()
        await holder.execute("LOCK TABLE blobs IN SHARE MODE")
        with stack.api() as api:
            parameters = {"delete_untagged": True, "time_window": 0}
            r = api.post("/system/gc/schedule", json={"schedule": {"type": "Manual"}, "parameters": parameters})
            assert r.status_code == 201, r.text
            run = r.headers["Location"].rsplit("/", 1)[1]

        def halfway() -> dict[str, float] | None:
            now = figures()
            deleted = now["berth_gc_manifests_deleted_total"] > before["berth_gc_manifests_deleted_total"]
            return now if now["berth_gc_running"] == 1 and deleted else None

        during = eventually(halfway, "a GC run in progress, its untagged artifacts counted", deadline_s=60)
        assert during["concurrency"] == 1
        assert during["berth_gc_blobs_deleted_total"] == before["berth_gc_blobs_deleted_total"]
    finally:
        await holder.close()

    def finished() -> dict[str, float] | None:
        now = figures()
        succeeded = now["berth_gc_last_success_timestamp_seconds"] > before["berth_gc_last_success_timestamp_seconds"]
        return now if now["berth_gc_running"] == 0 and succeeded else None

    after = eventually(finished, "the GC run finished and its success read from the job row", deadline_s=60)
    with stack.api() as api:
        assert api.get(f"/system/gc/{run}").json()["job_status"] == "Success"
    assert after["concurrency"] == 0
    assert after["berth_gc_blobs_deleted_total"] - before["berth_gc_blobs_deleted_total"] >= 2
    assert after["berth_gc_bytes_freed_total"] - before["berth_gc_bytes_freed_total"] >= size
    conn = await asyncpg.connect(stack.db.dsn())
    try:
        finished_at = await conn.fetchval(
            "SELECT EXTRACT(EPOCH FROM finished_at)::float8 FROM jobs WHERE id = $1", int(run)
        )
    finally:
        await conn.close()
    assert after["berth_gc_last_success_timestamp_seconds"] == pytest.approx(finished_at)


def test_the_metrics_path_is_the_only_thing_on_the_metrics_port(metered: tuple[Stack, int]) -> None:
    _, base = metered
    assert httpx.get(f"http://127.0.0.1:{base}/v2/", timeout=10).status_code == 404
