"""End-to-end: Harbor's navigation in a real headless Chromium against the whole stack (see
test_ui_browser.py). The sidebar holds Projects and Logs, and the Administration group for the system
administrator only, with the current page marked; the Logs page lists the audit log newest first and filters
it; a deep link reloads to the same page and the back button returns. A project's Summary tab shows its
repositories, quota and members by role; its Configuration tab saves the project's metadata (checked in the
API) for a project admin and shows it read-only to a guest. At 375 px the sidebar sits above the page."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import Browser, Page, expect

from .test_ui_browser import PW, Site, add_user, browser, core, log_in
from .test_ui_repositories import page, tolerated

__all__ = ["browser", "core", "page", "tolerated"]  # the fixtures this module shares with the other UI tests

pytestmark = pytest.mark.e2e

ADMIN = ("admin", "Harbor12345")
TIMEOUT_MS = 30_000
GUEST = 3


@pytest.fixture(autouse=True)
def _patience() -> None:
    expect.set_options(timeout=TIMEOUT_MS)


def logged_in(page: Page, core: Site, name: str, password: str) -> None:
    """Logged in, and the session is there before the test goes to another page."""
    log_in(page, core, name, password)
    expect(page.locator("header .username")).to_have_text(name)


def new_project(core: Site) -> tuple[str, int]:
    name = f"nav-{uuid.uuid4().hex[:8]}"
    with core.client(ADMIN) as admin:
        assert admin.post("/projects", json={"project_name": name}).status_code == 201
        return name, admin.get(f"/projects/{name}").json()["project_id"]


def test_the_sidebar_the_logs_page_deep_links_and_the_back_button(page: Page, core: Site) -> None:
    name, _ = new_project(core)
    logged_in(page, core, "admin", "Harbor12345")
    sidebar = page.get_by_role("navigation", name="main")
    expect(sidebar.get_by_role("link", name="Projects", exact=True)).to_have_attribute("aria-current", "page")
    # The Administration group is the sidebar's (its links: test_ui_config.py).
    admin_group = sidebar.get_by_role("group", name="Administration")
    expect(admin_group.get_by_role("link", name="Users", exact=True)).to_be_visible()

    sidebar.get_by_role("link", name="Logs", exact=True).click()
    expect(page).to_have_url(re.compile(r"/harbor/logs$"))
    expect(page.locator("h1")).to_have_text("Logs")
    page.select_option("#audit-logs-filter-key", "resource")
    page.fill("#audit-logs-filter", name)
    row = page.locator("#audit-logs tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("create")
    expect(row).to_contain_text("admin")
    expect(sidebar.get_by_role("link", name="Logs", exact=True)).to_have_attribute("aria-current", "page")

    # A deep link reloads to the same page; back returns to the one before.
    page.reload()
    expect(page.locator("h1")).to_have_text("Logs")
    admin_group.get_by_role("link", name="Users", exact=True).click()
    expect(page).to_have_url(re.compile(r"/harbor/users$"))
    page.go_back()
    expect(page).to_have_url(re.compile(r"/harbor/logs$"))
    expect(page.locator("h1")).to_have_text("Logs")


def test_a_guest_has_no_administration_and_sees_the_configuration_read_only(
    page: Page, core: Site, tolerated: list[str]
) -> None:
    tolerated.append("status of 403")  # the project page's probe of the Logs tab, which a guest may not read
    _, project_id = new_project(core)
    user = f"guest-{uuid.uuid4().hex[:6]}"
    add_user(core, user)
    with core.client(ADMIN) as admin:
        body = {"role_id": GUEST, "member_user": {"username": user}}
        assert admin.post(f"/projects/{project_id}/members", json=body).status_code == 201
    logged_in(page, core, user, PW)
    expect(page.get_by_role("navigation", name="main").get_by_role("link", name="Logs", exact=True)).to_be_visible()
    expect(page.get_by_role("group", name="Administration")).to_have_count(0)
    page.goto(f"{core.url}/harbor/projects/{project_id}/configs")
    expect(page.locator("#config-public")).to_be_disabled()
    expect(page.locator("#project-configuration")).to_contain_text("Only a project admin may change")


def test_the_summary_and_configuration_tabs_of_a_project(page: Page, core: Site) -> None:
    _, project_id = new_project(core)
    logged_in(page, core, "admin", "Harbor12345")
    page.goto(f"{core.url}/harbor/projects/{project_id}/summary")
    tabs = page.locator("#project-tabs")
    expect(tabs.get_by_role("link", name="Summary")).to_have_attribute("aria-current", "page")
    summary = page.locator("#project-summary")
    expect(summary).to_contain_text("Private")
    expect(summary).to_contain_text("Repositories")
    expect(summary).to_contain_text("Project admins: 1")

    tabs.get_by_role("link", name="Configuration").click()
    expect(page).to_have_url(re.compile(rf"/harbor/projects/{project_id}/configs$"))
    expect(page.locator("#config-public")).not_to_be_checked()
    page.check("#config-public")
    page.check("#config-auto_scan")
    page.select_option("#config-severity", "high")
    page.locator("#project-configuration").get_by_role("button", name="Save").click()
    expect(page.locator("#project-configuration")).to_contain_text("Configuration saved.")
    with core.client(ADMIN) as admin:
        metadata = admin.get(f"/projects/{project_id}").json()["metadata"]
    assert (metadata["public"], metadata["auto_scan"], metadata["severity"]) == ("true", "true", "high"), metadata
    page.reload()
    expect(page.locator("#config-public")).to_be_checked()
    tabs.get_by_role("link", name="Summary").click()
    expect(page.locator("#project-summary")).to_contain_text("Public")


def test_at_375_px_the_sidebar_sits_above_the_page(page: Page, core: Site) -> None:
    page.set_viewport_size({"width": 375, "height": 740})
    logged_in(page, core, "admin", "Harbor12345")
    sidebar = page.get_by_role("navigation", name="main")
    expect(sidebar).to_be_visible()
    main = page.locator("main")
    expect(main.locator("h1")).to_have_text("Projects")
    nav_box, main_box = sidebar.bounding_box(), main.bounding_box()
    assert nav_box is not None and main_box is not None
    assert nav_box["y"] + nav_box["height"] <= main_box["y"] + 1, (nav_box, main_box)
    # Nothing wider than the screen: no sideways scrolling.
    assert page.evaluate("document.documentElement.scrollWidth") <= 375


def test_the_login_page_loads_without_a_console_error(browser: Browser, core: Site) -> None:
    """Not even the 401 of a probe for a session (the page fixture lets 401s pass; this test does not)."""
    context = browser.new_context()
    try:
        tab = context.new_page()
        errors: list[str] = []
        tab.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        tab.on("pageerror", lambda exc: errors.append(str(exc)))
        tab.goto(core.url + "/harbor/projects")
        expect(tab.locator("#principal")).to_be_visible()
        logged_in(tab, core, "admin", "Harbor12345")
        tab.get_by_role("button", name="Log out").click()
        expect(tab.locator("#principal")).to_be_visible()
        assert errors == []
    finally:
        context.close()


def test_a_dialog_opened_from_the_keyboard_keeps_focus_and_gives_it_back(page: Page, core: Site) -> None:
    logged_in(page, core, "admin", "Harbor12345")
    page.goto(f"{core.url}/harbor/project-quotas")
    edit = page.locator("#quotas tbody").get_by_role("button", name="Edit").first
    edit.focus()
    # The focus is drawn: an outline of its own, not the browser's absence of one.
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"
    page.keyboard.press("Enter")
    dialog = page.locator("dialog[open]")
    expect(dialog).to_be_visible()
    for _ in range(8):  # around the dialog's controls and back: the focus never leaves it
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.closest('dialog[open]') !== null")
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    assert page.evaluate("document.activeElement.textContent") == "Edit"


def test_a_session_that_ends_mid_page_leads_to_the_login_page_and_back(page: Page, core: Site) -> None:
    logged_in(page, core, "admin", "Harbor12345")
    page.goto(f"{core.url}/harbor/logs")
    expect(page.locator("h1")).to_have_text("Logs")
    # Ended elsewhere (another tab logged out): the page's next call is refused.
    page.evaluate("fetch('/c/log_out', {credentials: 'same-origin'})")
    page.fill("#audit-logs-filter", "anything")
    expect(page.locator("#principal")).to_be_visible()
    expect(page.get_by_role("status")).to_have_text("Your session has ended. Log in again to go on.")
    expect(page).to_have_url(re.compile(r"/harbor/logs$"))
    page.fill("#principal", "admin")
    page.fill("#password", "Harbor12345")
    page.click("form.login button[type=submit]")
    expect(page.locator("h1")).to_have_text("Logs")
    expect(page).to_have_url(re.compile(r"/harbor/logs$"))
