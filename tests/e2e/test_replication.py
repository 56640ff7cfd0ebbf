"""Push replication, end to end: the whole stack (the jobservice runs the executions) copies what a policy's
filters take to Debian's CNCF Distribution (htpasswd user) and to a Harbor-type endpoint (the stack itself,
which gets the destination project created through its API). Everything on the destination is compared by
digest and bytes; a second execution copies no blob again; the execution's counts, tasks and task logs are
Harbor's shapes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from services.common.oci import mediatypes as mt
from tests.e2e.test_registries import create as create_registry
from tests.e2e.test_registries import credential, endpoint
from tests.e2e.test_replication_policies import create as create_policy
from tests.harness.distribution import DistributionProcess
from tests.harness.oci import digest_of, push_image, push_manifest
from tests.harness.plugin import RegistryEndpoint
from tests.harness.stack import ADMIN_PASSWORD, StackProcess
from tests.harness.waiting import eventually
from tests.integration.core.test_artifacts import push_index

ADMIN = ("admin", ADMIN_PASSWORD)
USER, PASSWORD = "mirror-user", "Mirror-Pass-1"


@pytest.fixture(scope="module")
def distribution(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DistributionProcess]:
    with DistributionProcess(tmp_path_factory.mktemp("distribution"), users={USER: PASSWORD}) as proc:
        yield proc


@pytest.fixture
def admin(stack: StackProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{stack.url}/api/v2.0", auth=ADMIN, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def images(stack: StackProcess, registry_endpoint: RegistryEndpoint) -> dict[str, str]:
    """What the source holds: two tagged images (one 3 MiB layer each), a dev tag, an index."""
    with httpx.Client(base_url=f"{stack.url}/api/v2.0", auth=ADMIN, timeout=60) as api:
        assert api.post("/projects", json={"project_name": "rep", "metadata": {"public": "false"}}).status_code == 201
    digests = {}
    with registry_endpoint.client() as client:
        shared = os.urandom(3 * 1024 * 1024)
        for tag in ("v1", "v2", "dev"):
            _, digests[tag] = push_image(client, "rep/app", tag, layers=[shared, f"own layer {tag}".encode()])
        digests["multi"], _ = push_index(client, "rep/multi", "v-multi")
    return digests


def push_policy(admin: httpx.Client, policy: str, registry_id: int, namespace: str, **patterns: str) -> int:
    """An enabled push policy to the endpoint with name and tag filters; its id."""
    body = {
        "name": policy,
        "dest_registry": {"id": registry_id},
        "dest_namespace": namespace,
        "filters": [{"type": kind, "value": value} for kind, value in patterns.items()],
        "enabled": True,
    }
    return create_policy(admin, body)


def start(admin: httpx.Client, policy_id: int) -> dict[str, Any]:
    r = admin.post("/replication/executions", json={"policy_id": policy_id})
    assert r.status_code == 201, r.text
    execution_id = int(r.headers["Location"].rsplit("/", 1)[1])

    def finished() -> dict[str, Any] | None:
        body: dict[str, Any] = admin.get(f"/replication/executions/{execution_id}").json()
        return body if body["status"] != "InProgress" else None

    execution: dict[str, Any] = eventually(finished, f"execution {execution_id} to finish", deadline_s=180)
    return execution


def task_logs(admin: httpx.Client, execution_id: int) -> list[str]:
    tasks = admin.get(f"/replication/executions/{execution_id}/tasks").json()
    return [admin.get(f"/replication/executions/{execution_id}/tasks/{t['id']}/log").text for t in tasks]


def manifest_on(client: httpx.Client, repository: str, reference: str) -> httpx.Response:
    accept = ", ".join([mt.OCI_MANIFEST, mt.OCI_INDEX, mt.DOCKER_MANIFEST, mt.DOCKER_LIST])
    return client.get(f"/v2/{repository}/manifests/{reference}", headers={"Accept": accept})


def test_a_push_policy_copies_what_its_filters_take_to_a_distribution(
    admin: httpx.Client, distribution: DistributionProcess, images: dict[str, str]
) -> None:
    registry_id = create_registry(admin, endpoint("mirror", distribution.url, credential=credential(USER, PASSWORD)))
    policy_id = push_policy(admin, "to-mirror", registry_id, "mirror", name="rep/**", tag="v*")

    execution = start(admin, policy_id)
    assert execution["status"] == "Succeed", execution
    # rep/app:v1, rep/app:v2 and the index rep/multi:v-multi; dev is not a v* tag.
    assert (execution["total"], execution["succeed"], execution["failed"]) == (3, 3, 0), execution
    assert execution["trigger"] == "manual" and execution["policy_id"] == policy_id and execution["end_time"]
    tasks = admin.get(f"/replication/executions/{execution['id']}/tasks").json()
    assert {t["dst_resource"] for t in tasks} == {"mirror/app:[v1]", "mirror/app:[v2]", "mirror/multi:[v-multi]"}
    assert {t["status"] for t in tasks} == {"Succeed"} and all(t["operation"] == "copy" for t in tasks)

    with httpx.Client(base_url=distribution.url, auth=(USER, PASSWORD), timeout=60) as remote:
        for tag in ("v1", "v2"):
            got = manifest_on(remote, "mirror/app", tag)
            assert got.status_code == 200 and digest_of(got.content) == images[tag], got.text
            for layer in got.json()["layers"]:
                blob = remote.get(f"/v2/mirror/app/blobs/{layer['digest']}")
                assert blob.status_code == 200 and digest_of(blob.content) == layer["digest"]
        index = manifest_on(remote, "mirror/multi", "v-multi")
        assert index.status_code == 200 and digest_of(index.content) == images["multi"]
        for child in index.json()["manifests"]:
            assert manifest_on(remote, "mirror/multi", child["digest"]).status_code == 200
        assert manifest_on(remote, "mirror/app", "dev").status_code == 404

    # Again: everything is there, no blob goes twice.
    again = start(admin, policy_id)
    assert again["status"] == "Succeed" and again["succeed"] == 3, again
    assert all(" 0 blobs copied" in log for log in task_logs(admin, again["id"])), task_logs(admin, again["id"])


def test_a_harbor_endpoint_gets_the_projects_it_lacks(
    stack: StackProcess, admin: httpx.Client, images: dict[str, str], registry_endpoint: RegistryEndpoint
) -> None:
    registry_id = create_registry(
        admin, endpoint("berth-self", stack.url, "harbor", credential=credential("admin", ADMIN_PASSWORD))
    )
    execution = start(admin, push_policy(admin, "to-self", registry_id, "copied", name="rep/app", tag="v1"))
    assert execution["status"] == "Succeed" and execution["total"] == 1, execution
    assert admin.get("/projects/copied").status_code == 200
    with registry_endpoint.client() as client:
        got = manifest_on(client, "copied/app", "v1")
        assert got.status_code == 200 and digest_of(got.content) == images["v1"]


def test_executions_list_filter_and_refuse(admin: httpx.Client, distribution: DistributionProcess) -> None:
    registry_id = create_registry(
        admin, endpoint("list-target", distribution.url, credential=credential(USER, PASSWORD))
    )
    disabled = {"name": "disabled-one", "dest_registry": {"id": registry_id}, "enabled": False}
    policy_id = create_policy(admin, disabled)
    refused = admin.post("/replication/executions", json={"policy_id": policy_id})
    assert refused.status_code == 412 and "disabled" in refused.json()["errors"][0]["message"]
    assert admin.post("/replication/executions", json={"policy_id": 999999}).status_code == 404
    assert admin.post("/replication/executions", json={}).status_code == 400
    listed = admin.get("/replication/executions", params={"status": "Succeed", "trigger": "manual"})
    assert listed.status_code == 200 and all(e["status"] == "Succeed" for e in listed.json())
    assert admin.get("/replication/executions", params={"status": "Done"}).status_code == 400
    assert admin.get("/replication/executions/999999").status_code == 404
    assert admin.put("/replication/executions/999999").status_code == 404


def test_an_event_based_policy_replicates_a_push_within_seconds(
    admin: httpx.Client, distribution: DistributionProcess, registry_endpoint: RegistryEndpoint, images: dict[str, str]
) -> None:
    registry_id = create_registry(admin, endpoint("on-push", distribution.url, credential=credential(USER, PASSWORD)))
    body = {
        "name": "on-push",
        "dest_registry": {"id": registry_id},
        "dest_namespace": "events",
        "filters": [{"type": "name", "value": "rep/live"}],
        "trigger": {"type": "event_based"},
        "enabled": True,
    }
    policy_id = create_policy(admin, body)
    with registry_endpoint.client() as client:
        _, digest = push_image(client, "rep/live", "1.0", layers=[os.urandom(64 * 1024)])
        push_image(client, "rep/other", "1.0")  # no policy takes it
    with httpx.Client(base_url=distribution.url, auth=(USER, PASSWORD), timeout=60) as remote:

        def replicated() -> bool:
            got = manifest_on(remote, "events/live", "1.0")
            return got.status_code == 200 and digest_of(got.content) == digest

        eventually(replicated, "the pushed image on the destination", deadline_s=120)
    executions = admin.get("/replication/executions", params={"policy_id": str(policy_id)}).json()
    assert executions and {e["trigger"] for e in executions} == {"event_based"}
    tasks = admin.get(f"/replication/executions/{executions[0]['id']}/tasks").json()
    assert [t["src_resource"] for t in tasks] == ["rep/live:[1.0]"]


def test_a_deletion_is_replicated_by_a_policy_that_says_so(
    admin: httpx.Client, distribution: DistributionProcess, registry_endpoint: RegistryEndpoint, images: dict[str, str]
) -> None:
    registry_id = create_registry(admin, endpoint("on-delete", distribution.url, credential=credential(USER, PASSWORD)))
    body = {
        "name": "on-delete",
        "dest_registry": {"id": registry_id},
        "filters": [{"type": "name", "value": "rep/gone"}],
        "trigger": {"type": "event_based"},
        "replicate_deletion": True,
        "enabled": True,
    }
    policy_id = create_policy(admin, body)
    with registry_endpoint.client() as client:
        manifest, digest = push_image(client, "rep/gone", "1.0")
        assert push_manifest(client, "rep/gone", "extra", manifest, mt.OCI_MANIFEST).status_code == 201
    with httpx.Client(base_url=distribution.url, auth=(USER, PASSWORD), timeout=60) as remote:
        eventually(lambda: manifest_on(remote, "rep/gone", digest).status_code == 200, "the copy", deadline_s=120)
        # A tag deleted alone: a Distribution cannot delete a tag, and the task says so (as Harbor's).
        untagged = admin.delete(f"/projects/rep/repositories/gone/artifacts/{digest}/tags/extra")
        assert untagged.status_code == 200, untagged.text

        def tag_deletion_refused() -> list[str]:
            executions = admin.get("/replication/executions", params={"policy_id": str(policy_id)}).json()
            return [log for e in executions if e["status"] == "Failed" for log in task_logs(admin, e["id"])]

        refused = eventually(tag_deletion_refused, "the tag deletion's failed execution", deadline_s=120)
        assert any("the tag deletion isn't supported by a docker-registry endpoint" in log for log in refused), refused
        deleted = admin.delete(f"/projects/rep/repositories/gone/artifacts/{digest}")
        assert deleted.status_code == 200, deleted.text
        eventually(
            lambda: manifest_on(remote, "rep/gone", digest).status_code == 404, "the remote delete", deadline_s=120
        )
    executions = admin.get("/replication/executions", params={"policy_id": str(policy_id)}).json()
    operations = {
        t["operation"] for e in executions for t in admin.get(f"/replication/executions/{e['id']}/tasks").json()
    }
    assert operations == {"copy", "deletion"}


def test_a_pull_policy_brings_a_distributions_tags_into_a_project_it_creates(
    admin: httpx.Client, distribution: DistributionProcess, registry_endpoint: RegistryEndpoint
) -> None:
    with httpx.Client(base_url=distribution.url, auth=(USER, PASSWORD), timeout=60) as remote:
        _, wanted = push_image(remote, "upstream/tool", "2.0", layers=[os.urandom(256 * 1024)])
        push_image(remote, "upstream/tool", "old")
        push_image(remote, "elsewhere/thing", "2.0")
    registry_id = create_registry(admin, endpoint("upstream", distribution.url, credential=credential(USER, PASSWORD)))
    body = {
        "name": "from-upstream",
        "src_registry": {"id": registry_id},
        "dest_namespace": "pulled",
        "filters": [{"type": "name", "value": "upstream/**"}, {"type": "tag", "value": "2.*"}],
        "enabled": True,
    }
    execution = start(admin, create_policy(admin, body))
    assert execution["status"] == "Succeed" and execution["total"] == 1, execution
    tasks = admin.get(f"/replication/executions/{execution['id']}/tasks").json()
    assert [(t["src_resource"], t["dst_resource"]) for t in tasks] == [("upstream/tool:[2.0]", "pulled/tool:[2.0]")]
    assert admin.get("/projects/pulled").status_code == 200
    with registry_endpoint.client() as client:
        got = manifest_on(client, "pulled/tool", "2.0")
        assert got.status_code == 200 and digest_of(got.content) == wanted
        assert manifest_on(client, "pulled/tool", "old").status_code == 404


def test_a_pull_policy_from_a_harbor_endpoint_uses_its_catalog_and_tokens(
    stack: StackProcess, admin: httpx.Client, images: dict[str, str], registry_endpoint: RegistryEndpoint
) -> None:
    # The stack itself as the remote Berth: its catalog and pulls through its own token service.
    registry_id = create_registry(
        admin, endpoint("berth-source", stack.url, "harbor", credential=credential("admin", ADMIN_PASSWORD))
    )
    body = {
        "name": "from-berth",
        "src_registry": {"id": registry_id},
        "dest_namespace": "selfpull",
        "filters": [{"type": "name", "value": "rep/app"}, {"type": "tag", "value": "v2"}],
        "enabled": True,
    }
    execution = start(admin, create_policy(admin, body))
    assert execution["status"] == "Succeed" and execution["total"] == 1, execution
    with registry_endpoint.client() as client:
        got = manifest_on(client, "selfpull/app", "v2")
        assert got.status_code == 200 and digest_of(got.content) == images["v2"]


def test_single_active_replication_skips_a_run_while_one_is_running(
    admin: httpx.Client, distribution: DistributionProcess, registry_endpoint: RegistryEndpoint, images: dict[str, str]
) -> None:
    with registry_endpoint.client() as client:
        push_image(client, "rep/slow", "1.0", layers=[os.urandom(2 * 1024 * 1024)])
    registry_id = create_registry(
        admin, endpoint("one-at-a-time", distribution.url, credential=credential(USER, PASSWORD))
    )
    body = {
        "name": "one-at-a-time",
        "dest_registry": {"id": registry_id},
        "dest_namespace": "single",
        "filters": [{"type": "name", "value": "rep/slow"}],
        "speed": 64,  # KB/s: the 2 MiB layer takes half a minute, long enough to overlap
        "single_active_replication": True,
        "enabled": True,
    }
    policy_id = create_policy(admin, body)

    def run() -> int:
        r = admin.post("/replication/executions", json={"policy_id": policy_id})
        assert r.status_code == 201, r.text
        return int(r.headers["Location"].rsplit("/", 1)[1])

    first = run()

    def copying() -> bool:
        tasks = admin.get(f"/replication/executions/{first}/tasks").json()
        return any(t["status"] == "InProgress" for t in tasks)

    eventually(copying, "the first execution copying", deadline_s=120)
    second = run()

    def finished(execution_id: int) -> dict[str, Any] | None:
        body: dict[str, Any] = admin.get(f"/replication/executions/{execution_id}").json()
        return body if body["status"] != "InProgress" else None

    skipped = eventually(lambda: finished(second), "the second execution to end", deadline_s=120)
    assert skipped["status"] == "Succeed" and skipped["total"] == 0, skipped
    log = admin.get(f"/jobservice/jobs/{second}/log").text
    assert f"skipped: execution {first} of this policy is still running" in log, log
    assert admin.get(f"/replication/executions/{first}").json()["status"] == "InProgress"
    assert admin.put(f"/replication/executions/{first}").status_code == 200
    stopped = eventually(lambda: finished(first), "the first execution to stop", deadline_s=120)
    assert stopped["status"] == "Stopped", stopped
