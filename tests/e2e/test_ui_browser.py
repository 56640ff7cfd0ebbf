"""End-to-end: the web UI in a real headless Chromium (Debian's /usr/bin/chromium, driven by
Playwright) against the whole stack as `make run` starts it, through the proxy's port only: log in, the
default-password banner, create a project through the form, log out; and a user who is not an
administrator sees no banner.

Chromium is required: if it is missing these tests fail (CI installs it with apt), they are never skipped.
"""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

from tests.harness.stack import StackProcess

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
PW = "Ui-Passw0rd"
TIMEOUT_MS = 15_000  # per expectation; a hang is a failure, never a slow pass


@dataclass(frozen=True)
class Site:
    """Berth as a browser reaches it: the proxy's address (the UI at /, the REST API at /api/v2.0)."""

    url: str

    def client(self, auth: tuple[str, str] | None = None) -> httpx.Client:
        return httpx.Client(base_url=self.url + "/api/v2.0", auth=auth, timeout=30)


@pytest.fixture(scope="module")
def core(stack: StackProcess) -> Site:
    return Site(stack.url)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = shutil.which("chromium") or CHROMIUM
    if not Path(executable).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (Playwright drives Debian's browser)")
    with sync_playwright() as p:
        # Playwright passes --no-sandbox itself (chromium_sandbox=False): these tests run as root.
        launched = p.chromium.launch(executable_path=executable, headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context (no cookies) whose page must not log a script error."""
    context = browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))

    def on_console(msg: ConsoleMessage) -> None:
        # A 401 (a refused login, a session that lapsed) is expected; anything else logged as an error is a bug.
        if msg.type == "error" and "401" not in msg.text:
            errors.append(msg.text)

    tab.on("console", on_console)
    try:
        yield tab
    finally:
        context.close()
    assert errors == []


def add_user(core: Site, name: str) -> None:
    # Through the API: the database helpers run their own event loop, which Playwright's sync API
    # (holding one in this thread) does not allow.
    with core.client(("admin", "Harbor12345")) as admin:
        r = admin.post("/users", json={"username": name, "email": f"{name}@example.com", "password": PW})
        assert r.status_code == 201, r.text


def log_in(page: Page, core: Site, name: str, password: str) -> None:
    page.goto(core.url + "/")
    expect(page).to_have_title("Berth")
    page.fill("#principal", name)
    page.fill("#password", password)
    page.click("form.login button[type=submit]")


def test_admin_logs_in_sees_the_banner_creates_a_project_and_logs_out(page: Page, core: Site) -> None:
    expect.set_options(timeout=TIMEOUT_MS)
    log_in(page, core, "admin", "not-the-password")
    expect(page.get_by_role("alert")).to_have_text("Invalid user name or password.")

    page.fill("#principal", "admin")
    page.fill("#password", "Harbor12345")
    page.click("form.login button[type=submit]")
    expect(page.locator("header .username")).to_have_text("admin")
    expect(page).to_have_url(re.compile(r"/harbor/projects$"))
    banner = page.locator("#default-password-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("Harbor12345")
    expect(page.locator("#projects")).to_contain_text("library")

    name = f"ui-{uuid.uuid4().hex[:8]}"
    page.fill("#new-project-name", name)
    page.click("#new-project button[type=submit]")
    expect(page.get_by_role("status")).to_have_text(f"Project {name} created.")
    expect(page.locator("#projects")).to_contain_text(name)
    page.fill("#project-filter", name)
    expect(page.locator("#projects tbody tr")).to_have_count(1)

    # Its page opens on the (empty) repositories; its members list the creator as project admin; a deep
    # link reload lands on the same page.
    page.get_by_role("link", name=name).click()
    expect(page.locator("h1")).to_have_text(f"Project {name}")
    expect(page.locator("#repositories")).to_contain_text("No repositories.")
    page.locator("#project-tabs").get_by_role("link", name="Members").click()
    expect(page).to_have_url(re.compile(r"/harbor/projects/\d+/members$"))
    expect(page.locator("#members")).to_contain_text("Project Admin")
    page.reload()
    expect(page.locator("h1")).to_have_text(f"Project {name}")

    page.get_by_role("button", name="Log out").click()
    expect(page.locator("form.login")).to_be_visible()
    expect(page.locator("header")).to_have_count(0)
    # The session is really gone: a reload still shows the login page.
    page.reload()
    expect(page.locator("form.login")).to_be_visible()


def test_a_user_who_is_not_an_administrator_sees_no_banner(page: Page, core: Site) -> None:
    expect.set_options(timeout=TIMEOUT_MS)
    name = f"dev-{uuid.uuid4().hex[:8]}"
    add_user(core, name)
    log_in(page, core, name, PW)
    expect(page.locator("header .username")).to_have_text(name)
    expect(page.locator("#projects")).to_contain_text("library")
    expect(page.locator("#default-password-banner")).to_have_count(0)
    expect(page.get_by_role("link", name="Users")).to_have_count(0)


def test_admin_manages_users_and_members_and_text_stays_text(page: Page, core: Site) -> None:
    expect.set_options(timeout=TIMEOUT_MS)
    suffix = uuid.uuid4().hex[:8]
    name = f"new-{suffix}"
    log_in(page, core, "admin", "Harbor12345")
    page.get_by_role("link", name="Users").click()
    page.fill("#new-user-name", name)
    page.fill("#new-user-email", f"{name}@example.com")
    page.fill("#new-user-realname", "<img src=x onerror=alert(1)>")
    page.fill("#new-user-password", PW)
    page.click("#new-user button[type=submit]")
    expect(page.get_by_role("status")).to_have_text(f"User {name} created.")
    row = page.locator("#users tbody tr", has_text=name)
    # Data is text, never markup.
    expect(row).to_contain_text("<img src=x onerror=alert(1)>")
    expect(page.locator("#users img")).to_have_count(0)
    row.get_by_role("button", name="Make admin").click()
    expect(page.locator("#users tbody tr", has_text=name)).to_contain_text("Revoke admin")

    page.get_by_role("link", name="Projects").click()
    page.get_by_role("link", name="library").click()
    page.locator("#project-tabs").get_by_role("link", name="Members").click()
    page.fill("#member-username", name)
    page.select_option("#member-role", "3")
    page.click("#add-member button[type=submit]")
    member = page.locator("#members tbody tr", has_text=name)
    expect(member).to_contain_text("Guest")
    page.once("dialog", lambda dialog: dialog.accept())
    member.get_by_role("button", name="Remove").click()
    expect(page.get_by_role("status")).to_have_text(f"{name} removed.")
    expect(page.locator("#members tbody tr", has_text=name)).to_have_count(0)


def test_changing_the_admin_password_removes_the_banner(page: Page, core: Site) -> None:
    expect.set_options(timeout=TIMEOUT_MS)
    new = "Ui-Admin-Passw0rd"
    log_in(page, core, "admin", "Harbor12345")
    banner = page.locator("#default-password-banner")
    banner.get_by_role("link").click()
    page.fill("#old-password", "Harbor12345")
    page.fill("#new-password", new)
    page.fill("#new-password-again", new)
    page.click("#change-password button[type=submit]")
    try:
        expect(page.get_by_role("status")).to_have_text("Your password was changed.")
        expect(banner).to_have_count(0)
    finally:
        # Back to the default for whatever runs next against this core.
        with core.client(("admin", new)) as admin:
            admin.put("/users/1/password", json={"old_password": new, "new_password": "Harbor12345"})
