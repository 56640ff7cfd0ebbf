"""End-to-end: project quotas and the Policy tab in a real headless Chromium against the whole stack (see
test_ui_browser.py). The administrator changes a project's limit on the Project Quotas page (kept
after a reload, sorted by use as the API sorts it, a refused limit shows the API's message in the dialog),
creates a project with a 1 GiB quota from the New Project form (which starts from storage_per_project), and
after a push the project's quota bar shows the bytes the registry counted, on its page, in the project list
and on Project Quotas. A user who is not an administrator has no Project Quotas, no Storage column and no
quota field, but sees a project's bar from its summary. A project admin adds, edits, disables, enables and
deletes a tag immutability rule in the Policy tab, each step checked in GET immutabletagrules."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.harness.oci import push_image
from tests.harness.plugin import RegistryEndpoint

from .test_ui_browser import PW, Site, add_user, browser, core, log_in
from .test_ui_repositories import page, tolerated

__all__ = ["browser", "core", "page", "tolerated"]  # the fixtures this module shares with the other UI tests

pytestmark = pytest.mark.e2e

ADMIN = ("admin", "Harbor12345")
# A loaded 2-core CI machine: every expectation of something asynchronous gets this long.
TIMEOUT_MS = 30_000
GIB = 2**30
UNLIMITED = -1
PROJECT_ADMIN, DEVELOPER = 1, 2


@pytest.fixture(autouse=True)
def _patience() -> None:
    expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture
def default_quota(core: Site) -> Iterator[int]:
    """storage_per_project at 5 GiB for the test, unlimited again (the default) after it."""
    with core.client(ADMIN) as admin:
        assert admin.put("/configurations", json={"storage_per_project": 5 * GIB}).status_code == 200
    try:
        yield 5 * GIB
    finally:
        with core.client(ADMIN) as admin:
            assert admin.put("/configurations", json={"storage_per_project": UNLIMITED}).status_code == 200


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def new_project(core: Site, storage_limit: int | None = None) -> tuple[str, int]:
    name = unique("qp")
    body: dict[str, Any] = {"project_name": name, "metadata": {"public": "false"}}
    if storage_limit is not None:
        body["storage_limit"] = storage_limit
    with core.client(ADMIN) as admin:
        r = admin.post("/projects", json=body)
        assert r.status_code == 201, r.text
        return name, admin.get(f"/projects/{name}").json()["project_id"]


def quota_of(core: Site, project_id: int) -> dict[str, Any]:
    with core.client(ADMIN) as admin:
        r = admin.get("/quotas", params={"reference": "project", "reference_id": project_id})
        assert r.status_code == 200, r.text
        (quota,) = r.json()
        assert isinstance(quota, dict)
        return quota


def quota_names(core: Site, sort: str) -> list[str]:
    with core.client(ADMIN) as admin:
        r = admin.get("/quotas", params={"reference": "project", "sort": sort, "page_size": 15})
        assert r.status_code == 200, r.text
        return [q["ref"]["name"] for q in r.json()]


def rules_of(core: Site, project: str) -> list[dict[str, Any]]:
    with core.client(ADMIN) as admin:
        r = admin.get(f"/projects/{project}/immutabletagrules")
        assert r.status_code == 200, r.text
        rules: list[dict[str, Any]] = r.json()
        return rules


def selectors(rule: dict[str, Any]) -> tuple[tuple[str, str], tuple[str, str]]:
    """(repository decoration, pattern), (tag decoration, pattern) of a rule."""
    (repository,) = rule["scope_selectors"]["repository"]
    (tag,) = rule["tag_selectors"]
    assert repository["kind"] == tag["kind"] == "doublestar"
    return (repository["decoration"], repository["pattern"]), (tag["decoration"], tag["pattern"])


def add_member(core: Site, project: str, name: str, role_id: int) -> None:
    with core.client(ADMIN) as admin:
        r = admin.post(f"/projects/{project}/members", json={"role_id": role_id, "member_user": {"username": name}})
        assert r.status_code == 201, r.text


def log_in_as(page: Page, core: Site, name: str, password: str) -> None:
    log_in(page, core, name, password)
    expect(page.locator("header .username")).to_have_text(name)


def project_admin_on_policy_tab(page: Page, core: Site, project: str, project_id: int) -> None:
    name = unique("pa")
    add_user(core, name)
    add_member(core, project, name, PROJECT_ADMIN)
    log_in_as(page, core, name, PW)
    page.goto(f"{core.url}/harbor/projects/{project_id}")
    page.locator("#project-tabs").get_by_role("link", name="Policy").click()
    expect(page).to_have_url(re.compile(rf"/harbor/projects/{project_id}/policy$"))


def open_project_quotas(page: Page) -> None:
    page.get_by_role("group", name="Administration").get_by_role("link", name="Project Quotas").click()
    expect(page).to_have_url(re.compile(r"/harbor/project-quotas$"))
    expect(page.locator("h1")).to_have_text("Project Quotas")


def quota_row(page: Page, project: str) -> Locator:
    return page.locator(f'#quotas tbody tr[data-project="{project}"]')


def open_quota_dialog(page: Page, project: str) -> Locator:
    quota_row(page, project).get_by_role("button", name="Edit").click()
    dialog = page.locator("#quota-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("h2")).to_have_text(f"Edit the quota of {project}")
    return dialog


def test_the_administrator_changes_a_projects_limit_on_project_quotas_and_sees_it_after_a_reload(
    page: Page, core: Site
) -> None:
    project, project_id = new_project(core)
    log_in_as(page, core, "admin", "Harbor12345")
    open_project_quotas(page)
    default = page.locator("#quota-default")
    expect(default).to_have_text("New projects get Unlimited by default, as System Settings in Configuration say.")
    row = quota_row(page, project)
    expect(row.locator("td.owner")).to_have_text("admin")
    expect(row.locator(".quota-text")).to_have_text("0 B of Unlimited")
    expect(row.locator("meter")).to_have_count(0)

    # Unlimited ticked, the number waits; 2 GiB instead.
    dialog = open_quota_dialog(page, project)
    expect(page.locator("#quota-hard-unlimited")).to_be_checked()
    expect(page.locator("#quota-hard")).to_be_disabled()
    page.locator("#quota-hard-unlimited").uncheck()
    page.fill("#quota-hard", "2")
    page.select_option("#quota-hard-unit", label="GiB")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_have_count(0)
    expect(page.locator("#quota-status")).to_have_text(f"The quota of {project} is now 2 GiB.")
    expect(row.locator(".quota-text")).to_have_text("0 B of 2 GiB")
    expect(row.locator("meter")).to_have_attribute("max", str(2 * GIB))
    assert quota_of(core, project_id)["hard"]["storage"] == 2 * GIB

    page.reload()
    expect(row.locator(".quota-text")).to_have_text("0 B of 2 GiB")
    dialog = open_quota_dialog(page, project)
    expect(page.locator("#quota-hard")).to_have_value("2")
    expect(page.locator("#quota-hard-unit")).to_have_value(str(GIB))
    expect(page.locator("#quota-hard-unlimited")).not_to_be_checked()
    # 512 MiB, then unlimited again.
    page.fill("#quota-hard", "512")
    page.select_option("#quota-hard-unit", label="MiB")
    dialog.get_by_role("button", name="Save").click()
    expect(row.locator(".quota-text")).to_have_text("0 B of 512 MiB")
    assert quota_of(core, project_id)["hard"]["storage"] == 512 * 2**20
    dialog = open_quota_dialog(page, project)
    page.locator("#quota-hard-unlimited").check()
    dialog.get_by_role("button", name="Save").click()
    expect(row.locator(".quota-text")).to_have_text("0 B of Unlimited")
    assert quota_of(core, project_id)["hard"]["storage"] == UNLIMITED

    # Cancel changes nothing.
    dialog = open_quota_dialog(page, project)
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_have_count(0)

    # Sorted by used storage as the API sorts it, largest first, then smallest first; the name links to
    # the project.
    names = page.locator("#quotas tbody td.name")
    expect(names).to_have_text(quota_names(core, "-used.storage"))
    sort = page.locator("#quota-sort")
    sort.click()
    expect(page.locator("#quotas th[aria-sort]")).to_have_attribute("aria-sort", "ascending")
    expect(names).to_have_text(quota_names(core, "used.storage"))
    row.get_by_role("link", name=project).click()
    expect(page).to_have_url(re.compile(rf"/harbor/projects/{project_id}$"))
    expect(page.locator("h1")).to_have_text(f"Project {project}")


def test_an_invalid_limit_shows_the_apis_error_in_the_dialog_and_changes_nothing(
    page: Page, core: Site, tolerated: list[str]
) -> None:
    tolerated.append("400")  # the refused updates' answers, which the browser logs
    project, project_id = new_project(core, storage_limit=GIB)
    log_in_as(page, core, "admin", "Harbor12345")
    open_project_quotas(page)
    dialog = open_quota_dialog(page, project)
    expect(page.locator("#quota-hard")).to_have_value("1")
    page.fill("#quota-hard", "-5")
    dialog.get_by_role("button", name="Save").click()
    error = page.locator("#quota-dialog-status")
    expect(error).to_have_attribute("role", "alert")
    expect(error).to_have_text(
        f"Could not change the quota of {project}: hard.storage must be -1 (unlimited) or a number of bytes"
        f" from 0 to 2^62, not {-5 * GIB}"
    )
    # Still open, with what was typed, for the user to correct.
    expect(dialog).to_be_visible()
    expect(page.locator("#quota-hard")).to_have_value("-5")
    page.fill("#quota-hard", "")
    dialog.get_by_role("button", name="Save").click()
    expect(error).to_have_text(
        f"Could not change the quota of {project}: hard.storage must be an integer: -1 (unlimited) or a number of bytes"
    )
    assert quota_of(core, project_id)["hard"]["storage"] == GIB
    dialog.get_by_role("button", name="Cancel").click()
    expect(quota_row(page, project).locator(".quota-text")).to_have_text("0 B of 1 GiB")


def test_a_project_created_with_a_1_gib_quota_shows_it_on_the_quotas_page(
    page: Page, core: Site, default_quota: int
) -> None:
    name = unique("new")
    log_in_as(page, core, "admin", "Harbor12345")
    # The form starts from storage_per_project (5 GiB here).
    expect(page.locator("#new-project-quota")).to_have_value("5")
    expect(page.locator("#new-project-quota-unit")).to_have_value(str(GIB))
    expect(page.locator("#new-project-quota-unlimited")).not_to_be_checked()
    page.fill("#new-project-name", name)
    page.fill("#new-project-quota", "1")
    page.click("#new-project button[type=submit]")
    expect(page.get_by_role("status")).to_have_text(f"Project {name} created.")
    # Back to the default for the next one.
    expect(page.locator("#new-project-quota")).to_have_value("5")
    page.fill("#project-filter", name)
    row = page.locator(f'#projects tbody tr[data-name="{name}"]')
    expect(row.locator("td.storage .quota-text")).to_have_text("0 B of 1 GiB")
    with core.client(ADMIN) as admin:
        project_id = admin.get(f"/projects/{name}").json()["project_id"]
    assert quota_of(core, project_id)["hard"]["storage"] == GIB

    open_project_quotas(page)
    expect(quota_row(page, name).locator(".quota-text")).to_have_text("0 B of 1 GiB")

    # Unlimited from the form too.
    unlimited = unique("new")
    page.get_by_role("link", name="Projects", exact=True).click()
    page.fill("#new-project-name", unlimited)
    page.locator("#new-project-quota-unlimited").check()
    page.click("#new-project button[type=submit]")
    expect(page.get_by_role("status")).to_have_text(f"Project {unlimited} created.")
    with core.client(ADMIN) as admin:
        project_id = admin.get(f"/projects/{unlimited}").json()["project_id"]
    assert quota_of(core, project_id)["hard"]["storage"] == UNLIMITED


def test_a_push_makes_the_projects_quota_bar_show_the_bytes_counted(
    page: Page, core: Site, registry_endpoint: RegistryEndpoint
) -> None:
    project, project_id = new_project(core, storage_limit=GIB)
    with registry_endpoint.client() as registry:
        push_image(registry, f"{project}/apps/web", "v1")
    used = quota_of(core, project_id)["used"]["storage"]
    assert 0 < used < 1024, used  # a config, one small layer and the manifest: shown in bytes
    shown = f"{used} B of 1 GiB"

    log_in_as(page, core, "admin", "Harbor12345")
    page.goto(f"{core.url}/harbor/projects/{project_id}")
    bar = page.locator("#project-quota")
    expect(bar).to_be_visible()
    expect(bar.locator(".quota-text")).to_have_text(shown)
    expect(bar.locator("meter")).to_have_attribute("value", str(used))

    page.goto(f"{core.url}/harbor/projects")
    page.fill("#project-filter", project)
    expect(page.locator(f'#projects tbody tr[data-name="{project}"] td.storage .quota-text')).to_have_text(shown)

    # On Project Quotas it comes first: the largest user.
    open_project_quotas(page)
    expect(quota_row(page, project).locator(".quota-text")).to_have_text(shown)
    expect(page.locator("#quotas tbody td.name")).to_have_text(quota_names(core, "-used.storage"))


def test_a_user_who_is_not_an_administrator_has_no_quota_administration_but_sees_the_projects_bar(
    page: Page, core: Site, registry_endpoint: RegistryEndpoint, tolerated: list[str]
) -> None:
    tolerated.append("status of 403")  # the project page's probe of the Logs tab, which a developer may not read
    project, project_id = new_project(core, storage_limit=GIB)
    with registry_endpoint.client() as registry:
        push_image(registry, f"{project}/apps/web", "v1")
    used = quota_of(core, project_id)["used"]["storage"]
    name = unique("dev")
    add_user(core, name)
    add_member(core, project, name, DEVELOPER)

    log_in_as(page, core, name, PW)
    expect(page.locator("#projects")).to_contain_text(project)
    expect(page.locator("#projects thead th")).to_have_text(["Name", "Access", "My role", "Repositories", "Created"])
    expect(page.locator("#new-project")).to_be_visible()
    expect(page.locator("#new-project-quota")).to_have_count(0)
    expect(page.get_by_role("group", name="Administration")).to_have_count(0)
    expect(page.get_by_role("link", name="Project Quotas")).to_have_count(0)
    page.goto(core.url + "/harbor/project-quotas")
    expect(page).to_have_url(re.compile(r"/harbor/projects$"))
    expect(page.locator("#projects")).to_contain_text(project)
    expect(page.locator("#quotas")).to_have_count(0)

    # The project's own bar comes from its summary, which a member may read.
    page.goto(f"{core.url}/harbor/projects/{project_id}")
    expect(page.locator("#project-quota .quota-text")).to_have_text(f"{used} B of 1 GiB")
    # A developer may read retention, not immutability: the Policy tab has the one section only.
    page.locator("#project-tabs").get_by_role("link", name="Policy").click()
    expect(page).to_have_url(re.compile(rf"/harbor/projects/{project_id}/policy$"))
    expect(page.get_by_role("heading", name=re.compile("^Tag Retention"))).to_be_visible()
    expect(page.locator("#tag-immutability")).to_have_count(0)


def test_a_project_admin_adds_edits_disables_and_deletes_an_immutability_rule(
    page: Page, core: Site, tolerated: list[str]
) -> None:
    tolerated.append("409")  # the refused duplicate's answer, which the browser logs
    project, project_id = new_project(core)
    project_admin_on_policy_tab(page, core, project, project_id)
    # Tag Retention first (test_ui_retention.py), then the immutability rules.
    expect(page.locator("#tag-retention").get_by_role("heading", name=re.compile("^Tag Retention"))).to_be_visible()
    section = page.locator("#tag-immutability")
    expect(section.get_by_role("heading", name=re.compile("^Tag Immutability"))).to_be_visible()
    rules = page.locator("#immutable-rules tbody")
    expect(rules).to_have_text("No rules.")
    expect(page.locator("#immutable-count")).to_have_text("0/15")
    status = page.locator("#immutable-status")

    # Add: repositories matching apps/**, tags matching v1 or v2 (Harbor's comma list, sent as {v1,v2}).
    add = section.get_by_role("button", name="Add rule")
    add.click()
    dialog = page.locator("#immutable-rule-dialog")
    expect(dialog.locator("h2")).to_have_text("Add Tag Immutability Rule")
    expect(page.locator("#immutable-repo-pattern")).to_have_value("**")
    expect(page.locator("#immutable-tag-pattern")).to_have_value("**")
    page.fill("#immutable-repo-pattern", "apps/**")
    page.fill("#immutable-tag-pattern", "v1, v2")
    dialog.get_by_role("button", name="Add").click()
    expect(dialog).to_have_count(0)
    expect(status).to_have_text("Rule added.")
    row = page.locator("#immutable-rules tbody tr")
    expect(row).to_have_count(1)
    expect(row.locator("td.rule")).to_have_text("For the repositories matching apps/**, tags matching v1,v2")
    expect(row.locator("td.state")).to_have_text("Enabled")
    expect(page.locator("#immutable-count")).to_have_text("1/15")
    (rule,) = rules_of(core, project)
    assert selectors(rule) == (("repoMatches", "apps/**"), ("matches", "{v1,v2}"))
    assert rule["disabled"] is False and rule["action"] == "immutable" and rule["template"] == "immutable_template"

    # The same rule again: the API's refusal, in the dialog; still one rule.
    add.click()
    page.fill("#immutable-repo-pattern", "apps/**")
    page.fill("#immutable-tag-pattern", "v1,v2")
    dialog.get_by_role("button", name="Add").click()
    error = page.locator("#immutable-rule-dialog-status")
    expect(error).to_have_attribute("role", "alert")
    expect(error).to_have_text(
        "Could not add the rule: an immutable tag rule with the same selectors already exists in the project"
    )
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_have_count(0)
    assert len(rules_of(core, project)) == 1

    # Edit: repositories excluding tmp/**, tags excluding latest.
    row.get_by_role("button", name="Edit").click()
    expect(dialog.locator("h2")).to_have_text("Edit Tag Immutability Rule")
    expect(page.locator("#immutable-repo-pattern")).to_have_value("apps/**")
    expect(page.locator("#immutable-tag-pattern")).to_have_value("v1,v2")
    expect(page.locator("#immutable-repo-decoration")).to_have_value("repoMatches")
    page.select_option("#immutable-repo-decoration", label="excluding")
    page.fill("#immutable-repo-pattern", "tmp/**")
    page.select_option("#immutable-tag-decoration", label="excluding")
    page.fill("#immutable-tag-pattern", "latest")
    dialog.get_by_role("button", name="Save").click()
    expect(status).to_have_text("Rule saved.")
    expect(row.locator("td.rule")).to_have_text("For the repositories excluding tmp/**, tags excluding latest")
    (edited,) = rules_of(core, project)
    assert edited["id"] == rule["id"]
    assert selectors(edited) == (("repoExcludes", "tmp/**"), ("excludes", "latest"))

    # Disable, enable: only `disabled` changes.
    row.get_by_role("button", name="Disable").click()
    expect(status).to_have_text("Rule disabled.")
    expect(row.locator("td.state")).to_have_text("Disabled")
    (disabled,) = rules_of(core, project)
    assert disabled["disabled"] is True and selectors(disabled) == selectors(edited)
    row.get_by_role("button", name="Enable").click()
    expect(status).to_have_text("Rule enabled.")
    expect(row.locator("td.state")).to_have_text("Enabled")
    assert rules_of(core, project)[0]["disabled"] is False

    page.once("dialog", lambda confirm: confirm.accept())
    row.get_by_role("button", name="Delete").click()
    expect(status).to_have_text("Rule deleted.")
    expect(rules).to_have_text("No rules.")
    expect(page.locator("#immutable-count")).to_have_text("0/15")
    assert rules_of(core, project) == []
