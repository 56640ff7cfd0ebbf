"""A jobservice killed (SIGKILL) in the middle of a replication execution: the launcher starts it again, the
execution's job is taken up again once its heartbeat is overdue, and the execution finishes with every
artifact byte-equal on the destination (digests compared), nothing left InProgress."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.test_registries import create as create_registry
from tests.e2e.test_registries import credential, endpoint
from tests.e2e.test_replication import PASSWORD, USER, manifest_on
from tests.e2e.test_replication_policies import create as create_policy
from tests.harness.distribution import DistributionProcess
from tests.harness.oci import digest_of, push_image
from tests.harness.plugin import RegistryEndpoint
from tests.harness.stack import ADMIN_PASSWORD, StackProcess, fresh_stack
from tests.harness.waiting import eventually

ADMIN = ("admin", ADMIN_PASSWORD)
# The copy is slowed by the policy's own speed limit (KB/s), so that the kill lands while it runs.
SPEED_KBPS = 256
LAYER_BYTES = 3 * 1024 * 1024


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProcess]:
    # A dead worker's job is taken up again after 5 s without a heartbeat (the default is 30).
    settings = {"jobservice": {"heartbeat_timeout_seconds": 5}}
    with fresh_stack(tmp_path_factory.mktemp("stack"), settings) as proc:
        yield proc


@pytest.fixture(scope="module")
def distribution(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DistributionProcess]:
    with DistributionProcess(tmp_path_factory.mktemp("distribution"), users={USER: PASSWORD}) as proc:
        yield proc


def test_a_killed_jobservice_resumes_the_execution_and_finishes_it(
    stack: StackProcess, distribution: DistributionProcess
) -> None:
    assert stack.database is not None
    source = RegistryEndpoint(stack.url.removeprefix("http://"), f"{stack.url}/service/token", stack.database)
    with httpx.Client(base_url=f"{stack.url}/api/v2.0", auth=ADMIN, timeout=60) as admin:
        assert admin.post("/projects", json={"project_name": "big", "metadata": {"public": "false"}}).status_code == 201
        digests = {}
        with source.client() as client:
            for tag in ("a", "b"):
                _, digests[tag] = push_image(client, "big/app", tag, layers=[os.urandom(LAYER_BYTES)])
        registry_id = create_registry(admin, endpoint("slow", distribution.url, credential=credential(USER, PASSWORD)))
        body = {"name": "slow", "dest_registry": {"id": registry_id}, "speed": SPEED_KBPS, "enabled": True}
        r = admin.post("/replication/executions", json={"policy_id": create_policy(admin, body)})
        assert r.status_code == 201, r.text
        execution_id = int(r.headers["Location"].rsplit("/", 1)[1])

        def copying() -> bool:
            tasks = admin.get(f"/replication/executions/{execution_id}/tasks").json()
            return any(t["status"] == "InProgress" for t in tasks)

        eventually(copying, "a task copying", deadline_s=120)
        before = stack.status()["jobservice"]
        os.kill(int(before["pid"]), signal.SIGKILL)
        stack.wait_status("jobservice", state="up", restarts=str(int(before["restarts"]) + 1))

        def finished() -> dict[str, Any] | None:
            got: dict[str, Any] = admin.get(f"/replication/executions/{execution_id}").json()
            return got if got["status"] != "InProgress" else None

        execution = eventually(finished, "the execution to finish after the kill", deadline_s=300)
        assert execution["status"] == "Succeed", execution
        assert (execution["total"], execution["succeed"], execution["in_progress"]) == (2, 2, 0), execution
    with httpx.Client(base_url=distribution.url, auth=(USER, PASSWORD), timeout=60) as remote:
        for tag, digest in digests.items():
            got = manifest_on(remote, "big/app", tag)
            assert got.status_code == 200 and digest_of(got.content) == digest
            layer = got.json()["layers"][0]["digest"]
            assert digest_of(remote.get(f"/v2/big/app/blobs/{layer}").content) == layer
