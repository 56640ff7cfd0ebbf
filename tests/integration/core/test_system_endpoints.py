"""/ping, /systeminfo/volumes and /systeminfo/getcert against a real core process whose storage directory
and token certificate are files of this test, created, changed and removed under it: shapes, status
codes, who may ask, and what core answers when the file or the directory is not there."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from services.common.auth.tokens import generate_key_and_certificate
from tests.harness.core import CoreProcess
from tests.harness.plugin import TestDatabase
from tests.harness.token import add_robot, add_user

pytestmark = pytest.mark.integration

ADMIN = ("admin", "Harbor12345")
PW = "System-Passw0rd"


@dataclass
class World:
    core: CoreProcess
    storage: Path
    certificate: Path


@pytest.fixture(scope="module")
def world(module_database: TestDatabase, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    files = tmp_path_factory.mktemp("system")
    storage, certificate = files / "registry", files / "secret" / "root.crt"
    settings = {
        "storage": {"filesystem": {"rootdirectory": str(storage)}},
        "token": {"certificate": str(certificate), "private_key": str(files / "secret" / "private_key.pem")},
    }
    core = CoreProcess(tmp_path_factory.mktemp("core"), module_database, settings=settings)
    core.start()
    try:
        add_user(module_database, "sys-user", PW)
        yield World(core, storage, certificate)
    finally:
        core.stop()


def errors_of(r: httpx.Response) -> tuple[str, str]:
    body = r.json()
    assert set(body) == {"errors"} and len(body["errors"]) == 1, body
    return str(body["errors"][0]["code"]), str(body["errors"][0]["message"])


def test_ping_needs_no_credentials(world: World) -> None:
    for auth in (None, ADMIN, ("sys-user", PW)):
        with world.core.client(auth) as c:
            r = c.get("/ping")
        assert r.status_code == 200 and r.text == "Pong"
        assert r.headers["Content-Type"].startswith("text/plain")


def test_volumes_reports_the_storage_directorys_file_system(world: World) -> None:
    world.storage.mkdir(exist_ok=True)
    with world.core.client(ADMIN) as c:
        r = c.get("/systeminfo/volumes")
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"storage"} and len(body["storage"]) == 1 and set(body["storage"][0]) == {"total", "free"}
    st = os.statvfs(world.storage)
    total, free = body["storage"][0]["total"], body["storage"][0]["free"]
    assert total == st.f_blocks * st.f_frsize and 0 <= free <= total
    # Free space moves with whatever else writes to the disk; it is within a few percent of now's.
    assert abs(free - st.f_bavail * st.f_frsize) <= total // 20


def test_volumes_when_core_cannot_see_the_storage(world: World) -> None:
    shutil.rmtree(world.storage, ignore_errors=True)
    try:
        with world.core.client(ADMIN) as c:
            r = c.get("/systeminfo/volumes")
        code, message = errors_of(r)
        assert r.status_code == 404 and code == "NOT_FOUND"
        assert str(world.storage) in message and "storage.filesystem.rootdirectory" in message
    finally:
        world.storage.mkdir()


@pytest.fixture(scope="module")
def s3_core(module_database: TestDatabase, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CoreProcess]:
    """A core whose registry stores on S3: a bucket (core never calls the endpoint for these requests) and a
    filesystem rootdirectory that is not there, which core must not consult (it would answer 404)."""
    files = tmp_path_factory.mktemp("system-s3")
    settings = {
        "storage": {
            "filesystem": {"rootdirectory": str(files / "not-there")},
            "s3": {
                "bucket": "berth-blobs",
                "regionendpoint": "http://127.0.0.1:9",
                "accesskey": "berth",
                "secretkey": "not-used",
                "encrypt": True,
            },
        },
        "token": {"certificate": str(files / "root.crt"), "private_key": str(files / "private_key.pem")},
    }
    core = CoreProcess(tmp_path_factory.mktemp("core-s3"), module_database, settings=settings)
    core.start()
    try:
        yield core
    finally:
        core.stop()


def test_volumes_on_s3_lists_none(world: World, s3_core: CoreProcess) -> None:
    """A bucket has no capacity, and the local disk under an unused rootdirectory is not the registry's:
    an empty list, which Harbor's UI reads as nothing to show (as it does for any storage but filesystem)."""
    with s3_core.client(ADMIN) as c:
        r = c.get("/systeminfo/volumes")
        assert r.status_code == 200, r.text
        assert r.headers["Content-Type"].startswith("application/json")
        assert r.json() == {"storage": []}
        assert c.get("/systeminfo").json()["registry_storage_provider_name"] == "s3"
    with world.core.client(ADMIN) as c:
        assert c.get("/systeminfo").json()["registry_storage_provider_name"] == "filesystem"
    for auth, status in ((None, 401), (("sys-user", PW), 403)):
        with s3_core.client(auth) as c:
            r = c.get("/systeminfo/volumes")
        assert r.status_code == status, (auth, r.text)
        errors_of(r)


def test_who_may_read_volumes(world: World, unique: str) -> None:
    world.storage.mkdir(exist_ok=True)
    with world.core.client(ADMIN) as c:
        assert c.post("/projects", json={"project_name": f"sv-{unique}"}).status_code == 201

        def system_robot(name: str, resource: str) -> tuple[str, str]:
            body = {
                "name": name,
                "level": "system",
                "duration": -1,
                "permissions": [
                    {"kind": "system", "namespace": "/", "access": [{"resource": resource, "action": "read"}]}
                ],
            }
            r = c.post("/robots", json=body)
            assert r.status_code == 201, r.text
            return r.json()["name"], r.json()["secret"]

        volumes_robot = system_robot(f"vol-{unique}", "system-volumes")
        other_robot = system_robot(f"cat-{unique}", "catalog")
    project_robot = add_robot(
        world.core.database, f"p{unique}", "Robot-Secret1", project=f"sv-{unique}", access=[("repository", "pull")]
    )
    expected = {
        None: 401,
        ("sys-user", PW): 403,
        volumes_robot: 200,
        other_robot: 403,
        (project_robot.name, "Robot-Secret1"): 403,
    }
    for auth, status in expected.items():
        with world.core.client(auth) as c:
            r = c.get("/systeminfo/volumes")
        assert r.status_code == status, (auth, r.text)
        if status != 200:
            errors_of(r)


def test_getcert_downloads_the_token_certificate(world: World) -> None:
    key_pem, cert_pem = generate_key_and_certificate("berth-token-issuer")
    world.certificate.parent.mkdir(parents=True, exist_ok=True)
    world.certificate.write_bytes(cert_pem)
    try:
        # Harbor's getcert asks for nothing: the certificate is public.
        for auth in (None, ("sys-user", PW), ADMIN):
            with world.core.client(auth) as c:
                r = c.get("/systeminfo/getcert")
            assert r.status_code == 200, r.text
            assert r.headers["Content-Type"] == "application/octet-stream"
            assert r.headers["Content-Disposition"] == "attachment; filename=ca.crt"
            assert r.content == cert_pem
            assert x509.load_pem_x509_certificate(r.content).public_key() is not None
        # A key in the same file (or the setting pointing at the key) is never served: certificates only.
        world.certificate.write_bytes(key_pem + cert_pem)
        with world.core.client() as c:
            r = c.get("/systeminfo/getcert")
        assert r.status_code == 200 and r.content == cert_pem and b"PRIVATE KEY" not in r.content
        world.certificate.write_bytes(key_pem)
        with world.core.client() as c:
            r = c.get("/systeminfo/getcert")
        assert r.status_code == 404 and b"PRIVATE" not in r.content
        assert errors_of(r)[0] == "NOT_FOUND"
    finally:
        world.certificate.unlink(missing_ok=True)


def test_getcert_without_a_certificate_is_404(world: World) -> None:
    world.certificate.unlink(missing_ok=True)
    with world.core.client() as c:
        r = c.get("/systeminfo/getcert")
    assert r.status_code == 404 and r.headers["Content-Type"].startswith("application/json")
    code, message = errors_of(r)
    assert code == "NOT_FOUND" and "certificate" in message
    # Nothing about where core keeps its files reaches an anonymous caller.
    assert str(world.certificate.parent) not in message
