"""Prometheus metrics of every service, scraped from real processes on their own metrics ports
(metric.port plus each service's offset), in prometheus-client's text format, with the names Harbor's and
Distribution's dashboards read."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from services.common.oci import mediatypes as mt
from tests.harness.oci import push_blob, push_image
from tests.harness.plugin import TEST_PROJECT, TestDatabase, free_port
from tests.harness.token import add_project, query
from tests.harness.waiting import eventually
from tests.integration.core.registry_stack import Stack, running_stack_with_jobservice

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def metered(module_database: TestDatabase, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, int]]:
    # Four consecutive free ports are not guaranteed; a base whose +0 and +2 were free a moment ago is.
    base = free_port()
    while base + 3 > 65535:
        base = free_port()
    metric = {"metric": {"enabled": True, "port": base, "path": "/metrics", "refresh_seconds": 0.5}}
    with running_stack_with_jobservice(module_database, tmp_path_factory, shared_settings=metric) as stack:
        add_project(module_database, TEST_PROJECT)
        yield stack, base


def samples(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
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


def test_the_metrics_path_is_the_only_thing_on_the_metrics_port(metered: tuple[Stack, int]) -> None:
    _, base = metered
    assert httpx.get(f"http://127.0.0.1:{base}/v2/", timeout=10).status_code == 404
