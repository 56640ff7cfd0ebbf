"""GET /projects/{p}/artifacts (Harbor's ListArtifactsOfProject) and GET .../artifacts/{ref}/accessories
(ListAccessories) against real token, registry and core processes: every repository's top-level artifacts
in Harbor's Artifact shape with no null where the schema says array, object or time, filters, sorting,
paging headers, latest_in_repository; accessories (cosign signature, Harbor SBOM, any other referrer) with
q, sort and paging; who may see them; 400s for bad input."""

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
from services.core.artifacts import artifact_store, repository_store
from services.core.listing import Page, SortKey, Term
from tests.harness.oci import descriptor, digest_of, image_manifest, push_blob, push_image, push_manifest
from tests.harness.plugin import TestDatabase
from tests.harness.token import add_member, add_project, add_user
from tests.integration.core.registry_stack import ADMIN, Stack, assert_error, running_stack
from tests.integration.core.test_artifacts import HELM_CONFIG, push_index
from tests.integration.core.test_query_counts import Counting

pytestmark = pytest.mark.integration

PW = "ProjArt-pw1"
COSIGN = "application/vnd.dev.cosign.artifact.sig.v1+json"
HARBOR_SBOM = "application/vnd.goharbor.harbor.sbom.v1"
OTHER = "application/vnd.example.attestation.v1+json"
ACCESSORY_KEYS = {
    "id",
    "artifact_id",
    "subject_artifact_id",
    "subject_artifact_digest",
    "subject_artifact_repo",
    "size",
    "digest",
    "type",
    "icon",
    "creation_time",
}


@dataclass
class Pushed:
    image: str  # pa/app:1.0, with three accessories
    index: str  # pa/app:multi
    children: tuple[str, str]
    cli_v1: str  # pa/tools/cli:v1, pushed before v2
    cli_v2: str
    chart: str  # pa/chart:0.1.0
    signature: str  # cosign signature of the image
    sbom: str  # Harbor SBOM of the image
    attestation: str  # another referrer of the image
    sbom_signature: str  # a cosign signature of the SBOM


def push_accessory(reg: Any, repo: str, subject: bytes, artifact_type: str, payload: bytes) -> bytes:
    """An OCI 1.1 referrer of `subject` (how cosign and Harbor store signatures and SBOMs)."""
    push_blob(reg, repo, mt.EMPTY_JSON)
    push_blob(reg, repo, payload)
    manifest = image_manifest(
        mt.EMPTY_JSON,
        [payload],
        config_media_type=mt.OCI_EMPTY,
        artifact_type=artifact_type,
        subject=descriptor(mt.OCI_MANIFEST, subject),
    )
    r = push_manifest(reg, repo, digest_of(manifest), manifest, mt.OCI_MANIFEST)
    assert r.status_code == 201, r.text
    return manifest


@pytest.fixture(scope="module")
def stack(module_database: TestDatabase, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(module_database, tmp_path_factory) as s:
        for name, public in (("pa", False), ("pa-x", False), ("pb", False), ("pempty", False), ("ppub", True)):
            add_project(module_database, name, public)
        for user in ("pa-guest", "pa-lguest", "pb-dev"):
            add_user(module_database, user, PW)
        add_member(module_database, "pa", "pa-guest", 3)
        add_member(module_database, "pa", "pa-lguest", 5)
        add_member(module_database, "pb", "pb-dev", 2)
        yield s


@pytest.fixture(scope="module")
def pushed(stack: Stack) -> Pushed:
    with stack.registry_client(*ADMIN) as reg:
        manifest, image = push_image(reg, "pa/app", "1.0", layers=[b"pa app layer"])
        signature = push_accessory(reg, "pa/app", manifest, COSIGN, b"a cosign signature")
        sbom = push_accessory(reg, "pa/app", manifest, HARBOR_SBOM, b'{"spdx": "of pa/app"}')
        attestation = push_accessory(reg, "pa/app", manifest, OTHER, b"an attestation")
        sbom_signature = push_accessory(reg, "pa/app", sbom, COSIGN, b"a signature of the sbom")
        index, children = push_index(reg, "pa/app", "multi")
        _, cli_v1 = push_image(reg, "pa/tools/cli", "v1", layers=[b"cli v1"])
        _, cli_v2 = push_image(reg, "pa/tools/cli", "v2", layers=[b"cli v2"])
        chart_config = json.dumps({"name": "c", "version": "0.1.0", "apiVersion": "v2"}).encode()
        _, chart = push_image(reg, "pa/chart", "0.1.0", config=chart_config, config_media_type=HELM_CONFIG)
        # Other projects, one of them named like pa (pa-x/... sorts next to pa/...): never in pa's list.
        push_image(reg, "pa-x/app", "1.0", layers=[b"pa-x layer"])
        push_image(reg, "pb/app", "1.0", layers=[b"pb layer"])
        push_image(reg, "ppub/app", "1.0", layers=[b"ppub layer"])
    return Pushed(
        image=image,
        index=index,
        children=children,
        cli_v1=cli_v1,
        cli_v2=cli_v2,
        chart=chart,
        signature=digest_of(signature),
        sbom=digest_of(sbom),
        attestation=digest_of(attestation),
        sbom_signature=digest_of(sbom_signature),
    )


def digests(body: list[dict[str, Any]]) -> list[str]:
    return [a["digest"] for a in body]


def assert_typed(artifact: dict[str, Any]) -> None:
    """Harbor's schema types, never null: arrays, objects and times."""
    for key in ("references", "tags", "labels", "accessories"):
        assert isinstance(artifact[key], list), key
    for key in ("extra_attrs", "annotations", "addition_links"):
        assert isinstance(artifact[key], dict), key
    for key in ("push_time", "pull_time"):
        assert isinstance(artifact[key], str) and artifact[key].endswith("Z"), key
    for tag in artifact["tags"]:
        assert isinstance(tag["push_time"], str) and isinstance(tag["pull_time"], str)


def test_the_list_holds_every_repositorys_top_level_artifacts(stack: Stack, pushed: Pushed) -> None:
    with stack.api(("pa-guest", PW)) as api:
        r = api.get("/projects/pa/artifacts")
        assert r.status_code == 200, r.text
        # Newest first; index children and accessories are shown under their parents, not listed.
        assert digests(r.json()) == [pushed.chart, pushed.cli_v2, pushed.cli_v1, pushed.index, pushed.image]
        assert r.headers["X-Total-Count"] == "5" and "Link" not in r.headers
        by_digest = {a["digest"]: a for a in r.json()}
        assert by_digest[pushed.cli_v1]["repository_name"] == "pa/tools/cli"
        assert by_digest[pushed.image]["repository_name"] == "pa/app"
        assert by_digest[pushed.chart]["type"] == "CHART" and by_digest[pushed.index]["type"] == "IMAGE"
        assert {a["project_id"] for a in r.json()} == {api.get("/projects/pa").json()["project_id"]}
        assert [t["name"] for t in by_digest[pushed.cli_v2]["tags"]] == ["v2"]
        assert {c["child_digest"] for c in by_digest[pushed.index]["references"]} == set(pushed.children)
        for artifact in r.json():
            assert_typed(artifact)
        image = by_digest[pushed.image]
        # Never pulled: Harbor's zero time, not null; not asked for: empty, not null.
        assert image["pull_time"] == ZERO_TIME and image["tags"][0]["pull_time"] == ZERO_TIME
        assert image["labels"] == [] and image["accessories"] == [] and image["references"] == []
        assert image["extra_attrs"] == {"architecture": "amd64", "os": "linux"}
        # The project by id too, and by name when X-Is-Resource-Name says so.
        project_id = image["project_id"]
        assert digests(api.get(f"/projects/{project_id}/artifacts").json()) == digests(r.json())
        named = api.get("/projects/pa/artifacts", headers={"X-Is-Resource-Name": "true"})
        assert digests(named.json()) == digests(r.json())


def test_filters_sorting_and_paging_headers(stack: Stack, pushed: Pushed) -> None:
    with stack.api(("pa-guest", PW)) as api:
        for q, expected in (
            ("type=CHART", [pushed.chart]),
            ("tags=v1", [pushed.cli_v1]),
            ("tags=~v", [pushed.cli_v2, pushed.cli_v1]),
            (f"media_type={mt.OCI_INDEX}", [pushed.index]),
            (f"digest={pushed.image}", [pushed.image]),
            (f"digest={pushed.signature}", []),  # an accessory: shown under its subject
            ("tags=nil", []),
        ):
            r = api.get("/projects/pa/artifacts", params={"q": q})
            assert r.status_code == 200, (q, r.text)
            assert digests(r.json()) == expected, q
            assert r.headers["X-Total-Count"] == str(len(expected)), q
        oldest_first = [pushed.image, pushed.index, pushed.cli_v1, pushed.cli_v2, pushed.chart]
        r = api.get("/projects/pa/artifacts", params={"sort": "push_time"})
        assert digests(r.json()) == oldest_first
        r = api.get("/projects/pa/artifacts", params={"sort": "push_time", "page_size": 2, "q": "type=IMAGE"})
        assert digests(r.json()) == oldest_first[:2] and r.headers["X-Total-Count"] == "4"
        assert 'rel="next"' in r.headers["Link"] and 'rel="prev"' not in r.headers["Link"]
        assert "q=type%3DIMAGE" in r.headers["Link"] or "q=type=IMAGE" in r.headers["Link"]
        r = api.get(
            "/projects/pa/artifacts", params={"sort": "push_time", "page_size": 2, "page": 2, "q": "type=IMAGE"}
        )
        assert digests(r.json()) == oldest_first[2:4]
        assert 'rel="prev"' in r.headers["Link"] and 'rel="next"' not in r.headers["Link"]
        r = api.get("/projects/pa/artifacts", params={"page_size": 2, "page": 9})
        assert r.json() == [] and r.headers["X-Total-Count"] == "5"


def test_with_options(stack: Stack, pushed: Pushed) -> None:
    with stack.api(("pa-guest", PW)) as api:
        r = api.get("/projects/pa/artifacts", params={"with_tag": "false", "with_label": "true"})
        assert r.status_code == 200, r.text
        assert all(a["tags"] == [] and a["labels"] == [] for a in r.json())
        r = api.get("/projects/pa/artifacts", params={"with_accessory": "true", "q": "tags=1.0"})
        (image,) = r.json()
        assert {(x["digest"], x["type"]) for x in image["accessories"]} == {
            (pushed.signature, "signature.cosign"),
            (pushed.sbom, "harbor.sbom"),
            (pushed.attestation, "subject.accessory"),
        }
        # Accepted and of no effect (no scanner, no immutability rules): values still checked.
        params = {"with_scan_overview": "true", "with_sbom_overview": "true", "with_immutable_status": "true"}
        r = api.get("/projects/pa/artifacts", params=params)
        assert r.status_code == 200 and all(not t["immutable"] for a in r.json() for t in a["tags"])
        assert all("scan_overview" not in a for a in r.json())
        for flag in ("with_scan_overview", "with_immutable_status", "with_tag", "latest_in_repository"):
            assert_error(api.get("/projects/pa/artifacts", params={flag: "maybe"}), 400)


def test_latest_in_repository(stack: Stack, pushed: Pushed) -> None:
    with stack.api(("pa-guest", PW)) as api:
        # Harbor's rule: only with a media_type or artifact_type term.
        assert_error(api.get("/projects/pa/artifacts", params={"latest_in_repository": "true"}), 400)
        params = {"latest_in_repository": "true", "q": "tags=*"}
        assert_error(api.get("/projects/pa/artifacts", params=params), 400)
        params = {"latest_in_repository": "true", "q": f"media_type={mt.OCI_MANIFEST}"}
        r = api.get("/projects/pa/artifacts", params=params)
        assert r.status_code == 200, r.text
        # One per repository: pa/app's image (its index is another media type), cli v2, the chart.
        assert digests(r.json()) == [pushed.chart, pushed.cli_v2, pushed.image]
        assert r.headers["X-Total-Count"] == "3"
        r = api.get("/projects/pa/artifacts", params={**params, "page_size": 1, "page": 2, "sort": "push_time"})
        assert digests(r.json()) == [pushed.cli_v2] and r.headers["X-Total-Count"] == "3"
        r = api.get(
            "/projects/pa/artifacts", params={"latest_in_repository": "true", "q": f"artifact_type={mt.OCI_CONFIG}"}
        )
        assert digests(r.json()) == [pushed.cli_v2, pushed.image]
        r = api.get("/projects/pa/artifacts", params={"latest_in_repository": "false"})
        assert r.headers["X-Total-Count"] == "5"


def test_who_may_list_a_projects_artifacts(stack: Stack, pushed: Pushed) -> None:
    with stack.api(("pb-dev", PW)) as api:
        assert_error(api.get("/projects/pa/artifacts"), 404)
        assert digests(api.get("/projects/pb/artifacts").json()) != []
    with stack.api(None) as api:
        assert_error(api.get("/projects/pa/artifacts"), 404)
        r = api.get("/projects/ppub/artifacts")
        assert r.status_code == 200 and [a["repository_name"] for a in r.json()] == ["ppub/app"]
    with stack.api(("pa-lguest", PW)) as api:
        assert api.get("/projects/pa/artifacts").headers["X-Total-Count"] == "5"
    with stack.api() as api:
        assert_error(api.get("/projects/nosuch/artifacts"), 404)
        assert_error(api.get("/projects/999999/artifacts"), 404)
        r = api.get("/projects/pempty/artifacts")
        assert r.status_code == 200 and r.json() == [] and r.headers["X-Total-Count"] == "0"
        assert [a["repository_name"] for a in api.get("/projects/pa-x/artifacts").json()] == ["pa-x/app"]


def test_bad_input_is_400(stack: Stack, pushed: Pushed) -> None:
    with stack.api() as api:
        for params in (
            {"q": "size=1"},
            {"q": "tags"},
            {"q": "digest=(a b)"},
            {"sort": "name"},
            {"page": "0"},
            {"page_size": "101"},
            {"page_size": "x"},
        ):
            assert_error(api.get("/projects/pa/artifacts", params=params), 400)
        assert_error(api.get("/projects/pa/artifacts", headers={"X-Is-Resource-Name": "maybe"}), 400)


def test_an_artifacts_accessories(stack: Stack, pushed: Pushed) -> None:
    base = "/projects/pa/repositories/app/artifacts"
    with stack.api(("pa-lguest", PW)) as api:
        r = api.get(f"{base}/1.0/accessories")
        assert r.status_code == 200, r.text
        body = r.json()
        assert digests(body) == [pushed.signature, pushed.sbom, pushed.attestation]  # oldest first
        assert [a["type"] for a in body] == ["signature.cosign", "harbor.sbom", "subject.accessory"]
        assert r.headers["X-Total-Count"] == "3"
        image = api.get(f"{base}/1.0").json()
        for accessory in body:
            assert set(accessory) == ACCESSORY_KEYS and None not in accessory.values()
            assert accessory["subject_artifact_id"] == image["id"]
            assert accessory["subject_artifact_digest"] == pushed.image
            assert accessory["subject_artifact_repo"] == "pa/app"
            assert accessory["creation_time"].endswith("Z") and accessory["size"] > 0
            # The accessory's own artifact.
            own = api.get(f"{base}/{accessory['digest']}").json()
            assert accessory["artifact_id"] == own["id"] == accessory["id"]
        # What the artifact shows with with_accessory=true.
        shown = api.get(f"{base}/{pushed.image}", params={"with_accessory": "true"}).json()["accessories"]
        assert shown == body
        assert api.get(f"{base}/{pushed.image}/accessories").json() == body
        # An accessory's own accessories; an artifact with none.
        assert digests(api.get(f"{base}/{pushed.sbom}/accessories").json()) == [pushed.sbom_signature]
        r = api.get(f"{base}/multi/accessories")
        assert r.status_code == 200 and r.json() == [] and r.headers["X-Total-Count"] == "0"


def test_accessory_filters_sorting_and_paging(stack: Stack, pushed: Pushed) -> None:
    url = "/projects/pa/repositories/app/artifacts/1.0/accessories"
    with stack.api(("pa-guest", PW)) as api:
        for q, expected in (
            ("type=signature.cosign", [pushed.signature]),
            ("type=~signature", [pushed.signature]),
            ("type=harbor.sbom", [pushed.sbom]),
            ("type=subject.accessory", [pushed.attestation]),
            (f"digest={pushed.sbom}", [pushed.sbom]),
            ("type=signature.notation", []),
        ):
            r = api.get(url, params={"q": q})
            assert r.status_code == 200, (q, r.text)
            assert digests(r.json()) == expected, q
        sbom_id = api.get(url, params={"q": f"digest={pushed.sbom}"}).json()[0]["id"]
        assert digests(api.get(url, params={"q": f"artifact_id={sbom_id}"}).json()) == [pushed.sbom]
        newest_first = [pushed.attestation, pushed.sbom, pushed.signature]
        assert digests(api.get(url, params={"sort": "-creation_time"}).json()) == newest_first
        by_type = [pushed.sbom, pushed.signature, pushed.attestation]  # harbor.sbom, signature..., subject...
        assert digests(api.get(url, params={"sort": "type"}).json()) == by_type
        r = api.get(url, params={"page_size": 2})
        assert digests(r.json()) == [pushed.signature, pushed.sbom] and r.headers["X-Total-Count"] == "3"
        assert 'rel="next"' in r.headers["Link"]
        r = api.get(url, params={"page_size": 2, "page": 2})
        assert digests(r.json()) == [pushed.attestation] and 'rel="prev"' in r.headers["Link"]


def test_accessories_refusals_and_bad_input(stack: Stack, pushed: Pushed) -> None:
    base = "/projects/pa/repositories/app/artifacts"
    with stack.api(("pb-dev", PW)) as api:
        assert_error(api.get(f"{base}/1.0/accessories"), 404)
    with stack.api(None) as api:
        assert_error(api.get(f"{base}/1.0/accessories"), 404)
        assert api.get("/projects/ppub/repositories/app/artifacts/1.0/accessories").json() == []
    with stack.api() as api:
        for params in ({"q": "bogus=1"}, {"q": "size=1"}, {"sort": "name"}, {"page_size": "0"}):
            assert_error(api.get(f"{base}/1.0/accessories", params=params), 400)
        for reference in ("-bad", "sha256:short"):
            assert_error(api.get(f"{base}/{reference}/accessories"), 400)
        assert_error(api.get(f"{base}/nosuch/accessories"), 404)
        assert_error(api.get(f"{base}/sha256:{'0' * 64}/accessories"), 404)
        assert_error(api.get("/projects/pa/repositories/missing/artifacts/1.0/accessories"), 404)
        assert_error(api.get("/projects/nosuch/repositories/app/artifacts/1.0/accessories"), 404)


async def test_statement_counts(pg_database: TestDatabase) -> None:
    """A project's list is two statements however many repositories and whatever the page, latest or not;
    an artifact's accessories two as well."""
    conn = await asyncpg.connect(pg_database.dsn())
    try:
        await apply_migrations(conn)
        owner = await conn.fetchval("INSERT INTO users (username) VALUES ('o') RETURNING id")
        project = await conn.fetchval("INSERT INTO projects (name, owner_id) VALUES ('p', $1) RETURNING id", owner)
        for i in range(12):
            repo = await conn.fetchval("INSERT INTO repositories (name) VALUES ($1) RETURNING id", f"p/r{i:02}")
            for j in range(3):
                await conn.execute(
                    "INSERT INTO artifacts (repository_id, digest, media_type, size, content)"
                    " VALUES ($1, $2, $3, 2, '{}')",
                    repo,
                    f"sha256:a{j}",
                    mt.OCI_MANIFEST,
                )
            for k in range(4):
                await conn.execute(
                    "INSERT INTO artifacts (repository_id, digest, media_type, size, content, subject_digest)"
                    " VALUES ($1, $2, $3, 2, '{}', 'sha256:a0')",
                    repo,
                    f"sha256:s{k}",
                    mt.OCI_MANIFEST,
                )
        repositories = await repository_store.project_repository_ids(conn, "p")
        assert len(repositories) == 12
        subject = await conn.fetchval(
            "SELECT id FROM artifacts WHERE repository_id = $1 AND digest = 'sha256:a0'", repositories[0]
        )
        for size in (1, 10, 100):
            page = Page(1, size)
            ex = Counting(conn)
            arts, total = await artifact_store.list_artifacts(
                ex, project, repositories, [Term("digest", "like", "a")], [SortKey("push_time", False)], page
            )
            assert ex.count == 2 and total == 36 and len(arts) == min(size, 36)
            ex = Counting(conn)
            arts, total = await artifact_store.list_artifacts(
                ex, project, repositories, [Term("media_type", "eq", mt.OCI_MANIFEST)], [], page, latest=True
            )
            assert ex.count == 2 and total == 12 and len(arts) == min(size, 12)
            assert len({a.repository_id for a in arts}) == len(arts)
            ex = Counting(conn)
            accessories, total = await artifact_store.list_accessories(ex, subject, [], [], page)
            assert ex.count == 2 and total == 4 and len(accessories) == min(size, 4)
    finally:
        await conn.close()
