"""The lookup cache never outlives a change, whichever registry process (or SQL session) makes it.

Two registry processes share one database, as replicas do. Changes made through one must reach the other
through PostgreSQL notifications; the waits below are bounded readiness polls, not timings.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import httpx
import pytest

from services.common.cache import REGISTRY_LISTENER
from services.common.oci import mediatypes as mt
from tests.harness.oci import push_blob, push_image, push_manifest
from tests.harness.plugin import PG_HOST, PG_PORT, PG_USER, RegistryProcess, TestDatabase
from tests.harness.token import TokenServiceProcess
from tests.harness.waiting import eventually

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def replicas(
    module_database: TestDatabase, token_server: TokenServiceProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[RegistryProcess, RegistryProcess]]:
    a = RegistryProcess(tmp_path_factory.mktemp("replica-a"), module_database, token=token_server)
    b = RegistryProcess(tmp_path_factory.mktemp("replica-b"), module_database, token=token_server)
    a.start()
    b.start()
    try:
        yield a, b
    finally:
        a.stop()
        b.stop()


@pytest.fixture
def clients(replicas: tuple[RegistryProcess, RegistryProcess]) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    a, b = replicas
    with a.client() as ca, b.client() as cb:
        yield ca, cb


def psql(database: TestDatabase, sql: str) -> str:
    out = subprocess.run(
        ["psql", "-h", PG_HOST, "-p", str(PG_PORT), "-U", PG_USER, "-d", database.name, "-tAc", sql],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


def served_digest(client: httpx.Client, repo: str, tag: str) -> str | None:
    r = client.get(f"/v2/{repo}/manifests/{tag}")
    return r.headers["Docker-Content-Digest"] if r.status_code == 200 else None


def second_manifest(client: httpx.Client, repo: str) -> tuple[bytes, str]:
    """Push (through `client`) another image's blobs and return its manifest, not yet tagged."""
    from tests.harness.oci import digest_of, image_manifest

    config, layer = b'{"architecture":"arm64","os":"linux"}', b"second layer " + repo.encode()
    push_blob(client, repo, config)
    push_blob(client, repo, layer)
    manifest = image_manifest(config, [layer])
    return manifest, digest_of(manifest)


def test_a_tag_moved_through_one_replica_is_served_by_the_other(
    clients: tuple[httpx.Client, httpx.Client], repo_name: str
) -> None:
    a, b = clients
    _, first = push_image(a, repo_name, "v1")
    assert served_digest(a, repo_name, "v1") == first
    assert served_digest(a, repo_name, "v1") == first  # now served from A's cache
    manifest, second = second_manifest(b, repo_name)

    assert push_manifest(b, repo_name, "v1", manifest, mt.OCI_MANIFEST).status_code == 201

    eventually(lambda: served_digest(a, repo_name, "v1") == second, "replica A serves the moved tag")
    assert all(served_digest(a, repo_name, "v1") == second for _ in range(20))


def test_a_manifest_deleted_through_one_replica_disappears_from_the_other(
    clients: tuple[httpx.Client, httpx.Client], repo_name: str
) -> None:
    a, b = clients
    _, digest = push_image(a, repo_name, "v1")
    assert served_digest(a, repo_name, digest) == digest
    assert served_digest(a, repo_name, "v1") == digest

    assert b.delete(f"/v2/{repo_name}/manifests/{digest}").status_code == 202

    eventually(lambda: served_digest(a, repo_name, "v1") is None, "the tag is gone on replica A")
    eventually(lambda: served_digest(a, repo_name, digest) is None, "the digest is gone on replica A")


def test_a_change_made_in_sql_by_another_program_is_seen(
    clients: tuple[httpx.Client, httpx.Client], repo_name: str, replicas: tuple[RegistryProcess, RegistryProcess]
) -> None:
    a, _ = clients
    _, digest = push_image(a, repo_name, "v1")
    assert served_digest(a, repo_name, "v1") == digest

    psql(
        replicas[0].database,
        f"DELETE FROM tags WHERE name = 'v1' AND repository_id = "
        f"(SELECT id FROM repositories WHERE name = '{repo_name}')",
    )

    eventually(lambda: served_digest(a, repo_name, "v1") is None, "a tag deleted in SQL is gone")


def test_losing_the_listening_connection_never_serves_stale_answers(
    clients: tuple[httpx.Client, httpx.Client], repo_name: str, replicas: tuple[RegistryProcess, RegistryProcess]
) -> None:
    a, _ = clients
    db = replicas[0].database
    _, digest = push_image(a, repo_name, "v1")
    assert served_digest(a, repo_name, "v1") == digest
    listeners = f"application_name = '{REGISTRY_LISTENER}' AND datname = '{db.name}'"

    killed = psql(db, f"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE {listeners}")
    assert int(killed) >= 1
    psql(
        db,
        f"DELETE FROM tags WHERE name = 'v1' AND repository_id = "
        f"(SELECT id FROM repositories WHERE name = '{repo_name}')",
    )

    eventually(lambda: served_digest(a, repo_name, "v1") is None, "the deleted tag is gone after the loss")
    eventually(
        lambda: int(psql(db, f"SELECT count(*) FROM pg_stat_activity WHERE {listeners}")) == 2,
        "both replicas listen again",
    )
