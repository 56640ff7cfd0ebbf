"""Labels (/labels, .../artifacts/{reference}/labels) against real token, registry and core processes:
global and project labels by role, paging, attaching and detaching, the artifact's `labels`, the
artifacts list's label filter, deletes that detach, refusals in Harbor's envelope, the audit log, and
the artifacts list's statement count with labels attached."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest

from services.common.migrations import apply_migrations
from services.common.oci import mediatypes as mt
from services.core.artifacts import artifact_store
from services.core.listing import Page, SortKey, Term
from tests.harness.oci import push_image
from tests.harness.plugin import TestDatabase
from tests.harness.token import add_member, add_project, add_user, query
from tests.integration.core.registry_stack import ADMIN, Stack, assert_error, running_stack
from tests.integration.core.test_query_counts import Counting

pytestmark = pytest.mark.integration

PW = "Labels-pw1"
ARTIFACTS = "/projects/la/repositories/app/artifacts"


@dataclass
class World:
    stack: Stack
    la: int  # project ids
    lb: int
    one: str  # digests of la/app:1.0 and la/app:2.0
    two: str

    def api(self, user: str | None) -> httpx.Client:
        if user is None:
            return self.stack.api(None)
        return self.stack.api(ADMIN if user == "admin" else (user, PW))


@pytest.fixture(scope="module")
def world(module_database: TestDatabase, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with running_stack(module_database, tmp_path_factory) as s:
        la = add_project(module_database, "la")
        lb = add_project(module_database, "lb")
        roles = {"padmin": 1, "dev": 2, "guest": 3, "maint": 4, "limited": 5}
        for user in (*roles, "outsider"):
            add_user(module_database, user, PW)
        for user, role in roles.items():
            add_member(module_database, "la", user, role)
        add_member(module_database, "lb", "outsider", 1)
        with s.registry_client(*ADMIN) as reg:
            _, one = push_image(reg, "la/app", "1.0", layers=[b"layer one"])
            _, two = push_image(reg, "la/app", "2.0", layers=[b"layer two"])
        yield World(s, la.id, lb.id, one, two)


def create(api: httpx.Client, **body: Any) -> int:
    r = api.post("/labels", json=body)
    assert r.status_code == 201, r.text
    label_id = int(r.headers["Location"].rsplit("/", 1)[1])
    assert api.get(f"/labels/{label_id}").json()["name"] == body["name"]
    return label_id


def label_audit(db: TestDatabase, name: str) -> list[tuple[str, str, int | None]]:
    rows = query(
        db,
        "SELECT operation, username, project_id FROM audit_log WHERE resource_type = 'label' AND resource = $1"
        " ORDER BY id",
        name,
    )
    return [(r["operation"], r["username"], r["project_id"]) for r in rows]


def test_global_labels_crud_paging_and_who_may(world: World) -> None:
    with world.api("admin") as api:
        ids = [create(api, name=f"g-page-{i}", scope="g", color="#0065AB", description=f"d{i}") for i in range(3)]
        r = api.get("/labels", params={"scope": "g", "name": "g-page-", "page_size": 2})
        assert r.status_code == 200, r.text
        assert [x["id"] for x in r.json()] == ids[:2] and r.headers["X-Total-Count"] == "3"
        assert 'rel="next"' in r.headers["Link"]
        r = api.get("/labels", params={"scope": "g", "name": "g-page-", "page_size": 2, "page": 2})
        assert [x["id"] for x in r.json()] == ids[2:]
        r = api.get("/labels", params={"scope": "g", "q": "name=~page-1", "sort": "-name"})
        assert [x["id"] for x in r.json()] == [ids[1]]
        one = api.get(f"/labels/{ids[0]}").json()
        assert set(one) == {"id", "name", "description", "color", "scope", "project_id", "creation_time", "update_time"}
        assert (one["scope"], one["project_id"], one["color"], one["description"]) == ("g", 0, "#0065AB", "d0")
        assert one["creation_time"].endswith("Z")
        # PUT replaces name, description and colour (Harbor's); a name taken in the scope is a 409.
        assert api.put(f"/labels/{ids[0]}", json={"name": "g-renamed", "color": "#fff"}).status_code == 200
        renamed = api.get(f"/labels/{ids[0]}").json()
        assert (renamed["name"], renamed["color"], renamed["description"]) == ("g-renamed", "#fff", "")
        assert_error(api.put(f"/labels/{ids[1]}", json={"name": "g-renamed"}), 409)
        assert_error(api.post("/labels", json={"name": "g-renamed", "scope": "g"}), 409)
    for user in ("padmin", "maint", "dev", "guest", "outsider"):
        with world.api(user) as api:
            # Anybody authenticated reads global labels; only the sysadmin writes them.
            assert api.get("/labels", params={"scope": "g", "name": "g-page-"}).headers["X-Total-Count"] == "2"
            assert api.get(f"/labels/{ids[1]}").status_code == 200
            assert_error(api.post("/labels", json={"name": f"g-by-{user}", "scope": "g"}), 403)
            assert_error(api.put(f"/labels/{ids[1]}", json={"name": "x"}), 403)
            assert_error(api.delete(f"/labels/{ids[1]}"), 403)
    with world.api(None) as api:
        assert_error(api.get("/labels", params={"scope": "g"}), 401)
        assert_error(api.get(f"/labels/{ids[1]}"), 401)
        assert_error(api.post("/labels", json={"name": "g-anon", "scope": "g"}), 401)
        assert_error(api.delete(f"/labels/{ids[1]}"), 401)
    with world.api("admin") as api:
        assert api.delete(f"/labels/{ids[1]}").status_code == 200
        assert_error(api.get(f"/labels/{ids[1]}"), 404)
        assert_error(api.delete(f"/labels/{ids[1]}"), 404)
    assert label_audit(world.stack.db, "g-page-1") == [("create", "admin", None), ("delete", "admin", None)]
    assert label_audit(world.stack.db, "g-renamed") == [("update", "admin", None)]


def test_project_labels_by_role(world: World) -> None:
    body = {"scope": "p", "project_id": world.la}
    for user in ("padmin", "maint", "admin"):
        with world.api(user) as api:
            create(api, name=f"p-by-{user}", **body)
    for user, status in (("dev", 403), ("guest", 403), ("limited", 403), ("outsider", 404), (None, 401)):
        with world.api(user) as api:
            assert_error(api.post("/labels", json={"name": f"p-by-{user}", **body}), status)
    with world.api("padmin") as api:
        assert_error(api.post("/labels", json={"name": "p-by-maint", **body}), 409)
        # The same name is free in another project and in the global scope.
        label_id = api.get("/labels", params={"scope": "p", "project_id": world.la, "name": "p-by-maint"}).json()[0][
            "id"
        ]
    with world.api("outsider") as api:
        create(api, name="p-by-maint", scope="p", project_id=world.lb)
    with world.api("admin") as api:
        create(api, name="p-by-maint", scope="g")
    listing = {"scope": "p", "project_id": world.la, "name": "p-by-"}
    for user in ("padmin", "maint", "dev", "guest"):
        with world.api(user) as api:
            r = api.get("/labels", params=listing)
            assert r.status_code == 200, (user, r.text)
            assert sorted(x["name"] for x in r.json()) == ["p-by-admin", "p-by-maint", "p-by-padmin"], user
            assert {x["scope"] for x in r.json()} == {"p"} and {x["project_id"] for x in r.json()} == {world.la}
            assert api.get(f"/labels/{label_id}").status_code == 200
    # A member of lb neither lists, sees, changes nor deletes la's labels: they do not exist for it.
    with world.api("outsider") as api:
        assert_error(api.get("/labels", params=listing), 404)
        assert_error(api.get(f"/labels/{label_id}"), 404)
        assert_error(api.put(f"/labels/{label_id}", json={"name": "stolen"}), 404)
        assert_error(api.delete(f"/labels/{label_id}"), 404)
    with world.api("limited") as api:  # a limited guest holds no label permission
        assert_error(api.get("/labels", params=listing), 403)
    with world.api(None) as api:
        assert_error(api.get("/labels", params=listing), 404)
    with world.api("dev") as api:
        assert_error(api.put(f"/labels/{label_id}", json={"name": "by-dev"}), 403)
        assert_error(api.delete(f"/labels/{label_id}"), 403)
    with world.api("maint") as api:
        assert api.put(f"/labels/{label_id}", json={"name": "p-maint-2", "scope": "p"}).status_code == 200
        assert api.get(f"/labels/{label_id}").json()["project_id"] == world.la
        assert api.delete(f"/labels/{label_id}").status_code == 200
    assert label_audit(world.stack.db, "p-maint-2") == [("update", "maint", world.la), ("delete", "maint", world.la)]
    assert ("create", "padmin", world.la) in label_audit(world.stack.db, "p-by-padmin")


def test_attach_detach_show_and_filter(world: World) -> None:
    with world.api("admin") as api:
        g = create(api, name="attach-g", scope="g", color="#00aa00")
        p = create(api, name="attach-p", scope="p", project_id=world.la)
        other = create(api, name="attach-other", scope="p", project_id=world.lb)
    one = f"{ARTIFACTS}/1.0/labels"
    with world.api("dev") as api:  # artifact-label create and delete: developer and up (Harbor's table)
        r = api.post(one, json={"id": g})
        assert r.status_code == 200, r.text
        assert_error(api.post(one, json={"id": g}), 409)
        assert api.post(one, json={"id": p}).status_code == 200
        assert api.post(f"{ARTIFACTS}/{world.two}/labels", json={"id": g}).status_code == 200
    with world.api("guest") as api:
        assert_error(api.post(f"{ARTIFACTS}/2.0/labels", json={"id": p}), 403)
        assert_error(api.delete(f"{one}/{g}"), 403)
        shown = api.get(f"{ARTIFACTS}/1.0", params={"with_label": "true"}).json()
        label = api.get(f"/labels/{g}").json()
        # The artifact's labels have the shape of GET /labels/{id}, by name.
        assert shown["labels"] == [label, api.get(f"/labels/{p}").json()]
        assert api.get(f"{ARTIFACTS}/1.0").json()["labels"] == []
        listed = api.get(ARTIFACTS, params={"with_label": "true"}).json()
        assert {a["digest"]: [x["name"] for x in a["labels"]] for a in listed} == {
            world.one: ["attach-g", "attach-p"],
            world.two: ["attach-g"],
        }
        assert all(a["labels"] == [] for a in api.get(ARTIFACTS).json())
        # Harbor's intersection list: artifacts carrying every one of the labels.
        for q, expected in (
            (f"labels=({g})", {world.one, world.two}),
            (f"labels=({g} {p})", {world.one}),
            (f"labels=({p})", {world.one}),
            (f"labels=({other})", set()),
            (f"labels=({g}),tags=2.0", {world.two}),
        ):
            r = api.get(ARTIFACTS, params={"q": q})
            assert r.status_code == 200, (q, r.text)
            assert {a["digest"] for a in r.json()} == expected, q
            assert r.headers["X-Total-Count"] == str(len(expected)), q
        for q in (
            f"labels={g}",
            f"labels={{{g} {p}}}",
            "labels=(x)",
            "labels=()",
            "labels=~1",
            "labels=(1 2 3 4 5 6 7 8 9 10 11)",
        ):
            assert_error(api.get(ARTIFACTS, params={"q": q}), 400)
    # A label of another project: 400 for who may read it (Harbor's), 404 for who may not.
    with world.api("admin") as api:
        assert_error(api.post(one, json={"id": other}), 400)
    with world.api("padmin") as api:
        assert_error(api.post(one, json={"id": other}), 404)
        assert_error(api.post(one, json={"id": 999_999}), 404)
        assert_error(api.post(f"{ARTIFACTS}/nosuch/labels", json={"id": g}), 404)
    with world.api("outsider") as api:
        assert_error(api.post(one, json={"id": g}), 404)
        assert_error(api.delete(f"{one}/{g}"), 404)
    with world.api(None) as api:
        assert_error(api.post(one, json={"id": g}), 401)
    with world.api("maint") as api:
        assert api.delete(f"{one}/{p}").status_code == 200
        assert_error(api.delete(f"{one}/{p}"), 404)
        names = [x["name"] for x in api.get(f"{ARTIFACTS}/1.0", params={"with_label": "true"}).json()["labels"]]
        assert names == ["attach-g"]
    # Attaching and detaching are not audited (Harbor records neither).
    assert label_audit(world.stack.db, "attach-g") == [("create", "admin", None)]


def test_deleting_a_label_detaches_it_everywhere(world: World) -> None:
    with world.api("admin") as api:
        gone = create(api, name="to-delete", scope="g")
        kept = create(api, name="kept", scope="g")
        for ref in ("1.0", "2.0"):
            for label_id in (gone, kept):
                assert api.post(f"{ARTIFACTS}/{ref}/labels", json={"id": label_id}).status_code == 200
        assert api.get(ARTIFACTS, params={"q": f"labels=({gone})"}).headers["X-Total-Count"] == "2"
        assert api.delete(f"/labels/{gone}").status_code == 200
        assert query(world.stack.db, "SELECT count(*) AS n FROM artifact_labels WHERE label_id = $1", gone)[0]["n"] == 0
        for ref in ("1.0", "2.0"):
            names = [x["name"] for x in api.get(f"{ARTIFACTS}/{ref}", params={"with_label": "true"}).json()["labels"]]
            assert "to-delete" not in names and "kept" in names
        assert api.get(ARTIFACTS, params={"q": f"labels=({gone})"}).json() == []
        assert_error(api.post(f"{ARTIFACTS}/1.0/labels", json={"id": gone}), 404)
    assert label_audit(world.stack.db, "to-delete") == [("create", "admin", None), ("delete", "admin", None)]


def test_a_projects_labels_go_with_it(world: World) -> None:
    add_project(world.stack.db, "lc")
    with world.api("admin") as api:
        lc = api.get("/projects/lc").json()["project_id"]
        label_id = create(api, name="lc-label", scope="p", project_id=lc)
        assert api.delete("/projects/lc").status_code == 200
        assert_error(api.get(f"/labels/{label_id}"), 404)


def test_bad_input_is_400_404_or_409_never_500(world: World) -> None:
    with world.api("admin") as api:
        for body in (
            {"name": "x", "scope": "g", "colour": "#fff"},  # unknown field
            {"name": "x" * 129, "scope": "g"},
            {"name": "", "scope": "g"},
            {"name": "   ", "scope": "g"},
            {"scope": "g"},
            {"name": 5, "scope": "g"},
            {"name": "x", "scope": "g", "color": "red"},
            {"name": "x", "scope": "g", "color": "#12345G"},
            {"name": "x", "scope": "g", "description": "d" * 1025},
            {"name": "x"},
            {"name": "x", "scope": "z"},
            {"name": "x", "scope": "p"},
            {"name": "x", "scope": "g", "project_id": world.la},
            {"name": "x", "scope": "p", "project_id": -1},
            {"name": "x", "scope": "p", "project_id": "1"},
            {"name": "x\x00", "scope": "g"},
            {"name": "x\n", "scope": "g"},
        ):
            assert_error(api.post("/labels", json=body), 400)
        assert_error(api.post("/labels", content=b"not json"), 400)
        assert_error(api.post("/labels", json=["x"]), 400)
        assert_error(api.post("/labels", json={"name": "x", "scope": "p", "project_id": 999_999}), 404)
        create(api, name="n" * 128, scope="g")
        for params in (
            {},
            {"scope": "x"},
            {"scope": "p"},
            {"scope": "p", "project_id": "abc"},
            {"scope": "g", "q": "color=1"},
            {"scope": "g", "sort": "color"},
            {"scope": "g", "page_size": "1000"},
        ):
            assert_error(api.get("/labels", params=params), 400)
        assert_error(api.get("/labels", params={"scope": "p", "project_id": 999_999}), 404)
        for path in ("abc", "0", "-1", "9" * 30):
            assert_error(api.get(f"/labels/{path}"), 400)
        assert_error(api.get("/labels/999999"), 404)
        assert_error(api.put("/labels/999999", json={"name": "x"}), 404)
        label_id = create(api, name="bad-input", scope="g")
        assert_error(api.put(f"/labels/{label_id}", json={"name": "x", "bogus": 1}), 400)
        assert_error(api.put(f"/labels/{label_id}", json={"description": "no name"}), 400)
        assert_error(api.put(f"/labels/{label_id}", json={"name": "x", "color": "blue"}), 400)
        for body in ({}, {"id": "1"}, {"id": -1}, {"id": label_id, "bogus": True}, {"name": "bad-input"}):
            assert_error(api.post(f"{ARTIFACTS}/1.0/labels", json=body), 400)
        assert_error(api.post(f"{ARTIFACTS}/-bad/labels", json={"id": label_id}), 400)
        assert_error(api.delete(f"{ARTIFACTS}/1.0/labels/abc"), 400)
        assert_error(api.delete(f"{ARTIFACTS}/1.0/labels/{label_id}"), 404)
        assert_error(api.get(ARTIFACTS, params={"with_label": "maybe"}), 400)


async def test_artifact_list_statement_count_with_labels(pg_database: TestDatabase) -> None:
    """Labels ride in the page query: still two statements per list page, with or without the filter."""
    conn = await asyncpg.connect(pg_database.dsn())
    try:
        await apply_migrations(conn)
        owner = await conn.fetchval("INSERT INTO users (username) VALUES ('o') RETURNING id")
        project = await conn.fetchval("INSERT INTO projects (name, owner_id) VALUES ('p', $1) RETURNING id", owner)
        repo = await conn.fetchval("INSERT INTO repositories (name) VALUES ('p/r') RETURNING id")
        g = await conn.fetchval("INSERT INTO labels (name, scope) VALUES ('g', 'g') RETURNING id")
        p = await conn.fetchval(
            "INSERT INTO labels (name, scope, project_id) VALUES ('p', 'p', $1) RETURNING id", project
        )
        for i in range(30):
            artifact = await conn.fetchval(
                "INSERT INTO artifacts (repository_id, digest, media_type, size, content)"
                " VALUES ($1, $2, $3, 2, '{}') RETURNING id",
                repo,
                f"sha256:x{i}",
                mt.OCI_MANIFEST,
            )
            labels = (g, p) if i % 2 == 0 else (g,)
            for label_id in labels:
                await conn.execute(
                    "INSERT INTO artifact_labels (artifact_id, label_id) VALUES ($1, $2)", artifact, label_id
                )
        for size in (1, 10, 100):
            page = Page(1, size)
            ex = Counting(conn)
            arts, total = await artifact_store.list_artifacts(
                ex, project, repo, [], [SortKey("push_time", False)], page
            )
            assert ex.count == 2 and total == 30 and len(arts) == min(size, 30)
            assert all(len(a.labels) in (1, 2) for a in arts) and arts[0].labels[0].name == "g"
            ex = Counting(conn)
            arts, total = await artifact_store.list_artifacts(
                ex, project, repo, [Term("labels", "all", (g, p))], [], page
            )
            assert ex.count == 2 and total == 15 and len(arts) == min(size, 15)
            assert all([x.name for x in a.labels] == ["g", "p"] for a in arts)
            ex = Counting(conn)
            arts, _ = await artifact_store.list_artifacts(ex, project, repo, [], [], page, with_label=False)
            assert ex.count == 2 and all(a.labels == () for a in arts)
    finally:
        await conn.close()
