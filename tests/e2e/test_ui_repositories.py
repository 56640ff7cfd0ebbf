"""End-to-end: browsing and deleting what was pushed, in a real headless Chromium against the whole stack
(see test_ui_browser.py): a project's repositories, a repository's artifacts and tags, deleting a tag and
an artifact (gone from the registry too), the project's audit log, the header's search; and a guest who
sees the repositories but no button to delete them or their artifacts and tags."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect

from services.common.oci import mediatypes as mt
from tests.harness.oci import push_image, push_manifest
from tests.harness.plugin import RegistryEndpoint

from .test_ui_browser import PW, TIMEOUT_MS, Site, add_user, browser, core, log_in

__all__ = ["browser", "core"]  # the fixtures this module shares with test_ui_browser.py

pytestmark = pytest.mark.e2e

ADMIN = ("admin", "Harbor12345")


@dataclass(frozen=True)
class Pushed:
    project: str
    project_id: int
    repo: str  # inside the project: "apps/web"
    tagged: str  # the digest tagged v1 and v2
    single: str  # the digest tagged latest

    @property
    def full(self) -> str:
        return f"{self.project}/{self.repo}"


@pytest.fixture
def tolerated() -> list[str]:
    """Console errors a test expects (a guest's refused DELETE logs its 403); anything else fails it."""
    return []


@pytest.fixture
def page(browser: Browser, tolerated: list[str]) -> Iterator[Page]:
    context = browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))

    def on_console(msg: ConsoleMessage) -> None:
        if msg.type == "error" and "401" not in msg.text:
            errors.append(msg.text)

    tab.on("console", on_console)
    try:
        yield tab
    finally:
        context.close()
    assert [e for e in errors if not any(t in e for t in tolerated)] == []


@pytest.fixture
def pushed(core: Site, registry_endpoint: RegistryEndpoint) -> Pushed:
    """A new project with apps/web holding two images: one tagged v1 and v2, the other latest."""
    project = f"rp-{uuid.uuid4().hex[:8]}"
    with core.client(ADMIN) as admin:
        r = admin.post("/projects", json={"project_name": project, "metadata": {"public": "false"}})
        assert r.status_code == 201, r.text
        project_id = admin.get(f"/projects/{project}").json()["project_id"]
    repo = f"{project}/apps/web"
    with registry_endpoint.client() as registry:
        arm = json.dumps({"architecture": "arm64", "os": "linux"}).encode()
        manifest, tagged = push_image(registry, repo, "v1", config=arm, layers=[b"layer one" * 500])
        assert push_manifest(registry, repo, "v2", manifest, mt.OCI_MANIFEST).status_code == 201
        _, single = push_image(registry, repo, "latest", layers=[b"layer two"])
    return Pushed(project, project_id, "apps/web", tagged, single)


def wait_for_log(core: Site, project: str, operation: str, resource_type: str) -> None:
    """Audit entries may be written after the registry answered: wait (bounded) until the API lists one."""
    deadline = time.monotonic() + 15
    with core.client(ADMIN) as admin:
        while True:
            entries = admin.get(f"/projects/{project}/logs", params={"page_size": 100}).json()
            if any(e["operation"] == operation and e["resource_type"] == resource_type for e in entries):
                return
            assert time.monotonic() < deadline, f"no {operation} {resource_type} entry in {entries}"
            time.sleep(0.2)


def test_admin_browses_deletes_a_tag_and_an_artifact_and_reads_the_log(
    page: Page, core: Site, registry_endpoint: RegistryEndpoint, pushed: Pushed
) -> None:
    expect.set_options(timeout=TIMEOUT_MS)
    log_in(page, core, "admin", "Harbor12345")
    page.fill("#project-filter", pushed.project)
    page.get_by_role("link", name=pushed.project).click()

    # The project opens on its repositories: the one pushed, with its two artifacts.
    expect(page).to_have_url(re.compile(rf"/harbor/projects/{pushed.project_id}/repositories$"))
    row = page.locator("#repositories tbody tr", has_text=pushed.full)
    expect(row.locator("td").nth(1)).to_have_text("2")
    page.fill("#repo-filter", "no-such-repo")
    expect(page.locator("#repositories tbody")).to_have_text("No repositories.")
    page.fill("#repo-filter", "apps")
    page.get_by_role("link", name=pushed.full).click()

    # Its page, whose path keeps the slash of apps/web, lists both artifacts; a reload lands there again.
    expect(page).to_have_url(re.compile(rf"/harbor/projects/{pushed.project_id}/repositories/apps/web$"))
    page.reload()
    expect(page.locator("h1")).to_have_text(f"Repository {pushed.full}")
    artifacts = page.locator("#artifacts tbody tr")
    expect(artifacts).to_have_count(2)
    tagged = page.locator(f'#artifacts tr[data-digest="{pushed.tagged}"]')
    single = page.locator(f'#artifacts tr[data-digest="{pushed.single}"]')
    expect(tagged.locator("td.digest")).to_have_text(pushed.tagged[:19])
    expect(tagged.locator("td.tags .tag")).to_have_count(2)
    expect(tagged).to_contain_text("v1")
    expect(tagged).to_contain_text("v2")
    expect(tagged).to_contain_text("linux/arm64")
    expect(tagged).to_contain_text("KiB")
    expect(single).to_contain_text("latest")
    expect(single).to_contain_text("IMAGE")

    # Remove the tag v2 (after the confirmation): only v1 is left, in the page and in the API.
    page.once("dialog", lambda dialog: dialog.accept())
    tagged.get_by_role("button", name="Remove tag v2").click()
    expect(page.get_by_role("status")).to_have_text("Tag v2 removed.")
    expect(tagged.locator("td.tags .tag")).to_have_count(1)
    expect(tagged).not_to_contain_text("v2")
    expect(tagged).to_contain_text("v1")
    with core.client(ADMIN) as admin:
        r = admin.get(f"/projects/{pushed.project}/repositories/apps%252Fweb/artifacts/{pushed.tagged}/tags")
        assert [t["name"] for t in r.json()] == ["v1"], r.text

    # Delete the other artifact: gone from the list, and the registry no longer serves its manifest.
    page.once("dialog", lambda dialog: dialog.accept())
    single.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("status")).to_have_text(f"Artifact {pushed.single[:19]} deleted.")
    expect(artifacts).to_have_count(1)
    expect(single).to_have_count(0)
    with registry_endpoint.client() as registry:
        headers = {"Accept": mt.OCI_MANIFEST}
        assert registry.get(f"/v2/{pushed.full}/manifests/{pushed.single}", headers=headers).status_code == 404
        assert registry.get(f"/v2/{pushed.full}/manifests/{pushed.tagged}", headers=headers).status_code == 200

    # The project's log, newest first: the pushes and the deletions, all by admin.
    for operation, resource_type in [("create", "artifact"), ("delete", "tag"), ("delete", "artifact")]:
        wait_for_log(core, pushed.project, operation, resource_type)
    page.get_by_role("link", name=f"Project {pushed.project}").click()
    page.locator("#project-tabs").get_by_role("link", name="Logs").click()
    expect(page).to_have_url(re.compile(rf"/harbor/projects/{pushed.project_id}/logs$"))
    logs = page.locator("#logs tbody tr")
    # Newest first. The registry GET above is a pull, recorded up to a second later (pulls are flushed
    # once a second), so it may be newer than the delete: the newest entry that is not a pull is a delete.
    expect(logs.filter(has_not_text="pull").first).to_contain_text("delete")
    expect(logs.filter(has_text="create").filter(has_text=f"{pushed.full}")).not_to_have_count(0)
    expect(logs.filter(has_text="delete").filter(has_text="admin")).to_have_count(2)
    expect(logs.filter(has_text=re.compile(r"^(?!.*admin)"))).to_have_count(0)

    # The header's search finds the repository and opens it.
    page.fill("#global-search", pushed.project)
    results = page.locator("#search-results")
    expect(results.get_by_role("link", name=pushed.project, exact=True)).to_be_visible()
    results.get_by_role("link", name=pushed.full).click()
    expect(page.locator("h1")).to_have_text(f"Repository {pushed.full}")
    expect(page.locator("#artifacts tbody tr")).to_have_count(1)


def test_a_guest_sees_the_repositories_but_may_not_delete_them(
    page: Page, core: Site, pushed: Pushed, tolerated: list[str]
) -> None:
    expect.set_options(timeout=TIMEOUT_MS)
    tolerated.append("status of 403")  # the project page's probe of the Logs tab, which a guest may not read
    name = f"guest-{uuid.uuid4().hex[:8]}"
    add_user(core, name)
    with core.client(ADMIN) as admin:
        r = admin.post(f"/projects/{pushed.project}/members", json={"role_id": 3, "member_user": {"username": name}})
        assert r.status_code == 201, r.text
    with core.client((name, PW)) as guest:
        guest_reads_logs = guest.get(f"/projects/{pushed.project}/logs").status_code == 200

    log_in(page, core, name, PW)
    expect(page.locator("header .username")).to_have_text(name)
    page.goto(f"{core.url}/harbor/projects/{pushed.project_id}/repositories")
    row = page.locator("#repositories tbody tr", has_text=pushed.full)
    expect(row.locator("td").nth(1)).to_have_text("2")
    # The Logs tab is offered exactly when the API lets this user read the log.
    expect(page.locator("#project-tabs").get_by_role("link", name="Logs")).to_have_count(int(guest_reads_logs))

    # No button the API would refuse (users/current/permissions): no Delete, no tag removal.
    expect(row.get_by_role("link", name=pushed.full)).to_be_visible()
    expect(row.get_by_role("button", name="Delete")).to_have_count(0)

    row.get_by_role("link", name=pushed.full).click()
    expect(page.locator("#artifacts tbody tr")).to_have_count(2)
    expect(page.locator("#artifacts").get_by_role("button", name="Delete")).to_have_count(0)
    expect(page.locator("#artifacts .remove-tag")).to_have_count(0)
    expect(page.locator("#artifacts .copy-pull").first).to_be_visible()
    with core.client(ADMIN) as admin:
        assert admin.get(f"/projects/{pushed.project}/repositories/apps%252Fweb").json()["artifact_count"] == 2
