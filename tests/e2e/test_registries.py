"""Registry endpoints (/api/v2.0/registries, ping, info, the replication adapters) against real remotes:
Debian's CNCF Distribution (`docker-registry`) with htpasswd users, the same over TLS with its own CA,
and a Berth (the stack itself, through its proxy, as a `harbor` endpoint). An endpoint is stored only
once it answers; its password is stored encrypted with the stack's secret key file and shown masked; the
regular health check follows a remote going away and coming back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet

from tests.harness.distribution import DistributionProcess
from tests.harness.plugin import free_port
from tests.harness.stack import ADMIN_PASSWORD, StackProcess, fresh_stack
from tests.harness.token import add_user, query
from tests.harness.waiting import eventually

ADMIN = ("admin", ADMIN_PASSWORD)
USER, PASSWORD = "replicator", "Remote-Pass-1"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProcess]:
    # A health check every second, so the status follows a remote within the test's patience.
    with fresh_stack(tmp_path_factory.mktemp("stack"), {"core": {"registry_health_check_seconds": 1}}) as proc:
        yield proc


@pytest.fixture(scope="module")
def distribution(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DistributionProcess]:
    proc = DistributionProcess(tmp_path_factory.mktemp("distribution"), users={USER: PASSWORD})
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def tls_distribution(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DistributionProcess]:
    proc = DistributionProcess(tmp_path_factory.mktemp("distribution-tls"), tls=True)
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def admin(stack: StackProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{stack.url}/api/v2.0", auth=ADMIN, timeout=60) as client:
        yield client


def endpoint(name: str, url: str, kind: str = "docker-registry", **extra: Any) -> dict[str, Any]:
    return {"name": name, "url": url, "type": kind, **extra}


def credential(user: str = USER, password: str = PASSWORD) -> dict[str, str]:
    return {"type": "basic", "access_key": user, "access_secret": password}


def create(admin: httpx.Client, body: dict[str, Any]) -> int:
    r = admin.post("/registries", json=body)
    assert r.status_code == 201, r.text
    return int(r.headers["Location"].rsplit("/", 1)[1])


def refused(r: httpx.Response, status: int, *needles: str) -> str:
    assert r.status_code == status, r.text
    message: str = r.json()["errors"][0]["message"]
    for needle in needles:
        assert needle in message, message
    return message


def test_the_adapters_are_harbor_and_docker_registry_and_only_the_admin_sees_them(
    stack: StackProcess, admin: httpx.Client
) -> None:
    assert admin.get("/replication/adapters").json() == ["docker-registry", "harbor"]
    # Harbor lists only adapters with endpoint patterns (the cloud registries'): neither has one.
    assert admin.get("/replication/adapterinfos").json() == {}
    assert stack.database is not None
    add_user(stack.database, "not-an-admin", "Plain-Pass-1")
    with httpx.Client(base_url=f"{stack.url}/api/v2.0", timeout=30) as anonymous:
        for path in ("/replication/adapters", "/registries", "/registries/1", "/registries/0/info"):
            assert anonymous.get(path).status_code == 401, path
            assert anonymous.get(path, auth=("not-an-admin", "Plain-Pass-1")).status_code == 403, path
        r = anonymous.post(
            "/registries", json=endpoint("x", "http://127.0.0.1:1"), auth=("not-an-admin", "Plain-Pass-1")
        )
        assert r.status_code == 403


def test_an_endpoint_with_credentials_is_stored_encrypted_and_shown_masked(
    stack: StackProcess, admin: httpx.Client, distribution: DistributionProcess
) -> None:
    registry_id = create(admin, endpoint("dist-creds", distribution.url + "/", credential=credential()))
    shown = admin.get(f"/registries/{registry_id}").json()
    assert shown["url"] == distribution.url  # Harbor trims the trailing slash
    assert shown["credential"] == {"type": "basic", "access_key": USER, "access_secret": "*****"}
    assert shown["status"] == "healthy" and shown["type"] == "docker-registry" and shown["insecure"] is False
    assert shown["ca_certificate"] is None and shown["creation_time"] and shown["update_time"]
    assert stack.database is not None
    (row,) = query(stack.database, "SELECT access_secret FROM registries WHERE id = $1", registry_id)
    assert PASSWORD not in row["access_secret"]
    key = (stack.data_volume / "secret" / "keys" / "secretkey").read_bytes().strip()
    assert Fernet(key).decrypt(row["access_secret"].encode()).decode() == PASSWORD
    listed = admin.get("/registries", params={"q": "name=dist-creds"})
    assert listed.headers["X-Total-Count"] == "1" and listed.json() == [shown]


def test_an_endpoint_that_does_not_answer_is_refused_with_the_reason(
    stack: StackProcess, admin: httpx.Client, distribution: DistributionProcess
) -> None:
    wrong = endpoint("dist-wrong", distribution.url, credential=credential(password="not-it"))
    refused(admin.post("/registries", json=wrong), 400, "unhealthy", "credentials")
    gone = endpoint("nobody", f"http://127.0.0.1:{free_port()}")
    refused(admin.post("/registries", json=gone), 400, "unhealthy", "127.0.0.1")
    # Core itself answers /v2/ with its API's 404: not a registry.
    not_registry = endpoint("core-itself", f"http://127.0.0.1:{stack.ports['core']}")
    refused(admin.post("/registries", json=not_registry), 400, "not a registry")
    # A Distribution is no Harbor: it has no /api/v2.0.
    refused(admin.post("/registries", json=endpoint("dist-as-harbor", distribution.url, "harbor")), 400, "Harbor API")
    assert admin.get("/registries", params={"q": "name=~dist-wrong"}).json() == []


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"name": "", "url": "http://x", "type": "docker-registry"}, "name cannot be empty"),
        ({"name": "n" * 65, "url": "http://x", "type": "docker-registry"}, "max length of name is 64"),
        ({"name": "t", "url": "http://x", "type": "quay"}, "type must be one of"),
        ({"name": "t", "url": "ftp://x", "type": "docker-registry"}, "http or https"),
        ({"name": "t", "url": "", "type": "docker-registry"}, "url is required"),
        ({"name": "t", "url": "http://x", "type": "docker-registry", "ca_certificate": "nope"}, "ca_certificate"),
        ({"name": "t", "url": "http://x", "type": "docker-registry", "credential": {"type": "oauth"}}, "basic"),
        ({"name": "t", "url": "http://x", "type": "docker-registry", "colour": "red"}, "unknown field 'colour'"),
        ({"name": "t", "url": "http://x", "type": "docker-registry", "insecure": "yes"}, "insecure"),
    ],
)
def test_fields_that_do_not_hold_are_a_400_naming_them(admin: httpx.Client, body: dict[str, Any], needle: str) -> None:
    refused(admin.post("/registries", json=body), 400, needle)


def test_tls_endpoints_need_their_ca_or_insecure(admin: httpx.Client, tls_distribution: DistributionProcess) -> None:
    url = tls_distribution.url
    refused(admin.post("/registries", json=endpoint("tls-plain", url)), 400, "certificate")
    with_ca = create(admin, endpoint("tls-ca", url, ca_certificate=tls_distribution.ca_pem))
    assert admin.get(f"/registries/{with_ca}").json()["ca_certificate"] == tls_distribution.ca_pem
    insecure = create(admin, endpoint("tls-insecure", url, insecure=True))
    assert admin.get(f"/registries/{insecure}").json()["insecure"] is True


def test_ping_checks_given_fields_or_a_stored_endpoint_with_changes(
    admin: httpx.Client, distribution: DistributionProcess
) -> None:
    ok = {"type": "docker-registry", "url": distribution.url, "access_key": USER, "access_secret": PASSWORD}
    assert admin.post("/registries/ping", json=ok).status_code == 200
    refused(admin.post("/registries/ping", json={**ok, "access_secret": "nope"}), 400, "unhealthy", "credentials")
    refused(admin.post("/registries/ping", json={"url": distribution.url}), 400, "type or url cannot be empty")
    registry_id = create(admin, endpoint("dist-ping", distribution.url, credential=credential()))
    # The stored password, decrypted: no need to give it again.
    assert admin.post("/registries/ping", json={"id": registry_id}).status_code == 200
    refused(admin.post("/registries/ping", json={"id": registry_id, "access_secret": "nope"}), 400, "credentials")
    refused(admin.post("/registries/ping", json={"id": 999_999}), 404)


def test_an_update_replaces_what_it_names_and_keeps_the_password(
    admin: httpx.Client, distribution: DistributionProcess
) -> None:
    registry_id = create(admin, endpoint("dist-update", distribution.url, credential=credential()))
    create(admin, endpoint("dist-update-other", distribution.url))
    r = admin.put(f"/registries/{registry_id}", json={"name": "dist-updated", "description": "the mirror"})
    assert r.status_code == 200, r.text
    # Harbor's UI sends the mask back for an unchanged password.
    assert admin.put(f"/registries/{registry_id}", json={"access_secret": "*****"}).status_code == 200
    shown = admin.get(f"/registries/{registry_id}").json()
    assert (shown["name"], shown["description"]) == ("dist-updated", "the mirror")
    assert shown["credential"]["access_secret"] == "*****"
    assert admin.post("/registries/ping", json={"id": registry_id}).status_code == 200
    refused(admin.put(f"/registries/{registry_id}", json={"access_secret": "wrong"}), 400, "unhealthy")
    refused(admin.put(f"/registries/{registry_id}", json={"name": "dist-update-other"}), 409, "already exists")
    refused(admin.put(f"/registries/{registry_id}", json={"type": "harbor"}), 400, "unknown field 'type'")
    assert admin.post("/registries/ping", json={"id": registry_id}).status_code == 200  # nothing changed


def test_info_says_what_each_type_can_filter_and_trigger(
    stack: StackProcess, admin: httpx.Client, distribution: DistributionProcess
) -> None:
    dist = create(admin, endpoint("dist-info", distribution.url))
    assert admin.get(f"/registries/{dist}/info").json() == {
        "type": "docker-registry",
        "description": "",
        "supported_resource_filters": [
            {"type": "name", "style": "input"},
            {"type": "tag", "style": "input"},
            {"type": "resource", "style": "radio", "values": ["image"]},
        ],
        "supported_triggers": ["manual", "scheduled"],
    }
    assert admin.post("/labels", json={"name": "release", "scope": "g"}).status_code == 201
    berth = create(admin, endpoint("berth-itself", stack.url, "harbor", credential=credential("admin", ADMIN_PASSWORD)))
    info = admin.get(f"/registries/{berth}/info").json()
    assert {"type": "label", "style": "list", "values": ["release"]} in info["supported_resource_filters"]
    assert {"type": "resource", "style": "radio", "values": ["image", "artifact"]} in info["supported_resource_filters"]
    assert info["supported_copy_by_chunk"] is True and info["supported_triggers"] == ["manual", "scheduled"]
    local = admin.get("/registries/0/info").json()
    assert local["supported_triggers"] == ["manual", "scheduled", "event_based"]
    refused(admin.get("/registries/999999/info"), 404)

    # A Harbor with more global labels than one page of its API offers them all, as Harbor's adapter does.
    many = [f"paged-{i:03}" for i in range(120)]
    ids = []
    for name in many:
        r = admin.post("/labels", json={"name": name, "scope": "g"})
        assert r.status_code == 201, r.text
        ids.append(r.headers["Location"].rsplit("/", 1)[1])
    (labels,) = [
        f for f in admin.get(f"/registries/{berth}/info").json()["supported_resource_filters"] if f["type"] == "label"
    ]
    assert set(many) <= set(labels["values"])
    for label_id in ids:  # the stack is shared: other tests' label pages stay as they were
        assert admin.delete(f"/labels/{label_id}").status_code == 200


def test_the_regular_health_check_follows_a_remote_away_and_back(admin: httpx.Client, tmp_path: Path) -> None:
    remote = DistributionProcess(tmp_path / "flaky")
    remote.start()
    try:
        registry_id = create(admin, endpoint("flaky", remote.url))
        remote.stop()
        eventually(lambda: admin.get(f"/registries/{registry_id}").json()["status"] == "unhealthy", "marked unhealthy")
        remote.start()
        eventually(lambda: admin.get(f"/registries/{registry_id}").json()["status"] == "healthy", "healthy again")
    finally:
        remote.stop()


def test_delete_and_unknown_ids(admin: httpx.Client, distribution: DistributionProcess) -> None:
    registry_id = create(admin, endpoint("dist-delete", distribution.url))
    refused(admin.post("/registries", json=endpoint("dist-delete", distribution.url)), 409, "already exists")
    assert admin.delete(f"/registries/{registry_id}").status_code == 200
    refused(admin.get(f"/registries/{registry_id}"), 404)
    refused(admin.delete(f"/registries/{registry_id}"), 404)
    refused(admin.get("/registries/abc"), 400)


def test_a_system_robot_granted_registry_list_may_list_and_nothing_more(
    stack: StackProcess, admin: httpx.Client
) -> None:
    body = {
        "name": "registry-lister",
        "level": "system",
        "duration": -1,
        "permissions": [{"kind": "system", "namespace": "/", "access": [{"resource": "registry", "action": "list"}]}],
    }
    r = admin.post("/robots", json=body)
    assert r.status_code == 201, r.text
    robot = (r.json()["name"], r.json()["secret"])
    with httpx.Client(base_url=f"{stack.url}/api/v2.0", auth=robot, timeout=30) as client:
        assert client.get("/registries").status_code == 200
        assert client.post("/registries", json=endpoint("by-robot", "http://127.0.0.1:1")).status_code == 403
        assert client.get("/replication/adapters").status_code == 403
