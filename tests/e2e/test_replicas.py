"""Scale-out: the whole stack with two replicas each of the registry, core and the token service behind
nginx's upstreams. Both replicas serve; one killed (SIGKILL) in the middle of 20 concurrent pushes costs no
acknowledged image: every push succeeds, or fails cleanly and is retried by its client, and every image a
client was told is pushed pulls back byte for byte (an upload begun on one replica finishes on the other)."""

from __future__ import annotations

import os
import signal
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from services.common.oci import mediatypes as mt
from tests.harness.oci import digest_of, push_image
from tests.harness.registry_auth import RegistryTokenAuth
from tests.harness.stack import ADMIN_PASSWORD, StackProcess, fresh_stack
from tests.harness.waiting import eventually

pytestmark = pytest.mark.e2e
PUSHES = 20
ROUNDS = 3  # images per client, one after another: the kill lands while many are in flight
TRIES = 5


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProcess]:
    two = {"replicas": 2}
    with fresh_stack(tmp_path_factory.mktemp("replicas"), {"registry": two, "core": two, "token": two}) as proc:
        yield proc


def client(stack: StackProcess) -> httpx.Client:
    auth = RegistryTokenAuth(f"{stack.url}/service/token", "berth-registry", ("admin", ADMIN_PASSWORD))
    return httpx.Client(base_url=stack.url, auth=auth, timeout=120)


def requests_served(stack: StackProcess, name: str) -> int:
    return stack.child_output(name).count('"event":"request"') + stack.child_output(name).count('"event": "request"')


def test_every_replica_runs_and_serves(stack: StackProcess) -> None:
    status = stack.status()
    for name in ("registry", "registry-2", "core", "core-2", "token", "token-2"):
        assert status[name]["state"] == "up", status
    with client(stack) as registry:
        for i in range(12):
            push_image(registry, f"library/spread-{i}", "v1")
    for name in ("registry", "registry-2", "token", "token-2"):
        assert requests_served(stack, name) > 0, f"{name} served nothing:\n{stack.child_output(name)[-2000:]}"


def test_a_replica_killed_during_concurrent_pushes_loses_no_acknowledged_image(stack: StackProcess) -> None:
    acknowledged: dict[str, tuple[bytes, list[bytes]]] = {}
    lock = threading.Lock()
    started = threading.Barrier(PUSHES + 1)

    def pusher(n: int) -> None:
        started.wait()
        with client(stack) as registry:
            for round_ in range(ROUNDS):
                repo = f"library/killed-{n}-{round_}"
                layers = [os.urandom(256 * 1024 + n), f"layer {n} {uuid.uuid4()}".encode()]
                for _ in range(TRIES):  # what docker and skopeo do: a failed push is pushed again
                    try:
                        manifest, _ = push_image(registry, repo, "v1", layers=layers)
                    except (httpx.HTTPError, AssertionError):
                        continue
                    with lock:
                        acknowledged[repo] = (manifest, layers)
                    break

    victim = int(stack.status()["registry-2"]["pid"])
    with ThreadPoolExecutor(PUSHES) as pool:
        futures = [pool.submit(pusher, n) for n in range(PUSHES)]
        started.wait()
        # Killed once pushes are in flight through it.
        eventually(lambda: requests_served(stack, "registry-2") > 0, "registry-2 serving the pushes", 60)
        os.kill(victim, signal.SIGKILL)
        with lock:
            before_kill = len(acknowledged)
        for future in futures:
            future.result()
    assert before_kill < PUSHES * ROUNDS, "every push had finished before the kill: it tested nothing"
    assert len(acknowledged) == PUSHES * ROUNDS, f"only {len(acknowledged)} pushed within {TRIES} tries each"
    # The launcher brings the killed replica back.
    eventually(lambda: stack.status()["registry-2"]["pid"] != str(victim), "registry-2 restarted", 120)
    with client(stack) as registry:
        for repo, (manifest, layers) in acknowledged.items():
            r = registry.get(f"/v2/{repo}/manifests/v1", headers={"Accept": mt.OCI_MANIFEST})
            assert r.status_code == 200 and r.content == manifest, (repo, r.status_code)
            for layer in layers:
                blob = registry.get(f"/v2/{repo}/blobs/{digest_of(layer)}")
                assert blob.status_code == 200 and blob.content == layer, (repo, blob.status_code)
