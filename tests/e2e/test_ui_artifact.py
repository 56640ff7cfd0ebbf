"""End-to-end: the artifact page in a real headless Chromium against the whole stack (see test_ui_browser.py).
From a repository's list the admin opens an image: its digest and pull commands (docker and podman, by
digest and by tag) are copied by their buttons; a tag is added and another removed, a label attached and
detached, each checked in the API; its SBOM shows as an accessory; an index lists its platforms, each a
link to the child's page. A chart shows its README and values.yaml as text: markup in them does not run."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

import pytest
from playwright.sync_api import Page, expect

from services.common.oci import mediatypes as mt
from tests.harness.oci import descriptor, digest_of, gzip_tar, push_blob, push_image, push_manifest
from tests.harness.plugin import RegistryEndpoint
from tests.integration.core.test_artifacts import HELM_CONFIG, push_index

from .test_replication_between_berths import push_sbom
from .test_ui_browser import Site, browser, core
from .test_ui_navigation import logged_in
from .test_ui_repositories import page, tolerated

__all__ = ["browser", "core", "page", "tolerated"]  # the fixtures this module shares with the other UI tests

pytestmark = pytest.mark.e2e

ADMIN = ("admin", "Harbor12345")
TIMEOUT_MS = 30_000
HELM_CHART_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
# What a hostile chart author might write in a README: shown as text, never run.
HOSTILE = '<script>window.__pwned = true</script><img src=x onerror="window.__pwned = true">'


@pytest.fixture(autouse=True)
def _patience() -> None:
    expect.set_options(timeout=TIMEOUT_MS)


@dataclass
class Pushed:
    project: str
    project_id: int
    image: str
    sbom: str
    index: str
    children: tuple[str, str]
    chart: str


@pytest.fixture
def pushed(core: Site, registry_endpoint: RegistryEndpoint) -> Pushed:
    project = f"art-{uuid.uuid4().hex[:8]}"
    with core.client(ADMIN) as admin:
        assert admin.post("/projects", json={"project_name": project}).status_code == 201
        project_id = admin.get(f"/projects/{project}").json()["project_id"]
        label = {"name": f"qa-{uuid.uuid4().hex[:6]}", "scope": "g", "color": "#00aa00"}
        assert admin.post("/labels", json=label).status_code == 201
    with registry_endpoint.client() as registry:
        manifest, image = push_image(registry, f"{project}/app", "v1", layers=[b"app layer" * 100])
        sbom = push_sbom(registry, f"{project}/app", manifest)
        index, children = push_index(registry, f"{project}/multi", "v1")
        chart = push_chart(registry, f"{project}/chart", "0.1.0")
    return Pushed(project, project_id, image, sbom, index, children, chart)


def push_chart(registry: object, repository: str, version: str) -> str:
    files = {
        "hostile/Chart.yaml": f"apiVersion: v2\nname: hostile\nversion: {version}\n".encode(),
        "hostile/values.yaml": b"replicaCount: 1\n",
        "hostile/README.md": f"# hostile\n\n{HOSTILE}\n".encode(),
    }
    config = json.dumps({"name": "hostile", "version": version, "apiVersion": "v2"}).encode()
    archive = gzip_tar(files)
    for blob in (config, archive):
        push_blob(registry, repository, blob)  # type: ignore[arg-type]
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "config": descriptor(HELM_CONFIG, config),
            "layers": [descriptor(HELM_CHART_LAYER, archive)],
        }
    ).encode()
    r = push_manifest(registry, repository, version, manifest, mt.OCI_MANIFEST)  # type: ignore[arg-type]
    assert r.status_code == 201, r.text
    return digest_of(manifest)


def artifact_url(core: Site, pushed: Pushed, repository: str, digest: str) -> str:
    return f"{core.url}/harbor/projects/{pushed.project_id}/repositories/{repository}/artifacts-tab/artifacts/{digest}"


def tags_of(core: Site, pushed: Pushed, digest: str) -> list[str]:
    with core.client(ADMIN) as admin:
        a = admin.get(f"/projects/{pushed.project}/repositories/app/artifacts/{digest}?with_tag=true").json()
    return sorted(t["name"] for t in a["tags"] or [])


def test_an_image_page_copies_its_commands_and_changes_its_tags_and_labels(
    page: Page, core: Site, pushed: Pushed
) -> None:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    logged_in(page, core, "admin", "Harbor12345")
    page.goto(f"{core.url}/harbor/projects/{pushed.project_id}/repositories/app")
    page.locator(f'#artifacts tr[data-digest="{pushed.image}"] td.digest a').click()
    expect(page.locator("#artifact-digest")).to_have_text(pushed.image)

    host = core.url.removeprefix("http://")
    facts = page.locator("#artifact-facts")
    expect(facts).to_contain_text(f"docker pull {host}/{pushed.project}/app@{pushed.image}")
    expect(facts).to_contain_text(f"podman pull {host}/{pushed.project}/app@{pushed.image}")
    tags = page.locator("#artifact-tags")
    expect(tags).to_contain_text(f"docker pull {host}/{pushed.project}/app:v1")

    # Add a tag, remove the first one: each step is the API's.
    page.fill("#new-tag", "v2")
    page.locator("#add-tag").get_by_role("button", name="Add tag").click()
    expect(page.locator('.tag-row[data-tag="v2"]')).to_be_visible()
    assert tags_of(core, pushed, pushed.image) == ["v1", "v2"]
    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Remove tag v1").click()
    expect(page.locator('.tag-row[data-tag="v1"]')).to_have_count(0)
    assert tags_of(core, pushed, pushed.image) == ["v2"]

    # Attach a label, then detach it.
    label = page.locator("#attach-label option").first.text_content()
    assert label
    page.locator("#attach-label-form").get_by_role("button", name="Attach").click()
    expect(page.locator(f'#artifact-labels .label[data-label="{label}"]')).to_be_visible()
    page.get_by_role("button", name=f"Detach label {label}").click()
    expect(page.locator(f'#artifact-labels .label[data-label="{label}"]')).to_have_count(0)

    # Its SBOM is an accessory, a link to its own page.
    expect(page.locator(f'#artifact-accessories li[data-digest="{pushed.sbom}"]')).to_be_visible()

    page.get_by_role("button", name="Copy the digest").click()
    expect(page.get_by_role("status")).to_have_text(f"Copied: {pushed.image}")


def test_an_index_page_links_each_platform_to_its_child(page: Page, core: Site, pushed: Pushed) -> None:
    logged_in(page, core, "admin", "Harbor12345")
    page.goto(artifact_url(core, pushed, "multi", pushed.index))
    platforms = page.locator("#artifact-platforms")
    expect(platforms.get_by_role("link")).to_have_count(2)
    platforms.get_by_role("link", name="linux/arm64").click()
    expect(page.locator("#artifact-digest")).to_have_text(pushed.children[1])
    page.go_back()
    expect(page.locator("#artifact-digest")).to_have_text(pushed.index)


def test_a_chart_page_shows_its_readme_and_values_as_text(page: Page, core: Site, pushed: Pushed) -> None:
    logged_in(page, core, "admin", "Harbor12345")
    page.goto(artifact_url(core, pushed, "chart", pushed.chart))
    expect(page.locator("#chart-readme")).to_contain_text(HOSTILE)
    expect(page.locator("#chart-values")).to_contain_text("replicaCount: 1")
    expect(page.locator("#artifact-tags")).to_contain_text("helm pull oci://")
    assert page.evaluate("window.__pwned === undefined")
    assert page.locator("#chart-readme script, #chart-readme img").count() == 0


def test_a_refusal_of_the_api_is_shown_as_its_message(
    page: Page, core: Site, pushed: Pushed, tolerated: list[str]
) -> None:
    """The admin may remove tags, but not an immutable one: the page says what the API said (412)."""
    tolerated.append("412")  # the refused DELETE's answer, which the browser logs
    rule = {
        "disabled": False,
        "action": "immutable",
        "template": "immutable_template",
        "params": {},
        "priority": 0,
        "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "v1"}],
        "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]},
    }
    with core.client(ADMIN) as admin:
        assert admin.post(f"/projects/{pushed.project}/immutabletagrules", json=rule).status_code == 201
    logged_in(page, core, "admin", "Harbor12345")
    page.goto(artifact_url(core, pushed, "app", pushed.image))
    expect(page.locator('.tag-row[data-tag="v1"] .badge.immutable')).to_have_text("immutable")
    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Remove tag v1").click()
    expect(page.locator(".artifact-page .notice.error")).to_contain_text("Could not remove the tag v1: the tag v1")
    assert tags_of(core, pushed, pushed.image) == ["v1"]
