"""The repository API (/repositories, /projects/{p}/repositories[/{r}]) against real token, registry and
core processes: Harbor's shapes, paging, filters, the double-encoded `/`, permissions, and deletes the
registry sees at once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from services.common.oci import mediatypes as mt
from tests.harness.oci import push_image
from tests.harness.plugin import TestDatabase
from tests.harness.token import add_member, add_project, add_user, query
from tests.integration.core.registry_stack import ADMIN, Stack, assert_error, audit, running_stack, wait_for

pytestmark = pytest.mark.integration

PW = "Repos-pw1"


@pytest.fixture(scope="module")
def stack(module_database: TestDatabase, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(module_database, tmp_path_factory) as s:
        add_project(module_database, "ra")
        add_project(module_database, "rb")
        add_project(module_database, "rpub", public=True)
        for user in ("dev", "guest", "maint", "outsider"):
            add_user(module_database, user, PW)
        add_member(module_database, "ra", "dev", 2)
        add_member(module_database, "ra", "guest", 3)
        add_member(module_database, "ra", "maint", 4)
        add_member(module_database, "rb", "outsider", 2)
        with s.registry_client(*ADMIN) as admin:
            for name in ("ra/app", "ra/team/app", "ra/web", "ra/z-last", "rb/secret", "rpub/open"):
                push_image(admin, name, "1.0")
        yield s


def test_project_repositories_are_listed_with_harbors_fields_and_paging(stack: Stack) -> None:
    with stack.api(("guest", PW)) as api:
        r = api.get("/projects/ra/repositories", params={"page_size": 2})
        assert r.status_code == 200, r.text
        assert r.headers["X-Total-Count"] == "4"
        assert 'rel="next"' in r.headers["Link"]
        first = r.json()
        assert [x["name"] for x in first] == ["ra/app", "ra/team/app"]
        repo = first[0]
        assert set(repo) == {
            "id",
            "project_id",
            "name",
            "description",
            "artifact_count",
            "pull_count",
            "creation_time",
            "update_time",
        }
        assert repo["artifact_count"] == 1 and repo["description"] == "" and repo["creation_time"].endswith("Z")
        r = api.get("/projects/ra/repositories", params={"page_size": 2, "page": 2})
        assert [x["name"] for x in r.json()] == ["ra/web", "ra/z-last"]
        r = api.get("/projects/ra/repositories", params={"q": "name=~app", "sort": "-name"})
        assert [x["name"] for x in r.json()] == ["ra/team/app", "ra/app"]
        # By project id too.
        (project,) = query(stack.db, "SELECT id FROM projects WHERE name = 'ra'")
        r = api.get(f"/projects/{project['id']}/repositories", params={"q": "name=ra/web"})
        assert [x["name"] for x in r.json()] == ["ra/web"] and r.json()[0]["project_id"] == project["id"]


def test_the_repository_list_shows_only_visible_projects(stack: Stack) -> None:
    with stack.api(("outsider", PW)) as api:
        names = {x["name"] for x in api.get("/repositories", params={"page_size": 100}).json()}
        assert names == {"rb/secret", "rpub/open"}
    with stack.api(None) as anonymous:
        names = {x["name"] for x in anonymous.get("/repositories", params={"page_size": 100}).json()}
        assert names == {"rpub/open"}
    with stack.api() as admin:
        r = admin.get("/repositories", params={"q": "name=~secret"})
        assert [x["name"] for x in r.json()] == ["rb/secret"] and r.headers["X-Total-Count"] == "1"


def test_bad_list_parameters_are_400_in_harbors_envelope(stack: Stack) -> None:
    with stack.api() as api:
        for params in (
            {"q": "owner=admin"},
            {"q": "name"},
            {"q": "name={a b}"},
            {"sort": "size"},
            {"page_size": "1000"},
            {"page": "0"},
        ):
            assert_error(api.get("/projects/ra/repositories", params=params), 400)
            assert_error(api.get("/repositories", params=params), 400)


def test_a_slash_in_the_name_arrives_encoded_twice(stack: Stack) -> None:
    with stack.api(("dev", PW)) as api:
        r = api.get("/projects/ra/repositories/team%252Fapp")
        assert r.status_code == 200, r.text
        assert r.json()["name"] == "ra/team/app"
        assert api.get("/projects/ra/repositories/app").json()["name"] == "ra/app"
        assert_error(api.get("/projects/ra/repositories/nothere"), 404)


@pytest.mark.parametrize(
    "path",
    [
        "..%252Frb%252Fsecret",
        "%252E%252E%252Frb%252Fsecret",
        "team%252F%252Fapp",
        "team%252F",
        "%252Fteam",
        "a%25252Fb",
        "UPPER",
        "team%252F.%252Fapp",
    ],
)
def test_names_that_could_escape_the_project_are_refused(stack: Stack, path: str) -> None:
    with stack.api() as api:
        r = api.get(f"/projects/ra/repositories/{path}")
        assert r.status_code in (400, 404), r.text
        assert_error(r, r.status_code)
        assert_error(api.get(f"/projects/ra/repositories/{path}/artifacts"), r.status_code)


def test_description_is_set_by_developers_and_kept(stack: Stack) -> None:
    with stack.api(("dev", PW)) as api:
        r = api.put("/projects/ra/repositories/web", json={"description": "the web front"})
        assert r.status_code == 200, r.text
        assert api.get("/projects/ra/repositories/web").json()["description"] == "the web front"
        assert_error(api.put("/projects/ra/repositories/web", json={"description": 3}), 400)
        assert_error(api.put("/projects/ra/repositories/web", json={"bogus": "x"}), 400)
    with stack.api(("guest", PW)) as api:
        assert_error(api.put("/projects/ra/repositories/web", json={"description": "x"}), 403)
    with stack.api(("outsider", PW)) as api:
        assert_error(api.put("/projects/ra/repositories/web", json={"description": "x"}), 404)
        assert_error(api.get("/projects/ra/repositories/web"), 404)
    with stack.api(None) as api:
        assert_error(api.put("/projects/ra/repositories/web", json={"description": "x"}), 401)


def test_members_of_one_project_see_nothing_of_another(stack: Stack) -> None:
    with stack.api(("outsider", PW)) as api:
        assert_error(api.get("/projects/ra/repositories"), 404)
        assert_error(api.get("/projects/ra/repositories/app"), 404)
        assert_error(api.delete("/projects/ra/repositories/app"), 404)
        assert api.get("/projects/rpub/repositories").status_code == 200


def test_deleting_a_repository_removes_it_for_the_registry_at_once(stack: Stack) -> None:
    with stack.registry_client(*ADMIN) as reg:
        _, digest = push_image(reg, "ra/doomed", "1.0")
        push_image(reg, "ra/doomed", "2.0", layers=[b"second layer"])
        # Read once, so the registry's cache holds it.
        assert reg.get("/v2/ra/doomed/manifests/1.0", headers={"Accept": mt.OCI_MANIFEST}).status_code == 200
    blobs_before = query(stack.db, "SELECT count(*) AS n FROM blobs")[0]["n"]
    with stack.api(("dev", PW)) as api:
        assert_error(api.delete("/projects/ra/repositories/doomed"), 403)
    with stack.api(("maint", PW)) as api:
        assert api.delete("/projects/ra/repositories/doomed").status_code == 200
        assert_error(api.get("/projects/ra/repositories/doomed"), 404)
        assert_error(api.delete("/projects/ra/repositories/doomed"), 404)
    with stack.registry_client(*ADMIN) as reg:
        for ref in ("1.0", digest):
            r = reg.get(f"/v2/ra/doomed/manifests/{ref}", headers={"Accept": mt.OCI_MANIFEST})
            assert r.status_code == 404 and r.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"
    # Blobs stay for garbage collection.
    assert query(stack.db, "SELECT count(*) AS n FROM blobs")[0]["n"] == blobs_before
    assert wait_for(lambda: audit(stack.db, "ra/doomed"), "the delete in the audit log") == {
        ("delete", "repository", "ra/doomed", "maint")
    }


def test_a_registry_delete_is_a_404_in_the_api(stack: Stack) -> None:
    with stack.registry_client(*ADMIN) as reg:
        _, digest = push_image(reg, "ra/brief", "1.0")
        with stack.api() as api:
            assert api.get("/projects/ra/repositories/brief/artifacts/1.0").status_code == 200
            assert reg.delete(f"/v2/ra/brief/manifests/{digest}").status_code == 202
            assert_error(api.get("/projects/ra/repositories/brief/artifacts/1.0"), 404)
            assert_error(api.get(f"/projects/ra/repositories/brief/artifacts/{digest}"), 404)
            assert api.get("/projects/ra/repositories/brief").json()["artifact_count"] == 0
