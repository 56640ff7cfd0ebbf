"""Events from the registry reach core's audit log exactly once: through the outbox, the relay and the
Redis stream, across a killed core, a Redis that lost the stream, and a duplicate delivery."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis

from services.common.oci import mediatypes as mt
from tests.harness.oci import image_manifest, push_blob, push_manifest
from tests.harness.plugin import REDIS_URL, TestDatabase
from tests.harness.token import add_member, add_project, add_user, query
from tests.integration.core.registry_stack import Stack, running_stack, wait_for

pytestmark = pytest.mark.integration

PROJECT = "ev"
PW = "Events-pw1"
CONFIG = b'{"architecture":"amd64","os":"linux"}'
LAYERS = [b"events layer"]


@pytest.fixture(scope="module")
def stack(module_database: TestDatabase, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # A short redelivery delay, so the test of a Redis that lost the stream does not wait 30 s.
    with running_stack(module_database, tmp_path_factory, event_redelivery_seconds=1) as started:
        add_project(module_database, PROJECT)
        add_user(module_database, "dev", PW)
        add_member(module_database, PROJECT, "dev", 2)
        yield started


def push(client: httpx.Client, repo: str, tag: str, note: str = "") -> str:
    for blob in (CONFIG, *LAYERS):
        push_blob(client, repo, blob)
    r = push_manifest(
        client, repo, tag, image_manifest(CONFIG, LAYERS, annotations={"n": note or tag}), mt.OCI_MANIFEST
    )
    assert r.status_code == 201, r.text
    return r.headers["Docker-Content-Digest"]


def audit(db: TestDatabase, resource_like: str) -> list[dict[str, Any]]:
    rows = query(
        db,
        "SELECT project_id, operation, resource_type, resource, username, event_id FROM audit_log"
        " WHERE resource LIKE $1 ORDER BY id",
        resource_like,
    )
    return [dict(r) for r in rows]


def outbox_size(db: TestDatabase) -> int:
    return int(query(db, "SELECT count(*) AS n FROM event_outbox")[0]["n"])


def test_push_pull_and_deletes_are_in_the_audit_log_with_who_did_them(stack: Stack) -> None:
    repo = f"{PROJECT}/app"
    with stack.registry_client("dev", PW) as dev:
        digest = push(dev, repo, "1.0")
        for _ in range(2):
            assert dev.get(f"/v2/{repo}/manifests/1.0", headers={"Accept": mt.OCI_MANIFEST}).status_code == 200
        # A HEAD checks; it is not a pull.
        assert dev.head(f"/v2/{repo}/manifests/1.0", headers={"Accept": mt.OCI_MANIFEST}).status_code == 200
    with stack.registry_client("admin", "Harbor12345") as admin:
        assert admin.delete(f"/v2/{repo}/manifests/1.0").status_code == 202
        assert admin.delete(f"/v2/{repo}/manifests/{digest}").status_code == 202

    rows = wait_for(lambda: len(audit(stack.db, f"{repo}%")) >= 4 and audit(stack.db, f"{repo}%"), "4 audit entries")
    (project,) = query(stack.db, "SELECT id FROM projects WHERE name = $1", PROJECT)
    seen = {(r["operation"], r["resource_type"], r["resource"], r["username"]) for r in rows}
    assert seen == {
        ("create", "artifact", f"{repo}:1.0", "dev"),
        ("pull", "artifact", f"{repo}@{digest}", "dev"),
        ("delete", "tag", f"{repo}:1.0", "admin"),
        ("delete", "artifact", f"{repo}@{digest}", "admin"),
    }
    assert len(rows) == 4, "two pulls within one flush are one entry; nothing is written twice"
    assert {r["project_id"] for r in rows} == {project["id"]}
    wait_for(lambda: outbox_size(stack.db) == 0, "the outbox to empty once the audit log has the events")


def test_pull_counts_are_added_to_the_artifact_and_the_repository(stack: Stack) -> None:
    repo = f"{PROJECT}/counted"
    with stack.registry_client("dev", PW) as dev:
        digest = push(dev, repo, "v1")
        for _ in range(5):
            assert dev.get(f"/v2/{repo}/manifests/{digest}", headers={"Accept": mt.OCI_MANIFEST}).status_code == 200

    def counts() -> tuple[int, int] | None:
        rows = query(
            stack.db,
            "SELECT a.pull_count AS a, r.pull_count AS r, a.pull_time FROM artifacts a"
            " JOIN repositories r ON r.id = a.repository_id WHERE r.name = $1",
            repo,
        )
        return (rows[0]["a"], rows[0]["r"]) if rows and rows[0]["a"] == 5 and rows[0]["pull_time"] else None

    assert wait_for(counts, "pull counts of 5") == (5, 5)


def test_fifty_pushes_while_core_is_killed_give_exactly_fifty_entries(stack: Stack) -> None:
    repo = f"{PROJECT}/burst"
    with stack.registry_client("dev", PW) as dev:
        for i in range(50):
            if i == 20:
                stack.core.stop(kill=True)
            push(dev, repo, f"t{i}")
    stack.core.start()
    wait_for(lambda: len(audit(stack.db, f"{repo}:%")) >= 50, "50 push entries")
    wait_for(lambda: outbox_size(stack.db) == 0, "the outbox to empty")
    rows = audit(stack.db, f"{repo}:%")
    assert sorted(r["resource"] for r in rows) == sorted(f"{repo}:t{i}" for i in range(50))
    assert {(r["operation"], r["username"]) for r in rows} == {("create", "dev")}


def test_events_lost_by_redis_are_published_again(stack: Stack) -> None:
    repo = f"{PROJECT}/lost"
    stack.core.stop()
    with stack.registry_client("dev", PW) as dev:
        for i in range(5):
            push(dev, repo, f"t{i}")
    stream = f"{stack.registry.redis_prefix}events"
    r = redis.Redis.from_url(REDIS_URL)
    try:
        # Wait until the relay published them, then lose the stream and its group as a Redis restart would.
        wait_for(
            lambda: not query(stack.db, "SELECT 1 FROM event_outbox WHERE published_at IS NULL"),
            "the relay to publish",
        )
        r.delete(stream)
    finally:
        r.close()
    stack.core.start()
    wait_for(lambda: len(audit(stack.db, f"{repo}:%")) >= 5, "5 push entries after the stream was lost")
    wait_for(lambda: outbox_size(stack.db) == 0, "the outbox to empty")
    assert len(audit(stack.db, f"{repo}:%")) == 5


def test_a_duplicate_delivery_is_written_once(stack: Stack) -> None:
    repo = f"{PROJECT}/dup"
    with stack.registry_client("dev", PW) as dev:
        push(dev, repo, "once")
    wait_for(lambda: audit(stack.db, f"{repo}:%"), "the push entry")
    stream = f"{stack.registry.redis_prefix}events"
    r = redis.Redis.from_url(REDIS_URL)
    try:
        entries = r.xrange(stream)
        original = next(fields for _id, fields in entries if f"{repo}".encode() in fields[b"event"])
        r.xadd(stream, original)
        # Let the consumer read it: a marker event after the copy shows the copy was consumed.
    finally:
        r.close()
    with stack.registry_client("dev", PW) as dev:
        push(dev, repo, "marker")
    wait_for(lambda: len(audit(stack.db, f"{repo}:%")) >= 2, "the marker entry")
    assert sorted(r["resource"] for r in audit(stack.db, f"{repo}:%")) == [f"{repo}:marker", f"{repo}:once"]


# --- the REST API over the audit log ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def logged(stack: Stack) -> str:
    """Pushes in `ev` and in `other`, by dev, visible in the audit log; returns the ev repository."""
    add_project(stack.db, "other")
    add_user(stack.db, "padmin", PW)
    add_user(stack.db, "outsider", PW)
    add_member(stack.db, PROJECT, "padmin", 1)
    add_member(stack.db, "other", "dev", 1)
    with stack.registry_client("dev", PW) as dev:
        for i in range(3):
            push(dev, f"{PROJECT}/api", f"v{i}")
        push(dev, "other/api", "v0")
    wait_for(lambda: len(audit(stack.db, "%/api:%")) >= 4, "4 push entries")
    return f"{PROJECT}/api"


def api(stack: Stack, who: str | None) -> httpx.Client:
    auth = None if who is None else ("admin", "Harbor12345") if who == "admin" else (who, PW)
    return stack.core.client(auth)


def test_the_sysadmin_reads_every_entry_with_filters_sort_and_paging(stack: Stack, logged: str) -> None:
    with api(stack, "admin") as c:
        r = c.get("/audit-logs", params={"q": "resource=~/api:,operation=create", "page_size": 2, "sort": "op_time"})
        assert r.status_code == 200, r.text
        assert r.headers["X-Total-Count"] == "4"
        assert 'rel="next"' in r.headers["Link"]
        first = r.json()
        assert [e["resource"] for e in first] == [f"{logged}:v0", f"{logged}:v1"]
        assert set(first[0]) == {"id", "project_id", "username", "resource", "resource_type", "operation", "op_time"}
        assert first[0]["username"] == "dev" and first[0]["resource_type"] == "artifact"
        second = c.get("/audit-logs", params={"q": "resource=~/api:", "page": 2, "page_size": 2, "sort": "op_time"})
        assert [e["resource"] for e in second.json()] == [f"{logged}:v2", "other/api:v0"]
        newest = c.get("/audit-logs", params={"q": "resource=~/api:", "page_size": 1}).json()
        assert newest[0]["resource"] == "other/api:v0", "newest first by default"
        # op_time is shown to the millisecond; 1 ms later includes v0 and not v1 (a whole push later).
        shown = dt.datetime.fromisoformat(first[0]["op_time"].replace("Z", "+00:00"))
        upper = (shown + dt.timedelta(milliseconds=1)).strftime("%Y-%m-%d %H:%M:%S.%f")
        ranged = c.get("/audit-logs", params={"q": f"resource=~{logged}:,op_time=[~{upper}]"})
        assert [e["resource"] for e in ranged.json()] == [f"{logged}:v0"]
        assert c.get("/audit-logs", params={"q": "username=nobody"}).json() == []


def test_a_project_admin_reads_its_projects_entries_only(stack: Stack, logged: str) -> None:
    with api(stack, "padmin") as c:
        mine = c.get(f"/projects/{PROJECT}/logs", params={"q": "resource=~/api:"})
        assert mine.status_code == 200
        assert {e["resource"] for e in mine.json()} == {f"{logged}:v{i}" for i in range(3)}
        combined = {e["resource"] for e in c.get("/audit-logs", params={"q": "resource=~/api:"}).json()}
        assert combined == {f"{logged}:v{i}" for i in range(3)}, "not other's entries"
        assert c.get("/projects/other/logs").status_code == 404


def test_who_may_not_read_project_logs(stack: Stack, logged: str) -> None:
    with api(stack, None) as c:
        assert c.get(f"/projects/{PROJECT}/logs").status_code in (401, 404)
        assert c.get("/audit-logs").status_code == 401
    with api(stack, "outsider") as c:
        assert c.get(f"/projects/{PROJECT}/logs").status_code == 404
        assert c.get("/audit-logs").json() == []
    # dev is a developer in ev (no log access) and projectAdmin of other.
    with api(stack, "dev") as c:
        assert c.get(f"/projects/{PROJECT}/logs").status_code == 403
        seen = {e["resource"] for e in c.get("/audit-logs", params={"q": "resource=~/api:"}).json()}
        assert seen == {"other/api:v0"}


@pytest.mark.parametrize(
    "params",
    [
        {"q": "password=x"},
        {"q": "op_time=[yesterday~]"},
        {"q": "op_time=[2020-01-01"},
        {"q": "operation={create delete}"},
        {"sort": "event_id"},
        {"page_size": "1000"},
        {"page": "0"},
    ],
)
def test_bad_list_parameters_are_400s(stack: Stack, logged: str, params: dict[str, str]) -> None:
    with api(stack, "admin") as c:
        r = c.get("/audit-logs", params=params)
    assert r.status_code == 400, r.text
    assert r.json()["errors"][0]["code"] == "BAD_REQUEST"
