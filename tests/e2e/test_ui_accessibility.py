"""End-to-end: every page of the UI passes axe-core (the copy bundled by axe-playwright-python) with no
serious or critical violation, in a real headless Chromium against the whole stack (see test_ui_browser.py):
the login page, each page of the sidebar, each tab of a project, a repository and an artifact, as the
system administrator; and a project as a guest. Every page also fits 375 px without sideways scrolling."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.harness.oci import push_image
from tests.harness.plugin import RegistryEndpoint

from .test_ui_browser import PW, Site, add_user, browser, core
from .test_ui_navigation import logged_in
from .test_ui_repositories import page, tolerated

__all__ = ["browser", "core", "page", "tolerated"]  # the fixtures this module shares with the other UI tests

pytestmark = pytest.mark.e2e

ADMIN = ("admin", "Harbor12345")
TIMEOUT_MS = 30_000
SERIOUS = {"serious", "critical"}
GUEST = 3
ADMIN_PAGES = [
    "/harbor/projects",
    "/harbor/logs",
    "/harbor/users",
    "/harbor/robot-accounts",
    "/harbor/registries",
    "/harbor/replications",
    "/harbor/labels",
    "/harbor/project-quotas",
    "/harbor/clearing-job",
    "/harbor/clearing-job/audit-log-purge",
    "/harbor/job-service-dashboard",
    "/harbor/job-service-dashboard/schedules",
    "/harbor/job-service-dashboard/workers",
    "/harbor/configs",
    "/harbor/configs/authentication",
    "/account/password",
]
PROJECT_TABS = ["summary", "repositories", "members", "labels", "policy", "robot-account", "webhook", "logs", "configs"]


@pytest.fixture(autouse=True)
def _patience() -> None:
    expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture(scope="module")
def project(core: Site, registry_endpoint: RegistryEndpoint) -> Iterator[tuple[str, int, str]]:
    """A project with one image: (name, id, digest)."""
    name = f"a11y-{uuid.uuid4().hex[:8]}"
    with core.client(ADMIN) as admin:
        assert admin.post("/projects", json={"project_name": name}).status_code == 201
        project_id = admin.get(f"/projects/{name}").json()["project_id"]
    with registry_endpoint.client() as registry:
        _, digest = push_image(registry, f"{name}/app", "v1", layers=[b"a11y layer"])
    yield name, project_id, digest


def serious_violations(page: Page) -> list[str]:
    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}) on {[n['target'] for n in v['nodes']][:3]}: {v['help']}"
        for v in results.response["violations"]
        if v["impact"] in SERIOUS
    ]


def check(page: Page, url: str) -> list[str]:
    """The page's serious violations and whether it scrolls sideways at 375 px, each named with the URL."""
    page.goto(url)
    expect(page.locator("main h1")).to_be_visible()
    # Let its lists load: a page draws its rows after its API calls. A page that polls (a running job's
    # history) may never fall quiet on a busy machine; it is checked as it stands then.
    with contextlib.suppress(PlaywrightTimeoutError):
        page.wait_for_load_state("networkidle", timeout=10_000)
    found = [f"{url}: {v}" for v in serious_violations(page)]
    page.set_viewport_size({"width": 375, "height": 740})
    width = page.evaluate("document.documentElement.scrollWidth")
    if width > 375:
        found.append(f"{url}: {width} px wide at 375 px")
    page.set_viewport_size({"width": 1280, "height": 800})
    return found


def test_the_login_page_passes_axe(page: Page, core: Site) -> None:
    page.goto(core.url + "/")
    expect(page.locator("#principal")).to_be_visible()
    assert serious_violations(page) == []


def test_every_page_passes_axe_as_the_administrator(page: Page, core: Site, project: tuple[str, int, str]) -> None:
    _, project_id, digest = project
    logged_in(page, core, "admin", "Harbor12345")
    urls = [core.url + p for p in ADMIN_PAGES]
    urls += [f"{core.url}/harbor/projects/{project_id}/{tab}" for tab in PROJECT_TABS]
    urls += [
        f"{core.url}/harbor/projects/{project_id}/repositories/app",
        f"{core.url}/harbor/projects/{project_id}/repositories/app/artifacts-tab/artifacts/{digest}",
    ]
    found = [v for url in urls for v in check(page, url)]
    assert found == [], "\n".join(found)


def test_a_project_passes_axe_as_a_guest(
    page: Page, core: Site, project: tuple[str, int, str], tolerated: list[str]
) -> None:
    tolerated.append("status of 403")  # the project page's probe of the Logs tab, which a guest may not read
    _, project_id, _ = project
    user = f"a11y-guest-{uuid.uuid4().hex[:6]}"
    add_user(core, user)
    with core.client(ADMIN) as admin:
        body = {"role_id": GUEST, "member_user": {"username": user}}
        assert admin.post(f"/projects/{project_id}/members", json=body).status_code == 201
    logged_in(page, core, user, PW)
    found = [
        v
        for tab in ("summary", "repositories", "configs")
        for v in check(page, f"{core.url}/harbor/projects/{project_id}/{tab}")
    ]
    found += check(page, f"{core.url}/harbor/projects")
    assert found == [], "\n".join(found)


def test_the_check_finds_a_serious_violation_when_there_is_one(page: Page, core: Site) -> None:
    """The check itself can fail: an image without a text alternative is axe's critical image-alt."""
    page.goto(core.url + "/")
    expect(page.locator("#principal")).to_be_visible()
    script = "document.querySelector('main').append(Object.assign(document.createElement('img'), {src: '/x.svg'}))"
    page.evaluate(script)
    assert any(v.startswith("image-alt (critical)") for v in serious_violations(page))
