"""The artifact and tag API (/projects/{p}/repositories/{r}/artifacts...) against real token, registry and
core processes: Harbor's Artifact shape for images, indexes, accessories and charts; filters, sorting and
paging; copies that mount blobs; tags; deletes the registry sees at once; refusals; the audit log."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest

from services.common.migrations import apply_migrations
from services.common.oci import mediatypes as mt
from services.core.api.artifacts import ZERO_TIME
from services.core.artifacts import artifact_store, repository_store, tag_store
from services.core.listing import Page, SortKey, Term
from services.core.security.access import Viewer
from tests.harness.oci import (
    descriptor,
    digest_of,
    image_manifest,
    index_manifest,
    push_blob,
    push_image,
    push_manifest,
)
from tests.harness.plugin import TestDatabase
from tests.harness.token import add_member, add_project, add_user, query
from tests.integration.core.registry_stack import ADMIN, Stack, assert_error, audit, running_stack, wait_for
from tests.integration.core.test_query_counts import Counting

pytestmark = pytest.mark.integration

PW = "Artifacts-pw1"
HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
SBOM_TYPE = "application/vnd.example.sbom.v1+json"
HISTORY = [
    {"created": "2024-01-02T03:04:05Z", "created_by": "/bin/sh -c #(nop) ADD file:app in /"},
    {"created": "2024-01-02T03:04:06Z", "created_by": '/bin/sh -c #(nop) CMD ["/app"]', "empty_layer": True},
]
CONFIG = {
    "architecture": "arm64",
    "os": "linux",
    "author": "berth",
    "created": "2024-01-02T03:04:05Z",
    "history": HISTORY,
}


@dataclass
class Pushed:
    image: str  # digest of aa/app:1.0
    image_size: int  # manifest + config + layer
    index: str
    children: tuple[str, str]
    accessory: str
    chart: str


def push_index(client: object, repo: str, tag: str) -> tuple[str, tuple[str, str]]:
    children = []
    for arch in ("amd64", "arm64"):
        config = json.dumps({"architecture": arch, "os": "linux"}).encode()
        layer = f"{arch} layer".encode()
        push_blob(client, repo, config)  # type: ignore[arg-type]
        push_blob(client, repo, layer)  # type: ignore[arg-type]
        manifest = image_manifest(config, [layer])
        r = push_manifest(client, repo, digest_of(manifest), manifest, mt.OCI_MANIFEST)  # type: ignore[arg-type]
        assert r.status_code == 201, r.text
        children.append((manifest, mt.OCI_MANIFEST, {"architecture": arch, "os": "linux"}))
    index = index_manifest(children)
    r = push_manifest(client, repo, tag, index, mt.OCI_INDEX)  # type: ignore[arg-type]
    assert r.status_code == 201, r.text
    return digest_of(index), (digest_of(children[0][0]), digest_of(children[1][0]))


@pytest.fixture(scope="module")
def stack(module_database: TestDatabase, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(module_database, tmp_path_factory) as s:
        add_project(module_database, "aa")
        add_project(module_database, "ab")
        for user in ("dev", "guest", "maint", "outsider", "both"):
            add_user(module_database, user, PW)
        add_member(module_database, "aa", "dev", 2)
        add_member(module_database, "aa", "guest", 3)
        add_member(module_database, "aa", "maint", 4)
        add_member(module_database, "ab", "outsider", 2)
        add_member(module_database, "aa", "both", 3)
        add_member(module_database, "ab", "both", 2)
        yield s


@pytest.fixture(scope="module")
def pushed(stack: Stack) -> Pushed:
    with stack.registry_client(*ADMIN) as reg:
        config = json.dumps(CONFIG).encode()
        layer = b"the app layer"
        manifest, image = push_image(reg, "aa/app", "1.0", config=config, layers=[layer])
        r = push_manifest(reg, "aa/app", "latest", manifest, mt.OCI_MANIFEST)
        assert r.status_code == 201
        index, children = push_index(reg, "aa/app", "multi")
        push_blob(reg, "aa/app", mt.EMPTY_JSON)
        sbom = b'{"sbom": true}'
        push_blob(reg, "aa/app", sbom)
        accessory_manifest = image_manifest(
            mt.EMPTY_JSON,
            [sbom],
            config_media_type=mt.OCI_EMPTY,
            artifact_type=SBOM_TYPE,
            subject=descriptor(mt.OCI_MANIFEST, manifest),
        )
        r = push_manifest(reg, "aa/app", digest_of(accessory_manifest), accessory_manifest, mt.OCI_MANIFEST)
        assert r.status_code == 201, r.text
        chart_config = json.dumps({"name": "mychart", "version": "0.1.0", "apiVersion": "v2"}).encode()
        _, chart = push_image(reg, "aa/chart", "0.1.0", config=chart_config, config_media_type=HELM_CONFIG)
    return Pushed(
        image=image,
        image_size=len(manifest) + len(config) + len(layer),
        index=index,
        children=children,
        accessory=digest_of(accessory_manifest),
        chart=chart,
    )


def test_an_image_has_harbors_artifact_shape(stack: Stack, pushed: Pushed) -> None:
    with stack.api(("guest", PW)) as api:
        r = api.get("/projects/aa/repositories/app/artifacts/1.0", params={"with_accessory": "true"})
        assert r.status_code == 200, r.text
        a = r.json()
        assert a["digest"] == pushed.image and a["type"] == "IMAGE"
        assert a["media_type"] == mt.OCI_CONFIG and a["manifest_media_type"] == mt.OCI_MANIFEST
        assert a["artifact_type"] == mt.OCI_CONFIG
        assert a["size"] == pushed.image_size
        assert a["repository_name"] == "aa/app" and a["labels"] == []  # with_label=false
        assert a["extra_attrs"] == {k: CONFIG[k] for k in ("architecture", "os", "author", "created")}
        assert a["push_time"].endswith("Z") and a["pull_time"] == ZERO_TIME
        assert [t["name"] for t in a["tags"]] == ["1.0", "latest"]
        tag = a["tags"][0]
        assert set(tag) == {"id", "name", "push_time", "pull_time", "immutable", "repository_id", "artifact_id"}
        assert tag["artifact_id"] == a["id"] and tag["repository_id"] == a["repository_id"] and not tag["immutable"]
        (accessory,) = a["accessories"]
        assert accessory["digest"] == pushed.accessory and accessory["type"] == "subject.accessory"
        assert accessory["subject_artifact_digest"] == pushed.image
        assert api.get(f"/projects/aa/repositories/app/artifacts/{pushed.image}").json()["id"] == a["id"]
        # Without with_accessory there are none; the accessory itself is an artifact too.
        assert api.get("/projects/aa/repositories/app/artifacts/1.0").json()["accessories"] == []
        # Without with_tag, no tags: an empty array, never null (Harbor's schema says array).
        assert api.get("/projects/aa/repositories/app/artifacts/1.0", params={"with_tag": "false"}).json()["tags"] == []
        acc = api.get(f"/projects/aa/repositories/app/artifacts/{pushed.accessory}").json()
        assert acc["type"] == SBOM_TYPE and acc["artifact_type"] == SBOM_TYPE


def test_additions_an_images_build_history_and_what_others_offer(stack: Stack, pushed: Pushed) -> None:
    with stack.api(("guest", PW)) as api:
        image = api.get("/projects/aa/repositories/app/artifacts/1.0").json()
        link = image["addition_links"]["build_history"]
        assert link == {
            "absolute": False,
            "href": f"/api/v2.0/projects/aa/repositories/app/artifacts/{pushed.image}/additions/build_history",
        }
        r = api.get(link["href"].removeprefix("/api/v2.0"))
        assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
        assert r.json() == HISTORY
        # An index has no build history of its own; a chart offers its README, values and dependencies.
        assert api.get("/projects/aa/repositories/app/artifacts/multi").json()["addition_links"] == {}
        r = api.get("/projects/aa/repositories/app/artifacts/multi/additions/build_history")
        assert r.status_code == 400 and "IMAGE" in r.json()["errors"][0]["message"]
        chart = api.get("/projects/aa/repositories/chart/artifacts/0.1.0").json()
        assert set(chart["addition_links"]) == {"readme.md", "values.yaml", "dependencies"}
        # This chart's layer is no chart archive: nothing was kept, and saying so is a 404.
        assert api.get("/projects/aa/repositories/chart/artifacts/0.1.0/additions/values.yaml").status_code == 404
        assert api.get("/projects/aa/repositories/app/artifacts/1.0/additions/nonsense").status_code == 400
    with stack.api(None) as anonymous:
        assert anonymous.get(link["href"].removeprefix("/api/v2.0")).status_code in (401, 404)


def test_an_index_lists_its_children_with_platforms(stack: Stack, pushed: Pushed) -> None:
    with stack.api(("guest", PW)) as api:
        a = api.get("/projects/aa/repositories/app/artifacts/multi").json()
        assert a["type"] == "IMAGE" and a["manifest_media_type"] == mt.OCI_INDEX
        refs = {r["child_digest"]: r for r in a["references"]}
        assert set(refs) == set(pushed.children)
        assert {r["platform"]["architecture"] for r in refs.values()} == {"amd64", "arm64"}
        assert all(r["parent_id"] == a["id"] for r in refs.values())
        child = api.get(f"/projects/aa/repositories/app/artifacts/{pushed.children[0]}").json()
        assert a["size"] > child["size"] > 0


def test_a_helm_chart_is_a_chart(stack: Stack, pushed: Pushed) -> None:
    with stack.api(("guest", PW)) as api:
        a = api.get("/projects/aa/repositories/chart/artifacts/0.1.0").json()
        assert a["type"] == "CHART" and a["media_type"] == HELM_CONFIG and a["digest"] == pushed.chart
        assert a["extra_attrs"]["name"] == "mychart"


def test_the_list_shows_top_level_artifacts_with_filters_sorting_and_paging(stack: Stack, pushed: Pushed) -> None:
    with stack.api(("guest", PW)) as api:
        r = api.get("/projects/aa/repositories/app/artifacts")
        assert r.status_code == 200, r.text
        # Children of the index and the accessory are shown under their parents, not listed.
        assert [a["digest"] for a in r.json()] == [pushed.index, pushed.image]
        assert r.headers["X-Total-Count"] == "2"
        r = api.get("/projects/aa/repositories/app/artifacts", params={"sort": "push_time", "page_size": 1})
        assert [a["digest"] for a in r.json()] == [pushed.image] and 'rel="next"' in r.headers["Link"]
        r = api.get("/projects/aa/repositories/app/artifacts", params={"sort": "push_time", "page_size": 1, "page": 2})
        assert [a["digest"] for a in r.json()] == [pushed.index]
        for q, expected in (
            ("tags=~mul", [pushed.index]),
            ("tags=1.0", [pushed.image]),
            ("tags=nil", []),
            ("tags=*", [pushed.index, pushed.image]),
            (f"digest={pushed.image}", [pushed.image]),
            (f"media_type={mt.OCI_INDEX}", [pushed.index]),
            ("type=IMAGE", [pushed.index, pushed.image]),
            ("type=CHART", []),
        ):
            r = api.get("/projects/aa/repositories/app/artifacts", params={"q": q})
            assert r.status_code == 200, (q, r.text)
            assert [a["digest"] for a in r.json()] == expected, q
        r = api.get("/projects/aa/repositories/app/artifacts", params={"with_tag": "false", "with_label": "true"})
        assert all(a["tags"] == [] for a in r.json())
        r = api.get("/projects/aa/repositories/app/artifacts", params={"with_accessory": "true", "q": "tags=1.0"})
        assert [x["digest"] for x in r.json()[0]["accessories"]] == [pushed.accessory]
        chart = api.get("/projects/aa/repositories/chart/artifacts", params={"q": "type=CHART"}).json()
        assert [a["digest"] for a in chart] == [pushed.chart]


def test_bad_input_is_400_or_404_never_500(stack: Stack, pushed: Pushed) -> None:
    base = "/projects/aa/repositories/app/artifacts"
    with stack.api() as api:
        for params in ({"q": "size=1"}, {"q": "tags"}, {"q": "digest=(a b)"}, {"sort": "name"}, {"with_tag": "x"}):
            assert_error(api.get(base, params=params), 400)
        for reference in ("-bad", "sha256:short", "sha256:" + "z" * 64, "a%20b", "x" * 200):
            assert_error(api.get(f"{base}/{reference}"), 400)
            assert_error(api.delete(f"{base}/{reference}"), 400)
        assert_error(api.get(f"{base}/nope"), 404)
        assert_error(api.get(f"{base}/sha256:{'0' * 64}"), 404)
        assert_error(api.get("/projects/aa/repositories/..%252Fab%252Fx/artifacts"), 400)
        assert_error(api.get("/projects/aa/repositories/missing/artifacts"), 404)
        assert_error(api.get("/projects/nosuch/repositories/app/artifacts"), 404)
        assert_error(api.post(f"{base}/1.0/tags", json={"name": "bad tag!"}), 400)
        assert_error(api.post(f"{base}/1.0/tags", content=b"not json"), 400)
        for source in ("", "aa/app", "aa/app:bad tag", "aa/app@sha256:short", "../aa/app:1.0", "aa//app:1.0"):
            assert_error(api.post("/projects/ab/repositories/x/artifacts", params={"from": source}), 400)


def test_members_of_another_project_see_nothing(stack: Stack, pushed: Pushed) -> None:
    with stack.api(("outsider", PW)) as api:
        assert_error(api.get("/projects/aa/repositories/app/artifacts"), 404)
        assert_error(api.get("/projects/aa/repositories/app/artifacts/1.0"), 404)
        assert_error(api.delete("/projects/aa/repositories/app/artifacts/1.0"), 404)
        assert_error(api.get("/projects/aa/repositories/app/artifacts/1.0/tags"), 404)
        assert_error(api.post("/projects/aa/repositories/app/artifacts/1.0/tags", json={"name": "x"}), 404)
        # Copying out of a project the caller cannot see: the source is a 404 too.
        assert_error(api.post("/projects/ab/repositories/stolen/artifacts", params={"from": "aa/app:1.0"}), 404)
    with stack.api(None) as api:
        assert_error(api.get("/projects/aa/repositories/app/artifacts"), 404)


def test_tags_are_created_listed_and_deleted_by_role(stack: Stack, pushed: Pushed) -> None:
    base = "/projects/aa/repositories/app/artifacts"
    with stack.api(("guest", PW)) as api:
        assert_error(api.post(f"{base}/1.0/tags", json={"name": "by-guest"}), 403)
        tags = api.get(f"{base}/{pushed.image}/tags")
        assert [t["name"] for t in tags.json()] == ["1.0", "latest"] and tags.headers["X-Total-Count"] == "2"
        assert_error(api.get(f"{base}/1.0/tags", params={"q": "bogus=1"}), 400)
    with stack.api(("dev", PW)) as api:
        assert api.post(f"{base}/1.0/tags", json={"name": "stable"}).status_code == 201
        assert_error(api.post(f"{base}/1.0/tags", json={"name": "stable"}), 409)
        # A tag name held by another artifact of the repository is a conflict too.
        assert_error(api.post(f"{base}/1.0/tags", json={"name": "multi"}), 409)
        assert [t["name"] for t in api.get(f"{base}/stable/tags", params={"q": "name=~sta"}).json()] == ["stable"]
        assert_error(api.delete(f"{base}/1.0/tags/stable"), 403)
    with stack.registry_client(*ADMIN) as reg:
        r = reg.get("/v2/aa/app/manifests/stable", headers={"Accept": mt.OCI_MANIFEST})
        assert r.status_code == 200 and r.headers["Docker-Content-Digest"] == pushed.image
    with stack.api(("maint", PW)) as api:
        assert_error(api.delete(f"{base}/1.0/tags/nosuch"), 404)
        assert_error(api.delete(f"{base}/multi/tags/stable"), 404)
        assert api.delete(f"{base}/1.0/tags/stable").status_code == 200
    with stack.registry_client(*ADMIN) as reg:
        r = reg.get("/v2/aa/app/manifests/stable", headers={"Accept": mt.OCI_MANIFEST})
        assert r.status_code == 404 and r.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"
    expected = {("create", "tag", "aa/app:stable", "dev"), ("delete", "tag", "aa/app:stable", "maint")}
    assert wait_for(lambda: expected <= audit(stack.db, "aa/app:stable"), "tag events in the audit log")


def test_copy_mounts_blobs_across_projects(stack: Stack, pushed: Pushed) -> None:
    blobs = query(stack.db, "SELECT count(*) AS n FROM blobs")[0]["n"]
    with stack.api(("dev", PW)) as api:
        # dev may pull from aa but holds nothing in ab.
        assert_error(api.post("/projects/ab/repositories/copied/artifacts", params={"from": "aa/app:1.0"}), 404)
    with stack.api(("guest", PW)) as api:
        assert_error(api.post("/projects/aa/repositories/copied/artifacts", params={"from": "aa/app:1.0"}), 403)
    with stack.api(("both", PW)) as api:
        r = api.post("/projects/ab/repositories/copied/artifacts", params={"from": "aa/app:1.0"})
        assert r.status_code == 201, r.text
        assert r.headers["Location"].endswith(f"/projects/ab/repositories/copied/artifacts/{pushed.image}")
        r = api.post("/projects/ab/repositories/team%252Fmulti/artifacts", params={"from": f"aa/app@{pushed.index}"})
        assert r.status_code == 201, r.text
        copied = api.get("/projects/ab/repositories/copied/artifacts/1.0").json()
        assert copied["digest"] == pushed.image and copied["size"] == pushed.image_size
        assert [t["name"] for t in copied["tags"]] == ["1.0", "latest"]
        copied = api.get("/projects/ab/repositories/copied/artifacts/1.0", params={"with_accessory": "true"}).json()
        assert [x["digest"] for x in copied["accessories"]] == [pushed.accessory]
        index = api.get(
            f"/projects/ab/repositories/team%252Fmulti/artifacts/{pushed.index}", params={"with_accessory": "true"}
        ).json()
        assert {r["child_digest"] for r in index["references"]} == set(pushed.children)
        # A copy without accessories copies the index and its children only.
        assert index["accessories"] == []
        assert api.get("/projects/ab/repositories/team%252Fmulti/artifacts").headers["X-Total-Count"] == "1"
        assert_error(api.post("/projects/ab/repositories/x/artifacts", params={"from": "aa/app:nosuch"}), 404)
    assert query(stack.db, "SELECT count(*) AS n FROM blobs")[0]["n"] == blobs, "blobs are mounted, not copied"
    linked = query(
        stack.db,
        "SELECT count(*) AS n FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id"
        " WHERE r.name = 'ab/copied'",
    )[0]["n"]
    assert linked == 4, "the image's config and layer, and its SBOM's (copied with it) empty config and layer"
    with stack.registry_client("both", PW) as reg:
        r = reg.get("/v2/ab/copied/manifests/1.0", headers={"Accept": mt.OCI_MANIFEST})
        assert r.status_code == 200 and r.headers["Docker-Content-Digest"] == pushed.image
        layer = json.loads(r.content)["layers"][0]["digest"]
        assert reg.get(f"/v2/ab/copied/blobs/{layer}").content == b"the app layer"
        child = pushed.children[0]
        assert reg.get(f"/v2/ab/team/multi/manifests/{child}", headers={"Accept": mt.OCI_MANIFEST}).status_code == 200
    assert wait_for(
        lambda: ("create", "artifact", "ab/copied:1.0", "both") in audit(stack.db, "ab/copied%"), "the copy event"
    )


SIGNATURE_TYPE = "application/vnd.example.signature.v1+json"


def dest_rows(stack: Stack, repository: str) -> dict[str, dict[str, Any]]:
    """Per digest, the artifact row of `repository` (what a copy must carry) with its blobs and tags."""
    rows = query(
        stack.db,
        "SELECT a.digest, a.media_type, a.artifact_type, a.size, a.subject_digest, a.annotations::text AS ann,"
        " a.config::text AS config, encode(a.content, 'hex') AS content,"
        " ARRAY(SELECT ab.digest FROM artifact_blobs ab WHERE ab.artifact_id = a.id ORDER BY ab.digest) AS blobs,"
        " ARRAY(SELECT t.name FROM tags t WHERE t.artifact_id = a.id ORDER BY t.name) AS tags"
        " FROM artifacts a JOIN repositories r ON r.id = a.repository_id WHERE r.name = $1",
        repository,
    )
    return {r["digest"]: {k: v for k, v in dict(r).items() if k != "digest"} for r in rows}


def test_copy_takes_accessories_and_theirs_along(stack: Stack, pushed: Pushed) -> None:
    with stack.registry_client(*ADMIN) as reg:
        image_bytes, image = push_image(reg, "aa/signed", "1.0", layers=[b"signed app layer"])
        push_blob(reg, "aa/signed", mt.EMPTY_JSON)
        sbom = b'{"sbom": "of the signed app"}'
        push_blob(reg, "aa/signed", sbom)
        sbom_manifest = image_manifest(
            mt.EMPTY_JSON,
            [sbom],
            config_media_type=mt.OCI_EMPTY,
            artifact_type=SBOM_TYPE,
            subject=descriptor(mt.OCI_MANIFEST, image_bytes),
            annotations={"org.example.kind": "sbom"},
        )
        sbom_digest = digest_of(sbom_manifest)
        r = push_manifest(reg, "aa/signed", sbom_digest, sbom_manifest, mt.OCI_MANIFEST)
        assert r.status_code == 201, r.text
        signature = b"a signature of the sbom"
        push_blob(reg, "aa/signed", signature)
        signature_manifest = image_manifest(
            mt.EMPTY_JSON,
            [signature],
            config_media_type=mt.OCI_EMPTY,
            artifact_type=SIGNATURE_TYPE,
            subject=descriptor(mt.OCI_MANIFEST, sbom_manifest),
        )
        signature_digest = digest_of(signature_manifest)
        r = push_manifest(reg, "aa/signed", signature_digest, signature_manifest, mt.OCI_MANIFEST)
        assert r.status_code == 201, r.text
    blobs = query(stack.db, "SELECT count(*) AS n FROM blobs")[0]["n"]
    events = query(stack.db, "SELECT count(*) AS n FROM audit_log WHERE resource LIKE 'ab/signed-copy%'")[0]["n"]
    assert events == 0
    with stack.api(("both", PW)) as api:
        r = api.post("/projects/ab/repositories/signed-copy/artifacts", params={"from": "aa/signed:1.0"})
        assert r.status_code == 201, r.text
        base = "/projects/ab/repositories/signed-copy/artifacts"
        copied = api.get(f"{base}/1.0", params={"with_accessory": "true"}).json()
        assert copied["digest"] == image and [t["name"] for t in copied["tags"]] == ["1.0"]
        (accessory,) = copied["accessories"]
        assert accessory["digest"] == sbom_digest and accessory["subject_artifact_digest"] == image
        sbom_copy = api.get(f"{base}/{sbom_digest}", params={"with_accessory": "true"}).json()
        assert sbom_copy["artifact_type"] == SBOM_TYPE and sbom_copy["tags"] == []
        assert sbom_copy["annotations"] == {"org.example.kind": "sbom"}
        assert [x["digest"] for x in sbom_copy["accessories"]] == [signature_digest]
        signature_copy = api.get(f"{base}/{signature_digest}").json()
        assert signature_copy["artifact_type"] == SIGNATURE_TYPE and signature_copy["tags"] == []
        # Accessories are shown under their subject, not listed.
        listed = api.get(base)
        assert [a["digest"] for a in listed.json()] == [image] and listed.headers["X-Total-Count"] == "1"
    # The same rows as in the source (content, types, subject, annotations, config, blobs), no new blobs.
    source, dest = dest_rows(stack, "aa/signed"), dest_rows(stack, "ab/signed-copy")
    assert set(dest) == {image, sbom_digest, signature_digest}
    assert dest == {digest: source[digest] for digest in dest}
    assert query(stack.db, "SELECT count(*) AS n FROM blobs")[0]["n"] == blobs, "blobs are mounted, not copied"
    linked = query(
        stack.db,
        "SELECT rb.digest FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id"
        " WHERE r.name = 'ab/signed-copy' ORDER BY rb.digest",
    )
    assert [r["digest"] for r in linked] == sorted({d for row in dest.values() for d in row["blobs"]})
    assert len(linked) == 5  # the image's config and layer, the empty config, the SBOM, the signature
    with stack.registry_client("both", PW) as reg:
        for digest, body in (
            (image, image_bytes),
            (sbom_digest, sbom_manifest),
            (signature_digest, signature_manifest),
        ):
            r = reg.get(f"/v2/ab/signed-copy/manifests/{digest}", headers={"Accept": mt.OCI_MANIFEST})
            assert r.status_code == 200 and r.content == body, digest
        for subject, referrer, kind in (
            (image, sbom_digest, SBOM_TYPE),
            (sbom_digest, signature_digest, SIGNATURE_TYPE),
        ):
            r = reg.get(f"/v2/ab/signed-copy/referrers/{subject}")
            assert r.status_code == 200, r.text
            assert [(m["digest"], m["artifactType"]) for m in r.json()["manifests"]] == [(referrer, kind)]
        assert reg.get(f"/v2/ab/signed-copy/blobs/{digest_of(signature)}").content == signature
    # One event, for the copied artifact (Harbor fires none for the accessories it copies).
    assert wait_for(
        lambda: ("create", "artifact", "ab/signed-copy:1.0", "both") in audit(stack.db, "ab/signed-copy%"),
        "the copy event",
    )
    # The pulls above are audited too, whenever the registry's pull recorder flushes them (later on a busy
    # machine): only what the copy itself wrote is counted here.
    copied = {entry for entry in audit(stack.db, "ab/signed-copy%") if entry[0] != "pull"}
    assert copied == {("create", "artifact", "ab/signed-copy:1.0", "both")}
    # An accessory the destination already holds stays as it is; the copy of a copy adds nothing.
    with stack.api(("both", PW)) as api:
        r = api.post("/projects/ab/repositories/signed-copy/artifacts", params={"from": f"aa/signed@{image}"})
        assert r.status_code == 201, r.text
    assert dest_rows(stack, "ab/signed-copy") == dest


def test_deleting_an_artifact_is_seen_by_the_registry_at_once(stack: Stack, pushed: Pushed) -> None:
    with stack.registry_client(*ADMIN) as reg:
        _, digest = push_image(reg, "aa/gone", "1.0")
        index, children = push_index(reg, "aa/gone", "multi")
        assert reg.get(f"/v2/aa/gone/manifests/{digest}", headers={"Accept": mt.OCI_MANIFEST}).status_code == 200
    with stack.api(("dev", PW)) as api:
        assert_error(api.delete("/projects/aa/repositories/gone/artifacts/1.0"), 403)
    with stack.api(("maint", PW)) as api:
        # A child of an index goes with the index, not alone.
        assert_error(api.delete(f"/projects/aa/repositories/gone/artifacts/{children[0]}"), 412)
        assert api.delete("/projects/aa/repositories/gone/artifacts/1.0").status_code == 200
        assert_error(api.get(f"/projects/aa/repositories/gone/artifacts/{digest}"), 404)
        assert api.delete("/projects/aa/repositories/gone/artifacts/multi").status_code == 200
        assert_error(api.get(f"/projects/aa/repositories/gone/artifacts/{children[1]}"), 404)
    with stack.registry_client(*ADMIN) as reg:
        for ref in ("1.0", digest, index, children[0]):
            r = reg.get(f"/v2/aa/gone/manifests/{ref}", headers={"Accept": mt.OCI_MANIFEST})
            assert r.status_code == 404 and r.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN", ref
    assert wait_for(
        lambda: ("delete", "artifact", f"aa/gone@{digest}", "maint") in audit(stack.db, "aa/gone%"),
        "the delete event",
    )


async def test_list_statement_counts(pg_database: TestDatabase) -> None:
    """Two statements per list page whatever the page size."""
    conn = await asyncpg.connect(pg_database.dsn())
    try:
        await apply_migrations(conn)
        owner = await conn.fetchval("INSERT INTO users (username) VALUES ('o') RETURNING id")
        project = await conn.fetchval("INSERT INTO projects (name, owner_id) VALUES ('p', $1) RETURNING id", owner)
        await conn.execute("INSERT INTO blobs (digest, size) VALUES ('sha256:b', 10)")
        for i in range(30):
            repo = await conn.fetchval("INSERT INTO repositories (name) VALUES ($1) RETURNING id", f"p/r{i:02}")
            artifact = await conn.fetchval(
                "INSERT INTO artifacts (repository_id, digest, media_type, size, content)"
                " VALUES ($1, 'sha256:a', $2, 2, '{}') RETURNING id",
                repo,
                mt.OCI_MANIFEST,
            )
            await conn.execute("INSERT INTO artifact_blobs VALUES ($1, 'sha256:b')", artifact)
            await conn.execute(
                "INSERT INTO tags (repository_id, artifact_id, name) VALUES ($1, $2, 'v')", repo, artifact
            )
        first_repo = await conn.fetchval("SELECT id FROM repositories WHERE name = 'p/r00'")
        for i in range(30):
            artifact = await conn.fetchval(
                "INSERT INTO artifacts (repository_id, digest, media_type, size, content)"
                " VALUES ($1, $2, $3, 2, '{}') RETURNING id",
                first_repo,
                f"sha256:x{i}",
                mt.OCI_MANIFEST,
            )
            for t in range(3):
                await conn.execute(
                    "INSERT INTO tags (repository_id, artifact_id, name) VALUES ($1, $2, $3)",
                    first_repo,
                    artifact,
                    f"t{i}-{t}",
                )
        for size in (1, 10, 100):
            page = Page(1, size)
            ex = Counting(conn)
            repos, total = await repository_store.list_project_repositories(
                ex, project, "p", [Term("name", "like", "r")], [SortKey("update_time", True)], page
            )
            assert ex.count == 2 and total == 30 and len(repos) == min(size, 30)
            ex = Counting(conn)
            repos, total = await repository_store.list_visible_repositories(ex, Viewer(None, True, ()), [], [], page)
            assert ex.count == 2 and total == 30 and len(repos) == min(size, 30)
            ex = Counting(conn)
            arts, total = await artifact_store.list_artifacts(
                ex, project, first_repo, [Term("tags", "like", "t")], [SortKey("push_time", False)], page
            )
            assert ex.count == 2 and total == 30 and len(arts) == min(size, 30)
            assert all(len(a.tags) == 3 for a in arts)
            ex = Counting(conn)
            tags, total = await tag_store.list_tags(ex, arts[0].id, [], [], page)
            assert ex.count == 2 and total == 3 and len(tags) == min(size, 3)
    finally:
        await conn.close()
