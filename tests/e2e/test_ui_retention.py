"""End-to-end: a project's Tag Retention in the Policy tab, in a real headless Chromium against the whole
stack (see test_ui_browser.py), whose jobservice really runs the retention jobs. A project admin adds a
rule (which creates the project's policy: its retention_id names it), sees it worded as Harbor words it, a
rule without its number is refused in the dialog; a dry run's history row is polled until it succeeds, its
task retained 2 of 4 and its log names the two oldest as what would be removed, and nothing is removed; RUN
NOW asks first (Cancel starts nothing) and then removes the two oldest; the rule is edited, disabled and
enabled, a Daily schedule is set and kept after a reload, and the rule is deleted, each step checked in the
API. A run held in a paused queue is stopped from the history. A guest has no retention section."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.harness.oci import push_image
from tests.harness.plugin import RegistryEndpoint

from .test_ui_browser import PW, Site, add_user, browser, core
from .test_ui_quotas_policy import add_member, log_in_as, new_project, project_admin_on_policy_tab, unique
from .test_ui_repositories import page, tolerated

__all__ = ["browser", "core", "page", "tolerated"]  # the fixtures this module shares with the other UI tests

pytestmark = pytest.mark.e2e

ADMIN = ("admin", "Harbor12345")
# Jobs run on a loaded 2-core CI machine: every expectation of something asynchronous gets this long.
TIMEOUT_MS = 60_000
GUEST = 3
REPO = "web"
STARTED = re.compile(r"(?:Dry run|Run) (\d+) started\.")
ANY_TIME = re.compile(r"\d")
DURATION = re.compile(r"^(\d+[hm] )*\d+s$")


@pytest.fixture(autouse=True)
def _patience() -> None:
    expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture
def retention_queue_resumed(core: Site) -> Iterator[None]:
    """Whatever a test leaves paused, the next one finds the retention queue running."""
    yield
    with core.client(ADMIN) as admin:
        assert admin.put("/jobservice/queues/RETENTION", json={"action": "resume"}).status_code == 200


def project_with_images(core: Site, registry_endpoint: RegistryEndpoint) -> tuple[str, int]:
    """A new project whose repository `web` holds four images, tagged v1 (the oldest) to v4."""
    project, project_id = new_project(core)
    with registry_endpoint.client() as registry:
        for i in range(1, 5):
            push_image(registry, f"{project}/{REPO}", f"v{i}", layers=[f"{project} layer {i}".encode()])
    return project, project_id


def tags_left(core: Site, project: str) -> list[str]:
    with core.client(ADMIN) as admin:
        r = admin.get(f"/projects/{project}/repositories/{REPO}/artifacts", params={"page_size": 10})
        assert r.status_code == 200, r.text
        return sorted(t["name"] for a in r.json() for t in a.get("tags") or [])


def retention_id(core: Site, project: str) -> int:
    with core.client(ADMIN) as admin:
        r = admin.get(f"/projects/{project}/metadatas/retention_id")
        assert r.status_code == 200, r.text
        return int(r.json()["retention_id"])


def policy_of(core: Site, policy_id: int) -> dict[str, Any]:
    with core.client(ADMIN) as admin:
        r = admin.get(f"/retentions/{policy_id}")
        assert r.status_code == 200, r.text
        policy: dict[str, Any] = r.json()
        return policy


def runs_of(core: Site, policy_id: int) -> list[dict[str, Any]]:
    with core.client(ADMIN) as admin:
        r = admin.get(f"/retentions/{policy_id}/executions")
        assert r.status_code == 200, r.text
        runs: list[dict[str, Any]] = r.json()
        return runs


def start_run(page: Page, button: Locator) -> int:
    """Clicks DRY RUN or RUN NOW and returns the new run's id from the notice next to them."""
    status = page.locator("#retention-run-status")
    button.click()
    expect(status).to_have_text(STARTED)
    found = STARTED.fullmatch(status.inner_text())
    assert found is not None
    return int(found.group(1))


def history_row(page: Page, run_id: int) -> Locator:
    return page.locator(f"#retention-history > tbody > tr[data-id='{run_id}']")


def open_tasks(page: Page, run_id: int) -> Locator:
    """Opens a run's tasks under its row; their table."""
    toggle = history_row(page, run_id).get_by_role("button", name="Tasks")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    return page.locator(f"#retention-tasks-{run_id}")


def read_log(page: Page, core: Site, task: Locator) -> dict[str, str]:
    """The task's log, fetched with the page's session (its link opens it in a new tab): tag → its line."""
    log = task.get_by_role("link", name="Log")
    expect(log).to_have_attribute("target", "_blank")
    href = log.get_attribute("href")
    assert href is not None
    response = page.request.get(core.url + href)
    assert response.status == 200, response.text()
    assert response.headers["content-type"].startswith("text/plain")
    lines = response.text().splitlines()
    assert len(lines) == 4, lines
    by_tag: dict[str, str] = {}
    for line in lines:
        tags = re.search(r" tags=(\S+) ", line)
        assert tags is not None, line
        by_tag[tags.group(1)] = line
    return by_tag


def test_a_project_admin_dry_runs_runs_edits_schedules_and_deletes_a_retention_rule(
    page: Page, core: Site, registry_endpoint: RegistryEndpoint, tolerated: list[str]
) -> None:
    tolerated.append("400")  # the refused rule's answer, which the browser logs
    project, project_id = project_with_images(core, registry_endpoint)
    project_admin_on_policy_tab(page, core, project, project_id)
    section = page.locator("#tag-retention")
    expect(section.get_by_role("heading", name=re.compile("^Tag Retention"))).to_be_visible()
    rules = page.locator("#retention-rules tbody")
    expect(rules).to_have_text("No rules.")
    expect(page.locator("#retention-count")).to_have_text("0/15")
    expect(page.locator("#retention-schedule-current")).to_have_text("No schedule.")
    run_now, dry_run = section.get_by_role("button", name="RUN NOW"), section.get_by_role("button", name="DRY RUN")
    expect(run_now).to_be_disabled()
    expect(dry_run).to_be_disabled()
    expect(page.locator("#retention-history tbody")).to_have_text("No runs yet.")
    status = page.locator("#retention-status")

    # Add: the template is the metadata's, its number required; without it the API's refusal is in the dialog.
    section.get_by_role("button", name="Add rule").click()
    dialog = page.locator("#retention-rule-dialog")
    expect(dialog.locator("h2")).to_have_text("Add Tag Retention Rule")
    expect(page.locator("#retention-template")).to_have_value("latestPushedK")
    expect(page.locator("#retention-template option")).to_contain_text(
        ["retain the most recently pushed # artifacts", "retain always"]
    )
    expect(page.locator("#retention-repo-pattern")).to_have_value("**")
    expect(page.locator("#retention-tag-pattern")).to_have_value("**")
    expect(page.locator("#retention-untagged")).to_be_checked()
    expect(dialog.get_by_label("Count", exact=True)).to_be_visible()
    page.select_option("#retention-template", "always")
    expect(page.locator("#retention-param")).to_have_count(0)
    page.select_option("#retention-template", "latestPushedK")
    dialog.get_by_role("button", name="Add").click()
    error = page.locator("#retention-rule-dialog-status")
    expect(error).to_have_attribute("role", "alert")
    expect(error).to_have_text(
        "Could not add the rule: rules[0].params.latestPushedK is required for template latestPushedK"
    )
    with core.client(ADMIN) as admin:  # refused: no policy was made
        assert admin.get(f"/projects/{project}/metadatas/retention_id").status_code == 404
    page.fill("#retention-param", "2")
    dialog.get_by_role("button", name="Add").click()
    expect(dialog).to_have_count(0)
    expect(status).to_have_text("Rule added.")
    row = rules.locator("tr")
    expect(row).to_have_count(1)
    expect(row.locator("td.rule")).to_have_text(
        "For the repositories matching **, retain the most recently pushed 2 artifacts with tags matching **"
        " including untagged artifacts"
    )
    expect(row.locator("td.state")).to_have_text("Enabled")
    expect(page.locator("#retention-count")).to_have_text("1/15")
    # The first rule created the project's policy.
    policy_id = retention_id(core, project)
    policy = policy_of(core, policy_id)
    assert policy["scope"] == {"level": "project", "ref": project_id}
    assert policy["trigger"]["settings"]["cron"] == ""
    (rule,) = policy["rules"]
    assert rule["template"] == "latestPushedK" and rule["params"] == {"latestPushedK": 2}
    assert rule["disabled"] is False and rule["action"] == "retain"
    assert rule["tag_selectors"] == [
        {"kind": "doublestar", "decoration": "matches", "pattern": "**", "extras": '{"untagged":true}'}
    ]
    assert rule["scope_selectors"] == {
        "repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**", "extras": ""}]
    }

    # DRY RUN: its row is read again until it succeeds; its one task retained 2 of 4; nothing removed.
    dry = start_run(page, dry_run)
    dry_row = history_row(page, dry)
    expect(dry_row.locator("td")).to_have_text(
        [str(dry), "Success", "Yes", "Manual", ANY_TIME, DURATION, "Tasks", ""], timeout=TIMEOUT_MS * 2
    )
    tasks = open_tasks(page, dry)
    task = tasks.locator("tbody tr")
    expect(task).to_have_count(1)
    expect(task.locator("td")).to_have_text([f"{project}/{REPO}", "Success", "2", "4", ANY_TIME, DURATION, "Log"])
    log = read_log(page, core, task)
    for tag in ("v1", "v2"):
        assert "WOULD BE REMOVED: no rule retains it" in log[tag], log
    for tag in ("v3", "v4"):
        assert " RETAINED: " in log[tag], log
    assert tags_left(core, project) == ["v1", "v2", "v3", "v4"]
    (listed,) = runs_of(core, policy_id)
    assert listed["id"] == dry and listed["dry_run"] is True and listed["status"] == "Success"

    # RUN NOW asks first: Cancel starts nothing.
    page.once("dialog", lambda confirm: confirm.dismiss())
    run_now.click()
    assert len(runs_of(core, policy_id)) == 1
    page.once("dialog", lambda confirm: confirm.accept())
    now = start_run(page, run_now)
    assert now > dry
    now_row = history_row(page, now)
    expect(now_row.locator("td")).to_have_text(
        [str(now), "Success", "No", "Manual", ANY_TIME, DURATION, "Tasks", ""], timeout=TIMEOUT_MS * 2
    )
    expect(page.locator("#retention-history > tbody > tr[data-id]")).to_have_count(2)
    # The dry run's tasks stayed open while the history was read again.
    expect(tasks.locator("tbody tr td").nth(2)).to_have_text("2")
    now_task = open_tasks(page, now).locator("tbody tr")
    expect(now_task.locator("td")).to_have_text([f"{project}/{REPO}", "Success", "2", "4", ANY_TIME, DURATION, "Log"])
    log = read_log(page, core, now_task)
    assert "REMOVED: no rule retains it" in log["v1"] and "WOULD BE" not in log["v1"], log
    assert tags_left(core, project) == ["v3", "v4"]

    # Edit the number; disable and enable: each a PUT of the whole policy, the rule keeping its id.
    row.get_by_role("button", name="Edit").click()
    expect(dialog.locator("h2")).to_have_text("Edit Tag Retention Rule")
    expect(page.locator("#retention-param")).to_have_value("2")
    expect(page.locator("#retention-untagged")).to_be_checked()
    page.fill("#retention-param", "3")
    dialog.get_by_role("button", name="Save").click()
    expect(status).to_have_text("Rule saved.")
    expect(row.locator("td.rule")).to_have_text(
        "For the repositories matching **, retain the most recently pushed 3 artifacts with tags matching **"
        " including untagged artifacts"
    )
    (edited,) = policy_of(core, policy_id)["rules"]
    assert edited["id"] == rule["id"] and edited["params"] == {"latestPushedK": 3}
    assert retention_id(core, project) == policy_id
    row.get_by_role("button", name="Disable").click()
    expect(status).to_have_text("Rule disabled.")
    expect(row.locator("td.state")).to_have_text("Disabled")
    (disabled,) = policy_of(core, policy_id)["rules"]
    assert disabled["disabled"] is True and disabled["params"] == {"latestPushedK": 3}
    row.get_by_role("button", name="Enable").click()
    expect(status).to_have_text("Rule enabled.")
    expect(row.locator("td.state")).to_have_text("Enabled")
    assert policy_of(core, policy_id)["rules"][0]["disabled"] is False

    # A Daily schedule, kept after a reload.
    schedule = page.locator("#retention-schedule")
    cron = page.locator("#retention-schedule-cron")
    expect(cron).to_be_hidden()
    page.select_option("#retention-schedule-type", "Daily")
    schedule.get_by_role("button", name="Save").click()
    expect(page.locator("#retention-schedule-status")).to_have_text("Schedule saved.")
    current = page.locator("#retention-schedule-current")
    expect(current).to_have_text("Schedule: Daily (0 0 0 * * *)")
    assert policy_of(core, policy_id)["trigger"]["settings"]["cron"] == "0 0 0 * * *"
    page.reload()
    expect(current).to_have_text("Schedule: Daily (0 0 0 * * *)")
    expect(page.locator("#retention-schedule-type")).to_have_value("Daily")
    expect(row.locator("td.state")).to_have_text("Enabled")
    expect(page.locator("#retention-history > tbody > tr[data-id]")).to_have_count(2)

    # Delete: the policy stays, with no rule (and its schedule), as Harbor keeps it.
    page.once("dialog", lambda confirm: confirm.accept())
    row.get_by_role("button", name="Delete").click()
    expect(status).to_have_text("Rule deleted.")
    expect(rules).to_have_text("No rules.")
    expect(page.locator("#retention-count")).to_have_text("0/15")
    expect(run_now).to_be_disabled()
    kept = policy_of(core, policy_id)
    assert kept["rules"] == [] and kept["trigger"]["settings"]["cron"] == "0 0 0 * * *"


def test_a_run_held_in_a_paused_queue_is_stopped_from_the_history(
    page: Page, core: Site, registry_endpoint: RegistryEndpoint, retention_queue_resumed: None
) -> None:
    project, project_id = project_with_images(core, registry_endpoint)
    with core.client(ADMIN) as admin:
        assert admin.put("/jobservice/queues/RETENTION", json={"action": "pause"}).status_code == 200
    project_admin_on_policy_tab(page, core, project, project_id)
    section = page.locator("#tag-retention")
    section.get_by_role("button", name="Add rule").click()
    page.select_option("#retention-template", "nothing")
    page.locator("#retention-rule-dialog").get_by_role("button", name="Add").click()
    expect(page.locator("#retention-rules td.rule")).to_have_text(
        "For the repositories matching **, retain none with tags matching ** including untagged artifacts"
    )

    page.once("dialog", lambda confirm: confirm.accept())
    run_id = start_run(page, section.get_by_role("button", name="RUN NOW"))
    row = history_row(page, run_id)
    expect(row.locator("td").nth(1)).to_have_text("Pending")
    expect(row.locator("td").nth(5)).to_have_text("")  # no duration before it ends
    row.get_by_role("button", name="Stop").click()
    expect(page.locator("#retention-run-status")).to_have_text(f"Stop of run {run_id} requested.")
    expect(row.locator("td").nth(1)).to_have_text("Stopped")
    expect(row.get_by_role("button", name="Stop")).to_have_count(0)
    (stopped,) = runs_of(core, retention_id(core, project))
    assert stopped["status"] == "Stopped"
    assert tags_left(core, project) == ["v1", "v2", "v3", "v4"]


def test_a_guest_has_no_tag_retention(page: Page, core: Site, tolerated: list[str]) -> None:
    tolerated.append("status of 403")  # the project page's probe of the Logs tab, which a guest may not read
    project, project_id = new_project(core)
    name = unique("guest")
    add_user(core, name)
    add_member(core, project, name, GUEST)
    log_in_as(page, core, name, PW)
    page.goto(f"{core.url}/harbor/projects/{project_id}")
    tabs = page.locator("#project-tabs")
    expect(tabs.get_by_role("link", name="Repositories")).to_be_visible()
    expect(tabs.get_by_role("link", name="Policy")).to_have_count(0)
    # Reached by its address, the tab has no section for a guest.
    page.goto(f"{core.url}/harbor/projects/{project_id}/policy")
    expect(page.locator(".policy")).to_have_text("Your role in this project has no policies to show.")
    expect(page.locator("#tag-retention")).to_have_count(0)
