"""Tag immutability against real token, registry and core processes: the rules API (Harbor's ImmutableRule
shapes, 400s naming the field, the 16th rule, roles, audit), and the rules at work: a push moving an
immutable tag is refused by the registry with Harbor's 412 PRECONDITION (same digest and a new tag are
fine), deletes of such a tag or its artifact are refused by the registry and by core, a copy onto one is
refused, disabled rules and excludes, `**` patterns, and `immutable: true` on the tags."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from services.common.oci import mediatypes as mt
from tests.harness.oci import image_manifest, push_blob, push_image, push_manifest
from tests.harness.plugin import TestDatabase
from tests.harness.token import add_member, add_project, add_user, query
from tests.integration.core.registry_stack import ADMIN, Stack, assert_error, running_stack, wait_for

pytestmark = pytest.mark.integration

PW = "Immutable-pw1"
RULES = "/projects/im/immutabletagrules"
TAG = {"kind": "doublestar", "decoration": "matches", "pattern": "x"}


@dataclass
class World:
    stack: Stack

    def api(self, user: str | None = "admin") -> httpx.Client:
        if user is None:
            return self.stack.api(None)
        return self.stack.api(ADMIN if user == "admin" else (user, PW))

    def registry(self) -> httpx.Client:
        return self.stack.registry_client(*ADMIN)


@pytest.fixture(scope="module")
def world(module_database: TestDatabase, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with running_stack(module_database, tmp_path_factory) as s:
        for project in ("im", "full", "other"):
            add_project(module_database, project)
        roles = {"padmin": 1, "dev": 2, "guest": 3, "maint": 4}
        for user in (*roles, "outsider"):
            add_user(module_database, user, PW)
        for user, role in roles.items():
            add_member(module_database, "im", user, role)
        add_member(module_database, "other", "outsider", 1)
        yield World(s)


def body(repo: str, tag: str, *, repo_deco: str = "repoMatches", tag_deco: str = "matches", **more: Any) -> dict:
    return {
        "disabled": False,
        "action": "immutable",
        "template": "immutable_template",
        "params": {},
        "priority": 0,
        "tag_selectors": [{"kind": "doublestar", "decoration": tag_deco, "pattern": tag}],
        "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": repo_deco, "pattern": repo}]},
        **more,
    }


def create(api: httpx.Client, path: str, rule: dict) -> int:
    r = api.post(path, json=rule)
    assert r.status_code == 201, r.text
    return int(r.headers["Location"].rsplit("/", 1)[1])


def rules(api: httpx.Client, path: str = RULES) -> list[dict]:
    r = api.get(path)
    assert r.status_code == 200, r.text
    return list(r.json())


def image(reg: httpx.Client, repo: str, seed: str) -> bytes:
    """A pushed config and layer for `repo`, and the manifest naming them (not pushed)."""
    config, layer = f'{{"os":"linux","seed":"{seed}"}}'.encode(), f"layer {seed}".encode()
    push_blob(reg, repo, config)
    push_blob(reg, repo, layer)
    return image_manifest(config, [layer])


def tags_of(api: httpx.Client, repo: str) -> dict[str, bool]:
    r = api.get(f"/projects/im/repositories/{repo}/artifacts")
    assert r.status_code == 200, r.text
    return {t["name"]: t["immutable"] for a in r.json() for t in a["tags"] or []}


def refused_push(r: httpx.Response, repo: str, tag: str, rule_id: int) -> None:
    assert r.status_code == 412, r.text
    [error] = r.json()["errors"]
    assert error["code"] == "PRECONDITION"
    assert error["message"] == (
        f"Failed to process request due to '{repo}:{tag}' configured as immutable. (immutable tag rule {rule_id})"
    )


def test_crud_in_harbors_shapes_with_audit(world: World) -> None:
    with world.api() as api:
        rule_id = create(api, RULES, body("crud/**", "v*"))
        [shown] = [r for r in rules(api) if r["id"] == rule_id]
        assert shown == {"id": rule_id, **body("crud/**", "v*")}
        r = api.put(f"{RULES}/{rule_id}", json={"id": rule_id, **body("crud/**", "v*", disabled=True, priority=3)})
        assert r.status_code == 200, r.text
        [shown] = [r for r in rules(api) if r["id"] == rule_id]
        assert shown["disabled"] is True and shown["priority"] == 3
        # The project by id, and paging headers.
        project_id = query(world.stack.db, "SELECT id FROM projects WHERE name = 'im'")[0]["id"]
        r = api.get(f"/projects/{project_id}/immutabletagrules", params={"page_size": 1})
        assert r.status_code == 200 and len(r.json()) == 1 and int(r.headers["X-Total-Count"]) >= 1
        assert api.delete(f"{RULES}/{rule_id}").status_code == 200
        assert rule_id not in [r["id"] for r in rules(api)]
        assert_error(api.delete(f"{RULES}/{rule_id}"), 404)
        assert_error(api.put(f"{RULES}/{rule_id}", json=body("a", "b")), 404)
        # Another project's rule is not this project's.
        other = create(api, "/projects/other/immutabletagrules", body("x", "y"))
        assert_error(api.delete(f"{RULES}/{other}"), 404)
        assert api.delete(f"/projects/other/immutabletagrules/{other}").status_code == 200
    rows = query(
        world.stack.db,
        "SELECT operation, username FROM audit_log WHERE resource_type = 'immutable_rule' AND resource = $1"
        " ORDER BY id",
        f"im/{rule_id}",
    )
    assert [(r["operation"], r["username"]) for r in rows] == [
        ("create", "admin"),
        ("update", "admin"),
        ("delete", "admin"),
    ]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"template": "latestPushedK"}, "template"),
        ({"action": "retain"}, "action"),
        ({"params": {"latestPushedK": 1}}, "params.latestPushedK"),
        ({"tag_selectors": [TAG | {"pattern": "[v1"}]}, "tag_selectors[0].pattern"),
        ({"tag_selectors": [TAG | {"pattern": 7}]}, "tag_selectors[0].pattern"),
        ({"tag_selectors": [TAG | {"kind": "regex"}]}, "tag_selectors[0].kind"),
        ({"tag_selectors": [TAG | {"decoration": "with"}]}, "tag_selectors[0].decoration"),
        ({"tag_selectors": []}, "tag_selectors"),
        ({"scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "{a"}]}},
         "scope_selectors.repository[0].pattern"),
        ({"scope_selectors": {"namespace": []}}, "scope_selectors.namespace"),
        ({"colour": "red"}, "colour"),
        ({"disabled": "no"}, "disabled"),
    ],
)  # fmt: skip
def test_bad_input_is_a_400_naming_the_field(world: World, change: dict, field: str) -> None:
    with world.api() as api:
        r = api.post(RULES, json={**body("bad", "bad"), **change})
        assert_error(r, 400)
        assert field in r.json()["errors"][0]["message"], r.text


def test_put_with_another_id_is_a_400(world: World) -> None:
    with world.api() as api:
        rule_id = create(api, RULES, body("put-id", "x"))
        r = api.put(f"{RULES}/{rule_id}", json={**body("put-id", "x"), "id": rule_id + 1000})
        assert_error(r, 400)
        assert "id" in r.json()["errors"][0]["message"]
        assert api.delete(f"{RULES}/{rule_id}").status_code == 200


def test_the_sixteenth_rule_is_refused(world: World) -> None:
    with world.api() as api:
        for i in range(15):
            create(api, "/projects/full/immutabletagrules", body(f"r{i}", "**"))
        r = api.post("/projects/full/immutabletagrules", json=body("r15", "**"))
        assert_error(r, 400)
        assert "15" in r.json()["errors"][0]["message"]
        assert len(rules(api, "/projects/full/immutabletagrules?page_size=100")) == 15
        # The same selectors twice: Harbor's 409.
        create(api, "/projects/other/immutabletagrules", body("dup", "x"))
        assert_error(api.post("/projects/other/immutabletagrules", json=body("dup", "x")), 409)


def test_roles(world: World) -> None:
    with world.api(None) as anonymous:
        assert_error(anonymous.post(RULES, json=body("role", "x")), 401)
    for user in ("dev", "guest"):
        with world.api(user) as api:
            assert_error(api.post(RULES, json=body("role", "x")), 403)
            assert_error(api.get(RULES), 403)
    with world.api("outsider") as api:
        assert_error(api.get(RULES), 404)  # a private project it cannot see
    for user in ("maint", "padmin"):
        with world.api(user) as api:
            rule_id = create(api, RULES, body(f"role-{user}", "x"))
            assert rule_id in [r["id"] for r in rules(api)]
            assert api.put(f"{RULES}/{rule_id}", json=body(f"role-{user}", "y")).status_code == 200
            assert api.delete(f"{RULES}/{rule_id}").status_code == 200


def test_immutable_tags_at_work(world: World) -> None:
    with world.api() as api, world.registry() as reg:
        app = create(api, RULES, body("app", "1.*"))
        team = create(api, RULES, body("team/**", "dev-*", tag_deco="excludes"))
        create(api, RULES, body("**", "**", disabled=True))

        # A new tag matching a rule may be created once, and pushed again with the same digest.
        first = image(reg, "im/app", "one")
        assert push_manifest(reg, "im/app", "1.0", first, mt.OCI_MANIFEST).status_code == 201
        assert push_manifest(reg, "im/app", "1.0", first, mt.OCI_MANIFEST).status_code == 201
        # Moving it is refused, with Harbor's error.
        second = image(reg, "im/app", "two")
        refused_push(push_manifest(reg, "im/app", "1.0", second, mt.OCI_MANIFEST), "app", "1.0", app)
        # Tags no enabled rule protects move freely (the disabled `**` rule does not apply).
        assert push_manifest(reg, "im/app", "latest", first, mt.OCI_MANIFEST).status_code == 201
        assert push_manifest(reg, "im/app", "latest", second, mt.OCI_MANIFEST).status_code == 201
        assert push_manifest(reg, "im/other", "1.0", image(reg, "im/other", "a"), mt.OCI_MANIFEST).status_code == 201
        assert push_manifest(reg, "im/other", "1.0", image(reg, "im/other", "b"), mt.OCI_MANIFEST).status_code == 201

        # `**` crosses segments; excludes protects every tag but dev-*.
        push_image(reg, "im/team/x/web", "stable", layers=[b"web stable"])
        push_image(reg, "im/team/x/web", "dev-1", layers=[b"web dev"])
        refused_push(
            push_manifest(reg, "im/team/x/web", "stable", image(reg, "im/team/x/web", "s2"), mt.OCI_MANIFEST),
            "team/x/web",
            "stable",
            team,
        )
        assert (
            push_manifest(reg, "im/team/x/web", "dev-1", image(reg, "im/team/x/web", "d2"), mt.OCI_MANIFEST).status_code
            == 201
        )

        # The tags show it.
        assert tags_of(api, "app") == {"1.0": True, "latest": False}
        r = api.get("/projects/im/repositories/app/artifacts/1.0/tags")
        assert [(t["name"], t["immutable"]) for t in r.json()] == [("1.0", True)]
        assert api.get("/projects/im/repositories/app/artifacts/1.0").json()["tags"][0]["immutable"] is True

        # Deletes through the registry: the tag, and the manifest by digest.
        digest = push_manifest(reg, "im/app", "1.0", first, mt.OCI_MANIFEST).headers["Docker-Content-Digest"]
        for reference in ("1.0", digest):
            r = reg.delete(f"/v2/im/app/manifests/{reference}")
            assert r.status_code == 412 and r.json()["errors"][0]["code"] == "PRECONDITION", r.text
            assert "'app:1.0' configured as immutable" in r.json()["errors"][0]["message"]
        # ... and through core: the tag, the artifact, the repository.
        message = "the tag 1.0 configured as immutable, cannot be deleted"
        for path in (
            "/projects/im/repositories/app/artifacts/1.0/tags/1.0",
            f"/projects/im/repositories/app/artifacts/{digest}",
            "/projects/im/repositories/app",
        ):
            r = api.delete(path)
            assert_error(r, 412)
            assert r.json()["errors"][0] == {"code": "PRECONDITION", "message": message}
        assert reg.get("/v2/im/app/manifests/1.0", headers={"Accept": mt.OCI_MANIFEST}).status_code == 200

        # A copy onto the immutable tag is refused; onto a free name it creates the tag (once).
        push_manifest(reg, "im/src", "1.0", image(reg, "im/src", "src"), mt.OCI_MANIFEST)
        r = api.post("/projects/im/repositories/app/artifacts", params={"from": "im/src:1.0"})
        assert_error(r, 412)
        assert r.json()["errors"][0]["message"] == "the tag 1.0 configured as immutable, cannot be updated"
        assert tags_of(api, "app")["1.0"] is True
        r = api.post("/projects/im/repositories/fresh/artifacts", params={"from": "im/src:1.0"})
        assert r.status_code == 201, r.text
        assert tags_of(api, "fresh") == {"1.0": False}  # no rule on "fresh"
        # The same digest again is fine.
        r = api.post("/projects/im/repositories/app/artifacts", params={"from": f"im/app@{digest}"})
        assert r.status_code == 201, r.text

        # Disabling the rule lifts it: the tag moves, then is deleted.
        assert api.put(f"{RULES}/{app}", json=body("app", "1.*", disabled=True)).status_code == 200
        assert tags_of(api, "app")["1.0"] is False
        assert push_manifest(reg, "im/app", "1.0", second, mt.OCI_MANIFEST).status_code == 201
        # A rule changed by another process (here: SQL) reaches core's cached list through the notification.
        assert tags_of(api, "app")["1.0"] is False
        query(world.stack.db, "UPDATE immutable_tag_rules SET disabled = false WHERE id = $1", app)
        wait_for(lambda: tags_of(api, "app")["1.0"] is True, "the rule's change reaches the cached list")
        query(world.stack.db, "UPDATE immutable_tag_rules SET disabled = true WHERE id = $1", app)
        assert reg.delete("/v2/im/app/manifests/1.0").status_code == 202


def test_racing_first_pushes_of_an_immutable_tag_one_wins(world: World) -> None:
    """The rule and the tag's digest are read in the push's transaction under the tag's lock: of several
    different manifests pushed at once to a new immutable tag, exactly one lands, the others get the 412."""
    with world.api() as api, world.registry() as reg:
        rule_id = create(api, RULES, body("race", "r*"))
        manifests = [image(reg, "im/race", f"race-{i}") for i in range(6)]
        with ThreadPoolExecutor(len(manifests)) as pool:
            statuses = list(
                pool.map(lambda m: push_manifest(reg, "im/race", "r1", m, mt.OCI_MANIFEST).status_code, manifests)
            )
        assert sorted(statuses) == [201] + [412] * (len(manifests) - 1), statuses
        assert api.delete(f"{RULES}/{rule_id}").status_code == 200
