"""Read-only mode and the token lifetime, switched at run time through /api/v2.0/configurations, across
real token, registry and core processes: with `read_only` on, the registry refuses pushes, mounts and
deletes and core refuses artifact, tag and repository deletes, tagging and copies, with Harbor's message,
while pulls and reads go on; turning it off restores writes. `token_expiration` sets the next token's
lifetime."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from services.common.oci import mediatypes as mt
from tests.harness.oci import digest_of, push_blob, push_image
from tests.harness.plugin import TestDatabase
from tests.harness.token import add_project
from tests.harness.waiting import eventually
from tests.integration.core.registry_stack import ADMIN, Stack, running_stack

pytestmark = pytest.mark.integration
MESSAGE = "The system is in read only mode. Any modification is prohibited."
ARTIFACTS = "/projects/ro/repositories/app/artifacts"


@pytest.fixture(scope="module")
def stack(module_database: TestDatabase, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(module_database, tmp_path_factory) as s:
        add_project(module_database, "ro")
        add_project(module_database, "other")
        yield s


def configure(stack: Stack, **values: object) -> None:
    with stack.api() as c:
        assert c.put("/configurations", json=values).status_code == 200


def refused(response: httpx.Response) -> bool:
    if response.status_code != 405:
        return False
    error = response.json()["errors"][0]
    return bool(error["code"] == "DENIED" and error["message"] == MESSAGE)


def test_read_only_refuses_every_write_and_keeps_reads(stack: Stack) -> None:
    with stack.registry_client(*ADMIN) as reg:
        manifest, digest = push_image(reg, "ro/app", "1.0", layers=[b"read-only layer"])
        layer = digest_of(b"read-only layer")
    configure(stack, read_only=True)
    try:
        with stack.registry_client(*ADMIN) as reg, stack.api() as api:
            # The registry applies it within seconds (its own listener), then refuses every write.
            eventually(lambda: refused(reg.post("/v2/ro/app/blobs/uploads/")), "the registry refuses uploads")
            assert refused(reg.put("/v2/ro/app/manifests/2.0", content=manifest, headers={"Content-Type": "x"}))
            assert refused(reg.post("/v2/other/app/blobs/uploads/", params={"mount": layer, "from": "ro/app"}))
            assert refused(reg.delete(f"/v2/ro/app/manifests/{digest}"))
            # Pulls go on.
            pulled = reg.get("/v2/ro/app/manifests/1.0", headers={"Accept": mt.OCI_MANIFEST})
            assert pulled.status_code == 200 and pulled.content == manifest
            assert reg.get(f"/v2/ro/app/blobs/{layer}").content == b"read-only layer"
            # Core: reads go on, every change of the registry's content is refused.
            assert api.get(f"{ARTIFACTS}/1.0").status_code == 200
            assert api.get("/systeminfo").json()["read_only"] is True
            assert refused(api.delete(f"{ARTIFACTS}/1.0/tags/1.0"))
            assert refused(api.post(f"{ARTIFACTS}/1.0/tags", json={"name": "again"}))
            assert refused(api.delete(f"{ARTIFACTS}/{digest}"))
            assert refused(api.post("/projects/other/repositories/app/artifacts", params={"from": "ro/app:1.0"}))
            assert refused(api.delete("/projects/ro/repositories/app"))
            # A caller without the permission still learns only that (403), not the mode.
            with stack.api(None) as anonymous:
                assert anonymous.delete(f"{ARTIFACTS}/1.0").status_code in (401, 403, 404)
    finally:
        configure(stack, read_only=False)
    with stack.registry_client(*ADMIN) as reg, stack.api() as api:
        eventually(lambda: reg.post("/v2/ro/app/blobs/uploads/").status_code == 202, "the registry takes pushes again")
        push_blob(reg, "ro/app", b"after read-only")
        assert api.post(f"{ARTIFACTS}/1.0/tags", json={"name": "after"}).status_code == 201


def test_token_expiration_sets_the_next_tokens_lifetime(stack: Stack) -> None:
    def lifetime() -> int:
        r = httpx.get(
            f"{stack.token.url}/service/token",
            params={"service": "berth-registry", "scope": "repository:ro/app:pull"},
            auth=ADMIN,
            timeout=30,
        )
        assert r.status_code == 200, r.text
        return int(r.json()["expires_in"])

    assert lifetime() == 30 * 60
    configure(stack, token_expiration=5)
    try:
        eventually(lambda: lifetime() == 5 * 60, "the token service issues 5-minute tokens")
    finally:
        configure(stack, token_expiration=30)
    eventually(lambda: lifetime() == 30 * 60, "back to 30 minutes")
