"""Replication between two Berth stacks, both ways, each the other's Harbor-type endpoint: an event-based
push policy on the first keeps the second in step (a push within seconds, an accessory pushed after its
subject, a tag deleted, an artifact deleted, a repository deleted), and a pull policy on the second brings
the first's artifacts its name, tag and label filters take (the labels read through the first's API) with
their accessories. Everything on the destination is compared by digest."""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest

from services.common.oci import mediatypes as mt
from tests.e2e.test_registries import create as create_registry
from tests.e2e.test_registries import credential, endpoint
from tests.e2e.test_replication import manifest_on, start
from tests.e2e.test_replication_policies import create as create_policy
from tests.harness import oci
from tests.harness.oci import digest_of, push_image
from tests.harness.plugin import RegistryEndpoint
from tests.harness.stack import ADMIN_PASSWORD, StackProcess, fresh_stack
from tests.harness.waiting import eventually

ADMIN = ("admin", ADMIN_PASSWORD)
DEADLINE_S = 120


@pytest.fixture(scope="module")
def other(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProcess]:
    """The second Berth: its own database, Redis prefix, storage and ports."""
    with fresh_stack(tmp_path_factory.mktemp("other-berth")) as proc:
        yield proc


def api(stack: StackProcess) -> httpx.Client:
    return httpx.Client(base_url=f"{stack.url}/api/v2.0", auth=ADMIN, timeout=60)


def registry_of(stack: StackProcess) -> RegistryEndpoint:
    assert stack.database is not None
    return RegistryEndpoint(stack.url.removeprefix("http://"), f"{stack.url}/service/token", stack.database)


def harbor_endpoint(client: httpx.Client, name: str, remote: StackProcess) -> int:
    return create_registry(client, endpoint(name, remote.url, "harbor", credential=credential(*ADMIN)))


def project(client: httpx.Client, name: str) -> None:
    r = client.post("/projects", json={"project_name": name, "metadata": {"public": "false"}})
    assert r.status_code == 201, r.text


def push_sbom(client: httpx.Client, repository: str, subject: bytes) -> str:
    """An SBOM whose subject is the manifest `subject`, pushed by digest (as oras attach does); its digest."""
    sbom = f'{{"spdxVersion": "SPDX-2.3", "name": "{os.urandom(4).hex()}"}}'.encode()
    for blob in (mt.EMPTY_JSON, sbom):
        oci.push_blob(client, repository, blob)
    referrer = oci.image_manifest(
        mt.EMPTY_JSON,
        [sbom],
        config_media_type=mt.OCI_EMPTY,
        artifact_type="application/spdx+json",
        subject=oci.descriptor(mt.OCI_MANIFEST, subject),
    )
    r = oci.push_manifest(client, repository, digest_of(referrer), referrer, mt.OCI_MANIFEST)
    assert r.status_code == 201, r.text
    return digest_of(referrer)


def referrers_on(client: httpx.Client, repository: str, digest: str) -> set[str]:
    r = client.get(f"/v2/{repository}/referrers/{digest}")
    return {m["digest"] for m in r.json().get("manifests", [])} if r.status_code == 200 else set()


def test_an_event_based_policy_keeps_the_other_berth_in_step(stack: StackProcess, other: StackProcess) -> None:
    with api(stack) as here, api(other) as there:
        project(here, "evsrc")
        registry_id = harbor_endpoint(here, "berth-b", other)
        body = {
            "name": "to-berth-b",
            "dest_registry": {"id": registry_id},
            "dest_namespace": "evmirror",
            "filters": [{"type": "name", "value": "evsrc/**"}],
            "trigger": {"type": "event_based"},
            "replicate_deletion": True,
            "enabled": True,
        }
        policy_id = create_policy(here, body)
        source, copy = registry_of(stack).client(), registry_of(other).client()
        with source, copy:
            # A push: on the other Berth within seconds, in a project made there for it.
            manifest, digest = push_image(source, "evsrc/app", "1.0", layers=[os.urandom(256 * 1024)])

            def arrived(repository: str, reference: str, wanted: str) -> bool:
                got = manifest_on(copy, repository, reference)
                return got.status_code == 200 and digest_of(got.content) == wanted

            eventually(lambda: arrived("evmirror/app", "1.0", digest), "the push on the other Berth", DEADLINE_S)
            assert there.get("/projects/evmirror").status_code == 200

            # An accessory pushed later, by digest: it goes with its subject.
            sbom = push_sbom(source, "evsrc/app", manifest)
            eventually(
                lambda: sbom in referrers_on(copy, "evmirror/app", digest), "the SBOM on the other Berth", DEADLINE_S
            )
            assert arrived("evmirror/app", sbom, sbom)

            # A tag deleted alone: the tag goes there too, the artifact stays.
            _, second = push_image(source, "evsrc/app", "1.1")
            eventually(lambda: arrived("evmirror/app", "1.1", second), "1.1 on the other Berth", DEADLINE_S)
            r = here.delete(f"/projects/evsrc/repositories/app/artifacts/{second}/tags/1.1")
            assert r.status_code == 200, r.text
            eventually(
                lambda: manifest_on(copy, "evmirror/app", "1.1").status_code == 404, "the tag deleted", DEADLINE_S
            )
            assert arrived("evmirror/app", second, second)

            # An artifact deleted.
            assert here.delete(f"/projects/evsrc/repositories/app/artifacts/{digest}").status_code == 200
            eventually(lambda: manifest_on(copy, "evmirror/app", digest).status_code == 404, "1.0 deleted", DEADLINE_S)

            # The repository deleted: each artifact it held goes on the other side.
            assert here.delete("/projects/evsrc/repositories/app").status_code == 200
            eventually(
                lambda: manifest_on(copy, "evmirror/app", second).status_code == 404,
                "the repository's last artifact deleted",
                DEADLINE_S,
            )

        def settled() -> list[dict] | None:
            # The destination answers before the execution's row says so: the task's end is written after.
            got = here.get("/replication/executions", params={"policy_id": str(policy_id)}).json()
            return None if any(e["status"] == "InProgress" for e in got) else got

        executions = eventually(settled, "the executions ended", DEADLINE_S)
        assert {e["trigger"] for e in executions} == {"event_based"}
        assert all(e["status"] == "Succeed" for e in executions), executions
        resources = {
            (t["operation"], t["dst_resource"])
            for e in executions
            for t in here.get(f"/replication/executions/{e['id']}/tasks").json()
        }
        assert ("deletion", "evmirror/app:[1.1]") in resources
        assert ("deletion", f"evmirror/app@{digest}") in resources
        assert ("deletion", f"evmirror/app@{second}") in resources


def test_a_pull_policy_brings_the_other_berths_artifacts_with_their_accessories(
    stack: StackProcess, other: StackProcess
) -> None:
    with api(stack) as upstream, api(other) as here:
        project(upstream, "pullsrc")
        with registry_of(stack).client() as source:
            manifest, wanted = push_image(source, "pullsrc/tool", "2.0", layers=[os.urandom(512 * 1024)])
            assert oci.push_manifest(source, "pullsrc/tool", "2.0.1", manifest, mt.OCI_MANIFEST).status_code == 201
            sbom = push_sbom(source, "pullsrc/tool", manifest)
            push_image(source, "pullsrc/tool", "nightly")
            push_image(source, "pullsrc/tool", "2.1")  # a 2.* tag, without the label
        # The source's labels judge what is pulled: a Harbor-type source lists them through its API.
        r = upstream.post("/labels", json={"name": "released", "scope": "g"})
        assert r.status_code == 201, r.text
        label_id = int(r.headers["Location"].rsplit("/", 1)[1])
        r = upstream.post(f"/projects/pullsrc/repositories/tool/artifacts/{wanted}/labels", json={"id": label_id})
        assert r.status_code == 200, r.text
        registry_id = harbor_endpoint(here, "berth-a", stack)
        body = {
            "name": "from-berth-a",
            "src_registry": {"id": registry_id},
            "dest_namespace": "froma",
            "filters": [
                {"type": "name", "value": "pullsrc/**"},
                {"type": "tag", "value": "2.*"},
                {"type": "label", "value": ["released"]},
            ],
            "enabled": True,
        }
        execution = start(here, create_policy(here, body))
        assert execution["status"] == "Succeed" and execution["total"] == 1, execution
        tasks = here.get(f"/replication/executions/{execution['id']}/tasks").json()
        assert [(t["src_resource"], t["dst_resource"]) for t in tasks] == [
            ("pullsrc/tool:[2.0,2.0.1]", "froma/tool:[2.0,2.0.1]")
        ]
        with registry_of(other).client() as copy:
            for tag in ("2.0", "2.0.1"):
                got = manifest_on(copy, "froma/tool", tag)
                assert got.status_code == 200 and digest_of(got.content) == wanted
            assert referrers_on(copy, "froma/tool", wanted) == {sbom}
            assert manifest_on(copy, "froma/tool", "nightly").status_code == 404
            assert manifest_on(copy, "froma/tool", "2.1").status_code == 404
        # The copy came in as pushes into the other Berth: its own artifact list shows it.
        listed = here.get("/projects/froma/repositories/tool/artifacts").json()
        assert {a["digest"] for a in listed} >= {wanted}
