"""End-to-end: the Configuration page (Administration) in a real headless Chromium against the whole stack (see
test_ui_browser.py): the administrator reads the stored values, changes some and saves only those (in their
JSON types, or the API would refuse them), a refused value shows the API's message and stores nothing;
the banner message and read-only mode show as banners on every page, for every logged-in user, at once
after the save, and read-only mode really refuses writes; a user who is not an administrator has no
Configuration."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from tests.harness.oci import push_image
from tests.harness.plugin import RegistryEndpoint
from tests.harness.slapd import PEOPLE, READER_DN, READER_PASSWORD, SlapdServer
from tests.harness.waiting import eventually
from tests.integration.core.test_configurations import DEFAULTS
from tests.integration.core.test_configurations_auth import LDAP_DEFAULTS
from tests.integration.ldap.conftest import start_slapd

from .test_ui_browser import PW, Site, add_user, browser, core, log_in
from .test_ui_repositories import page, tolerated

__all__ = ["browser", "core", "page", "tolerated"]  # the fixtures this module shares with the other UI tests

pytestmark = pytest.mark.e2e

ADMIN = ("admin", "Harbor12345")
# A loaded 2-core CI machine: every expectation of something asynchronous gets this long.
TIMEOUT_MS = 30_000
READ_ONLY = "The system is in read only mode. Any modification is prohibited."
GIB = 2**30
# The keys of the Authentication tab (robot_name_prefix is a System Setting, as in Harbor); the password
# is drawn there too, never filled.
AUTHENTICATION_TAB = [k for k in LDAP_DEFAULTS if k != "robot_name_prefix"]


@pytest.fixture(autouse=True)
def _patience() -> None:
    expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture(autouse=True)
def defaults_restored(core: Site) -> Iterator[None]:
    """Whatever a test changes, the next one (and the next module) finds the defaults."""
    yield
    with core.client(ADMIN) as admin:
        r = admin.put("/configurations", json=DEFAULTS)
        assert r.status_code == 200, r.text


def stored(core: Site) -> dict[str, Any]:
    with core.client(ADMIN) as admin:
        r = admin.get("/configurations")
        assert r.status_code == 200, r.text
        return {k: v["value"] for k, v in r.json().items()}


def log_in_as(page: Page, core: Site, name: str, password: str) -> None:
    log_in(page, core, name, password)
    expect(page.locator("header .username")).to_have_text(name)


def log_out(page: Page) -> None:
    page.get_by_role("button", name="Log out").click()
    expect(page.locator("form.login")).to_be_visible()


def new_user(core: Site) -> str:
    name = f"cfg-{uuid.uuid4().hex[:8]}"
    add_user(core, name)
    return name


def open_configuration(page: Page, core: Site) -> None:
    page.goto(core.url + "/harbor/configs")
    expect(page.locator("h1")).to_have_text("Configuration")
    expect(setting(page, "session_timeout")).to_have_value(re.compile(r"\d"))


def setting(page: Page, key: str) -> Locator:
    return page.locator(f"#config-{key}")


def upload_answers(registry: httpx.Client, repo: str, status: int) -> bool:
    """Whether starting a blob upload (the first step of a push) answers `status`."""
    return registry.post(f"/v2/{repo}/blobs/uploads/").status_code == status


def save(page: Page) -> None:
    """Saves and waits until the page says so (drawn anew, with the systeminfo read again)."""
    # An earlier save's notice stays until the next page is drawn: it must not pass for this one's.
    expect(page.get_by_role("status")).to_have_count(0)
    page.locator("#config-save").click()
    expect(page.get_by_role("status")).to_have_text("Configuration saved.")


def test_admin_reads_the_stored_values_saves_changes_and_they_stay(page: Page, core: Site) -> None:
    log_in_as(page, core, "admin", "Harbor12345")
    nav = page.get_by_role("group", name="Administration")
    expect(nav.get_by_role("link")).to_have_text(
        [
            "Users",
            "Robot Accounts",
            "Registries",
            "Replications",
            "Labels",
            "Project Quotas",
            "Clean Up",
            "Job Service Dashboard",
            "Configuration",
        ]
    )
    nav.get_by_role("link", name="Configuration").click()
    expect(page).to_have_url(re.compile(r"/harbor/configs$"))
    expect(page.locator("#config-tabs [aria-current=page]")).to_have_text("System Settings")

    # The stored values (the defaults), each in its input; only the keys the page knows are drawn.
    expect(setting(page, "project_creation_restriction")).to_have_value("everyone")
    expect(page.get_by_label("Allow Self-Registration")).not_to_be_checked()
    expect(page.get_by_label("Token Expiration (Minutes)")).to_have_value("30")
    expect(setting(page, "robot_token_duration")).to_have_value("30")
    expect(setting(page, "session_timeout")).to_have_value("60")
    expect(setting(page, "storage_per_project")).to_have_value("-1")
    expect(setting(page, "storage_per_project-unit")).to_have_value(str(GIB))
    expect(setting(page, "banner_message")).to_have_value("")
    expect(setting(page, "audit_log_forward_endpoint")).to_have_value("")
    expect(setting(page, "skip_audit_log_database")).not_to_be_checked()
    expect(page.get_by_label("Repository Read Only")).not_to_be_checked()
    expect(page.locator("#config-form .setting")).to_have_count(len(DEFAULTS) - len(AUTHENTICATION_TAB))

    # Save waits for a change; undoing it is no change.
    save_button = page.locator("#config-save")
    expect(save_button).to_be_disabled()
    page.get_by_label("Allow Self-Registration").check()
    expect(save_button).to_be_enabled()
    page.get_by_label("Allow Self-Registration").uncheck()
    expect(save_button).to_be_disabled()

    # Cancel puts the stored values back.
    setting(page, "token_expiration").fill("45")
    expect(save_button).to_be_enabled()
    page.locator("#config-cancel").click()
    expect(setting(page, "token_expiration")).to_have_value("30")
    expect(save_button).to_be_disabled()

    page.get_by_label("Allow Self-Registration").check()
    page.select_option("#config-project_creation_restriction", label="Admin Only")
    setting(page, "robot_token_duration").fill("7")
    setting(page, "storage_per_project").fill("10")
    page.select_option("#config-storage_per_project-unit", label="GiB")
    save(page)

    page.reload()
    expect(page.get_by_label("Allow Self-Registration")).to_be_checked()
    expect(setting(page, "project_creation_restriction")).to_have_value("adminonly")
    expect(setting(page, "robot_token_duration")).to_have_value("7")
    expect(setting(page, "storage_per_project")).to_have_value("10")
    expect(setting(page, "storage_per_project-unit")).to_have_value(str(GIB))
    expect(save_button).to_be_disabled()
    # In their JSON types, and nothing else touched.
    assert stored(core) == {
        **DEFAULTS,
        "self_registration": True,
        "project_creation_restriction": "adminonly",
        "robot_token_duration": 7,
        "storage_per_project": 10 * GIB,
    }


def test_the_banner_message_shows_on_every_page_for_every_user(page: Page, core: Site) -> None:
    name = new_user(core)
    log_in_as(page, core, "admin", "Harbor12345")
    banner = page.locator("#message-banner")
    open_configuration(page, core)
    expect(banner).to_have_count(0)
    # Text, never markup.
    message = "Maintenance at 18:00 <b>today</b>"
    setting(page, "banner_message").fill(message)
    save(page)
    expect(banner).to_have_text(message)
    expect(banner.locator("b")).to_have_count(0)
    page.get_by_role("link", name="Projects").click()
    expect(page.locator("#projects")).to_contain_text("library")
    expect(banner).to_have_text(message)
    log_out(page)

    log_in_as(page, core, name, PW)
    expect(page.locator("#projects")).to_contain_text("library")
    expect(banner).to_have_text(message)
    page.locator("header .username").click()
    expect(page.locator("h1")).to_have_text(f"Change the password of {name}")
    expect(banner).to_have_text(message)
    log_out(page)

    # Emptied: gone at once.
    log_in_as(page, core, "admin", "Harbor12345")
    open_configuration(page, core)
    setting(page, "banner_message").fill("")
    save(page)
    expect(banner).to_have_count(0)
    assert stored(core) == DEFAULTS


def test_read_only_mode_shows_on_every_page_and_refuses_writes_until_it_is_off(
    page: Page, core: Site, registry_endpoint: RegistryEndpoint
) -> None:
    name = new_user(core)
    project = f"ro-{uuid.uuid4().hex[:8]}"
    with core.client(ADMIN) as admin:
        assert admin.post("/projects", json={"project_name": project}).status_code == 201
    with registry_endpoint.client() as registry:
        push_image(registry, f"{project}/web", "v1")

    log_in_as(page, core, "admin", "Harbor12345")
    banner = page.locator("#read-only-banner")
    open_configuration(page, core)
    expect(banner).to_have_count(0)
    page.get_by_label("Repository Read Only").check()
    save(page)
    expect(banner).to_have_text(READ_ONLY)
    expect(page.get_by_label("Repository Read Only")).to_be_checked()
    for path, heading in [("/harbor/projects", "Projects"), ("/harbor/users", "Users")]:
        page.goto(core.url + path)
        expect(page.locator("h1")).to_have_text(heading)
        expect(banner).to_have_text(READ_ONLY)

    # Really read-only: core refuses a repository's delete, the registry a push; reads go on.
    with core.client(ADMIN) as admin, registry_endpoint.client() as registry:
        refused = admin.delete(f"/projects/{project}/repositories/web")
        assert refused.status_code == 405, refused.text
        assert refused.json()["errors"][0]["message"] == READ_ONLY
        assert admin.get(f"/projects/{project}/repositories/web").status_code == 200
        # The registry applies the change on core's notification, within about a second.
        eventually(lambda: upload_answers(registry, f"{project}/web", 405), "the registry refuses pushes")
        assert READ_ONLY in registry.post(f"/v2/{project}/web/blobs/uploads/").text
    log_out(page)

    # Every logged-in user sees it.
    log_in_as(page, core, name, PW)
    expect(page.locator("#projects")).to_contain_text("library")
    expect(banner).to_have_text(READ_ONLY)
    log_out(page)

    # Off: the banner goes at once, and writes work again.
    log_in_as(page, core, "admin", "Harbor12345")
    expect(banner).to_have_text(READ_ONLY)
    open_configuration(page, core)
    page.get_by_label("Repository Read Only").uncheck()
    save(page)
    expect(banner).to_have_count(0)
    page.get_by_role("link", name="Projects").click()
    expect(page.locator("#projects")).to_contain_text("library")
    expect(banner).to_have_count(0)
    with core.client(ADMIN) as admin, registry_endpoint.client() as registry:
        eventually(lambda: upload_answers(registry, f"{project}/web", 202), "the registry takes pushes again")
        deleted = admin.delete(f"/projects/{project}/repositories/web")
        assert deleted.status_code == 200, deleted.text
    assert stored(core) == DEFAULTS


def test_a_refused_value_shows_the_apis_message_and_nothing_changes(
    page: Page, core: Site, tolerated: list[str]
) -> None:
    tolerated.append("400")  # the refused PUTs' answers, which the browser logs
    log_in_as(page, core, "admin", "Harbor12345")
    open_configuration(page, core)
    status = page.locator("#config-status")

    setting(page, "session_timeout").fill("0")
    page.locator("#config-save").click()
    expect(status).to_have_attribute("role", "alert")
    expect(status).to_contain_text("session_timeout")
    # The edit stays for the user to correct; nothing was stored.
    expect(setting(page, "session_timeout")).to_have_value("0")
    assert stored(core) == DEFAULTS

    page.locator("#config-cancel").click()
    expect(setting(page, "session_timeout")).to_have_value("60")
    expect(status).to_be_hidden()
    setting(page, "audit_log_forward_endpoint").fill("syslog://x")
    page.locator("#config-save").click()
    expect(status).to_contain_text("audit_log_forward_endpoint")
    assert stored(core) == DEFAULTS

    # An emptied number is sent as null, which the API names too.
    page.locator("#config-cancel").click()
    expect(setting(page, "audit_log_forward_endpoint")).to_have_value("")
    setting(page, "token_expiration").fill("")
    page.locator("#config-save").click()
    expect(status).to_contain_text("token_expiration")
    assert stored(core) == DEFAULTS

    # After a reload the stored values stand.
    page.reload()
    expect(setting(page, "token_expiration")).to_have_value("30")
    expect(setting(page, "audit_log_forward_endpoint")).to_have_value("")
    expect(setting(page, "session_timeout")).to_have_value("60")


def test_a_user_who_is_not_an_administrator_has_no_configuration(page: Page, core: Site) -> None:
    name = new_user(core)
    log_in_as(page, core, name, PW)
    expect(page.locator("#projects")).to_contain_text("library")
    expect(page.get_by_role("link", name="Configuration")).to_have_count(0)
    for path in ("/harbor/configs", "/harbor/configs/setting"):
        page.goto(core.url + path)
        expect(page).to_have_url(re.compile(r"/harbor/projects$"))
        expect(page.locator("#projects")).to_contain_text("library")
    expect(page.locator("#config-form")).to_have_count(0)


@pytest.fixture(scope="module")
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlapdServer]:
    server = start_slapd(tmp_path_factory.mktemp("slapd"), memberof=False)
    try:
        yield server
    finally:
        server.stop()


def test_the_authentication_tab_tests_the_ldap_server_and_never_shows_the_password(
    page: Page, core: Site, slapd: SlapdServer
) -> None:
    new_user(core)  # so the mode cannot change, whichever test ran before
    log_in_as(page, core, "admin", "Harbor12345")
    page.goto(core.url + "/harbor/configs")
    page.locator("#config-tabs").get_by_role("link", name="Authentication").click()
    expect(page).to_have_url(re.compile(r"/harbor/configs/authentication$"))
    expect(setting(page, "auth_mode")).to_have_value("db_auth")
    # A user exists: the mode cannot change, and the page says so.
    expect(setting(page, "auth_mode")).to_be_disabled()
    expect(setting(page, "ldap_uid")).to_have_value("uid")
    expect(setting(page, "ldap_scope")).to_have_value("2")
    expect(page.locator("#config-form .setting")).to_have_count(len(AUTHENTICATION_TAB) + 1)

    # The form's values as typed, before any save: the real directory answers.
    setting(page, "ldap_url").fill(slapd.url)
    setting(page, "ldap_search_dn").fill(READER_DN)
    setting(page, "ldap_search_password").fill(READER_PASSWORD)
    setting(page, "ldap_base_dn").fill(PEOPLE)
    ping = page.locator("#ldap-ping-status")
    page.locator("#ldap-ping").click()
    expect(ping).to_contain_text("succeeded")
    # A directory that does not answer: the API's message, as data.
    setting(page, "ldap_url").fill("ldap://127.0.0.1:1")
    page.locator("#ldap-ping").click()
    expect(ping).to_contain_text("Failed")
    expect(ping).to_contain_text("127.0.0.1:1")

    # Saved, the password is stored but never drawn again, and the ping uses the stored one.
    setting(page, "ldap_url").fill(slapd.url)
    page.select_option("#config-ldap_scope", label="One Level")
    save(page)
    page.reload()
    expect(setting(page, "ldap_url")).to_have_value(slapd.url)
    expect(setting(page, "ldap_scope")).to_have_value("1")
    expect(setting(page, "ldap_search_password")).to_have_value("")
    page.locator("#ldap-ping").click()
    expect(ping).to_contain_text("succeeded")
    values = stored(core)
    assert "ldap_search_password" not in values and values["ldap_scope"] == 1 and values["ldap_url"] == slapd.url
    with core.client(ADMIN) as admin:
        assert READER_PASSWORD not in admin.get("/configurations").text
        assert admin.put("/configurations", json={"ldap_search_password": ""}).status_code == 200
