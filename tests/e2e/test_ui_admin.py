"""End-to-end: the Administration pages in a real headless Chromium against the whole stack (see
test_ui_browser.py), whose jobservice really runs the jobs: Clean Up (garbage collection run now and as a
dry run, its history polled until the runs succeed, their logs, its schedule; the audit log purge) and the
Job Service Dashboard (pausing a queue holds its jobs, stopping one, pausing every schedule, the worker
pools); and a user who is not an administrator sees none of it."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import Locator, Page, expect

from .test_ui_browser import PW, Site, add_user, browser, core, log_in
from .test_ui_repositories import page, tolerated

__all__ = ["browser", "core", "page", "tolerated"]  # the fixtures this module shares with the other UI tests

pytestmark = pytest.mark.e2e

ADMIN = ("admin", "Harbor12345")
# Jobs run on a loaded 2-core CI machine: every expectation of something asynchronous gets this long.
TIMEOUT_MS = 30_000
STARTED = re.compile(r"(?:Dry run|Run) (\d+) of .* started\.")


@pytest.fixture(autouse=True)
def _patience() -> None:
    expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture
def admin_page(page: Page, core: Site) -> Page:
    log_in(page, core, "admin", "Harbor12345")
    expect(page.locator("header .username")).to_have_text("admin")
    return page


@pytest.fixture
def gc_queue_resumed(core: Site) -> Iterator[None]:
    """Whatever a test leaves paused, the next one finds every queue running and no schedule left."""
    yield
    with core.client(ADMIN) as admin:
        assert admin.put("/jobservice/queues/all", json={"action": "resume"}).status_code == 200
        assert admin.put("/system/gc/schedule", json={"schedule": {"type": "None"}}).status_code == 200


def admin_nav(page: Page) -> Locator:
    return page.get_by_role("group", name="Administration")


def start_run(page: Page, button: str, prefix: str) -> int:
    """Clicks a run button of the tab `prefix` (gc, purge) and returns the new run's id from its notice."""
    status = page.locator(f"#{prefix}-status")
    page.click(button)
    expect(status).to_have_text(STARTED)
    found = STARTED.fullmatch(status.inner_text())
    assert found is not None
    return int(found.group(1))


def history_row(page: Page, prefix: str, run_id: int) -> Locator:
    return page.locator(f"#{prefix}-history tbody tr[data-id='{run_id}']")


def cells(row: Locator) -> Locator:
    return row.locator("td")


def read_log(page: Page, core: Site, row: Locator) -> str:
    """The run's log, fetched with the page's session (its link opens it in a new tab)."""
    log = row.get_by_role("link", name="Log")
    expect(log).to_have_attribute("target", "_blank")
    href = log.get_attribute("href")
    assert href is not None
    response = page.request.get(core.url + href)
    assert response.status == 200, response.text()
    assert response.headers["content-type"].startswith("text/plain")
    return response.text()


def test_admin_runs_gc_as_a_dry_run_and_now_and_reads_their_logs(admin_page: Page, core: Site) -> None:
    page = admin_page
    admin_nav(page).get_by_role("link", name="Clean Up").click()
    expect(page).to_have_url(re.compile(r"/harbor/clearing-job$"))
    expect(page.locator("h1")).to_have_text("Clean Up")
    expect(page.locator("#cleanup-tabs [aria-current=page]")).to_have_text("Garbage Collection")

    dry = start_run(page, "#gc-dry-run", "gc")
    page.check("#gc-delete-untagged")
    page.select_option("#gc-workers", "2")
    now = start_run(page, "#gc-now", "gc")
    assert now > dry

    # Both are in the history, which the page reads again until they have finished.
    dry_row, now_row = history_row(page, "gc", dry), history_row(page, "gc", now)
    expect(cells(dry_row)).to_have_text(
        [str(dry), "Manual", "Yes", "Success", re.compile(r"\d"), re.compile(r"\d"), "Log", ""]
    )
    expect(cells(now_row)).to_have_text(
        [str(now), "Manual", "No", "Success", re.compile(r"\d"), re.compile(r"\d"), "Log", ""]
    )
    expect(page.locator("#gc-history").get_by_role("button", name="Stop")).to_have_count(0)

    # The runs got the parameters the form said.
    with core.client(ADMIN) as admin:
        params = json.loads(admin.get(f"/system/gc/{now}").json()["job_parameters"])
    assert params["delete_untagged"] is True and params["workers"] == 2 and params["dry_run"] is False

    assert "dry run:" in read_log(page, core, dry_row)
    log = read_log(page, core, now_row)
    assert "deleted 0 untagged artifacts" in log and "marked" in log and "bytes freed" in log

    # The link really opens the log in a tab of its own.
    with page.context.expect_page() as opened:
        now_row.get_by_role("link", name="Log").click()
    expect(opened.value.locator("body")).to_contain_text("bytes freed")
    opened.value.close()


def test_admin_sets_a_custom_gc_schedule_sees_it_after_a_reload_and_removes_it(
    admin_page: Page, core: Site, tolerated: list[str], gc_queue_resumed: None
) -> None:
    tolerated.append("400")  # the refused cron's answer, which the browser logs
    page = admin_page
    page.goto(core.url + "/harbor/clearing-job/gc")
    current = page.locator("#gc-schedule-current")
    expect(current).to_have_text("No schedule.")
    cron = page.locator("#gc-schedule-cron")
    expect(cron).to_be_hidden()

    page.select_option("#gc-schedule-type", "Custom")
    expect(cron).to_be_visible()
    cron.fill("0 0 3 * * *")
    page.locator("#gc-schedule").get_by_role("button", name="Save").click()
    expect(page.locator("#gc-schedule-status")).to_have_text("Schedule saved.")
    expect(current).to_contain_text("Schedule: Custom (0 0 3 * * *)")

    page.reload()
    expect(current).to_contain_text("Schedule: Custom (0 0 3 * * *)")
    expect(page.locator("#gc-next-run")).to_have_text(re.compile(r"\d"))
    expect(page.locator("#gc-schedule-type")).to_have_value("Custom")
    expect(cron).to_have_value("0 0 3 * * *")
    with core.client(ADMIN) as admin:
        schedule = admin.get("/system/gc/schedule").json()
    assert schedule["schedule"]["cron"] == "0 0 3 * * *" and schedule["schedule"]["next_scheduled_time"]

    # Five fields: the API's own words, and the schedule stays as it was.
    cron.fill("0 3 * * *")
    page.locator("#gc-schedule").get_by_role("button", name="Save").click()
    refusal = page.locator("#gc-schedule-status")
    expect(refusal).to_have_attribute("role", "alert")
    expect(refusal).to_contain_text("is not six fields, seconds first")
    expect(current).to_contain_text("Schedule: Custom (0 0 3 * * *)")

    page.select_option("#gc-schedule-type", "None")
    expect(cron).to_be_hidden()
    page.locator("#gc-schedule").get_by_role("button", name="Save").click()
    expect(page.locator("#gc-schedule-status")).to_have_text("Schedule removed.")
    expect(current).to_have_text("No schedule.")
    page.reload()
    expect(current).to_have_text("No schedule.")
    with core.client(ADMIN) as admin:
        assert admin.get("/system/gc/schedule").json() == {}


def test_admin_purges_the_audit_log_as_a_dry_run_and_for_real(admin_page: Page, core: Site) -> None:
    page = admin_page
    page.goto(core.url + "/harbor/clearing-job")
    page.locator("#cleanup-tabs").get_by_role("link", name="Log Rotation").click()
    expect(page).to_have_url(re.compile(r"/harbor/clearing-job/audit-log-purge$"))
    types = page.locator("#purge-event-types")
    # Berth's event types, every one checked at first.
    expect(types.get_by_label("create_artifact")).to_be_checked()
    expect(types.get_by_label("login_user")).to_be_checked()

    page.fill("#purge-retention", "2")
    page.select_option("#purge-retention-unit", "days")
    dry = start_run(page, "#purge-dry-run", "purge")
    row = history_row(page, "purge", dry)
    expect(cells(row).nth(2)).to_have_text("Yes")
    expect(cells(row).nth(3)).to_have_text("Success")
    assert "would be deleted" in read_log(page, core, row)
    with core.client(ADMIN) as admin:
        params = json.loads(admin.get(f"/system/purgeaudit/{dry}").json()["job_parameters"])
    assert params["audit_retention_hour"] == 48 and params["dry_run"] is True
    assert "create_artifact" in params["include_event_types"].split(",")

    # Only the logins older than an hour, for real.
    for box in types.get_by_role("checkbox").all():
        box.uncheck()
    types.get_by_label("login_user").check()
    page.fill("#purge-retention", "1")
    page.select_option("#purge-retention-unit", "hours")
    run = start_run(page, "#purge-now", "purge")
    row = history_row(page, "purge", run)
    expect(cells(row).nth(2)).to_have_text("No")
    expect(cells(row).nth(3)).to_have_text("Success")
    assert "deleted 0 entries" in read_log(page, core, row)
    with core.client(ADMIN) as admin:
        params = json.loads(admin.get(f"/system/purgeaudit/{run}").json()["job_parameters"])
    assert params == {"audit_retention_hour": 1, "include_event_types": "login_user", "dry_run": False}


def test_a_user_who_is_not_an_administrator_has_no_administration(page: Page, core: Site) -> None:
    name = f"dev-{uuid.uuid4().hex[:8]}"
    add_user(core, name)
    log_in(page, core, name, PW)
    expect(page.locator("header .username")).to_have_text(name)
    expect(page.locator("#projects")).to_contain_text("library")
    expect(admin_nav(page)).to_have_count(0)
    expect(page.get_by_text("Administration")).to_have_count(0)
    expect(page.get_by_role("link", name="Clean Up")).to_have_count(0)
    expect(page.get_by_role("link", name="Job Service Dashboard")).to_have_count(0)

    # A deep link to either page lands on the projects instead.
    page.goto(core.url + "/harbor/clearing-job/gc")
    expect(page).to_have_url(re.compile(r"/harbor/projects$"))
    expect(page.locator("#projects")).to_contain_text("library")
    page.goto(core.url + "/harbor/job-service-dashboard/workers")
    expect(page).to_have_url(re.compile(r"/harbor/projects$"))
    expect(page.locator("h1")).not_to_have_text("Job Service Dashboard")


def queue_row(page: Page, job_type: str) -> Locator:
    return page.locator(f"#queues tbody tr[data-job-type='{job_type}']")


def gc_run_from_clean_up(page: Page) -> int:
    page.get_by_role("link", name="Clean Up").click()
    expect(page.locator("#cleanup-tabs [aria-current=page]")).to_have_text("Garbage Collection")
    return start_run(page, "#gc-now", "gc")


def test_a_paused_gc_queue_holds_its_run_until_it_is_resumed(admin_page: Page, gc_queue_resumed: None) -> None:
    page = admin_page
    admin_nav(page).get_by_role("link", name="Job Service Dashboard").click()
    expect(page).to_have_url(re.compile(r"/harbor/job-service-dashboard$"))
    expect(page.locator("#job-service-tabs [aria-current=page]")).to_have_text("Pending Jobs")
    gc = queue_row(page, "GARBAGE_COLLECTION")
    expect(gc.locator("td.paused")).to_have_text("Running")
    expect(queue_row(page, "PURGE_AUDIT_LOG")).to_have_count(1)
    expect(queue_row(page, "SCHEDULER")).to_have_count(1)

    pause = page.locator("#queue-actions").get_by_role("button", name="Pause", exact=True)
    expect(pause).to_be_disabled()
    gc.get_by_role("checkbox").check()
    pause.click()
    expect(page.locator("#queues-status")).to_have_text("Paused: GARBAGE_COLLECTION.")
    expect(gc.locator("td.paused")).to_have_text("Paused")
    expect(queue_row(page, "PURGE_AUDIT_LOG").locator("td.paused")).to_have_text("Running")

    # A run started meanwhile waits: Pending in the history, counted in the queue.
    run = gc_run_from_clean_up(page)
    expect(cells(history_row(page, "gc", run)).nth(3)).to_have_text("Pending")
    page.go_back()
    expect(gc.locator("td.count")).to_have_text("1")
    expect(gc.locator("td.paused")).to_have_text("Paused")

    gc.get_by_role("checkbox").check()
    page.locator("#queue-actions").get_by_role("button", name="Resume", exact=True).click()
    expect(page.locator("#queues-status")).to_have_text("Resumed: GARBAGE_COLLECTION.")
    expect(gc.locator("td.paused")).to_have_text("Running")
    page.go_forward()
    # The resume hands the held run over again at once (within the usual patience, far below REDELIVER_S).
    expect(cells(history_row(page, "gc", run)).nth(3)).to_have_text("Success")


def test_pending_runs_are_stopped_from_the_history_and_with_their_queue(
    admin_page: Page, core: Site, gc_queue_resumed: None
) -> None:
    page = admin_page
    page.goto(core.url + "/harbor/job-service-dashboard/pending-jobs")
    gc = queue_row(page, "GARBAGE_COLLECTION")
    gc.get_by_role("checkbox").check()
    page.locator("#queue-actions").get_by_role("button", name="Pause", exact=True).click()
    expect(gc.locator("td.paused")).to_have_text("Paused")

    # Two runs wait; the history's Stop ends the first.
    first = gc_run_from_clean_up(page)
    second = start_run(page, "#gc-now", "gc")
    first_row, second_row = history_row(page, "gc", first), history_row(page, "gc", second)
    expect(cells(second_row).nth(3)).to_have_text("Pending")
    first_row.get_by_role("button", name="Stop").click()
    expect(page.locator("#gc-status")).to_have_text(f"Stop of run {first} requested.")
    expect(cells(first_row).nth(3)).to_have_text("Stopped")
    expect(first_row.get_by_role("button", name="Stop")).to_have_count(0)

    # The queue's Stop ends the other.
    page.go_back()
    expect(gc.locator("td.count")).to_have_text("1")
    gc.get_by_role("checkbox").check()
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#queue-actions").get_by_role("button", name="Stop", exact=True).click()
    expect(page.locator("#queues-status")).to_have_text("Pending jobs stopped: GARBAGE_COLLECTION.")
    expect(gc.locator("td.count")).to_have_text("0")
    page.go_forward()
    expect(cells(second_row).nth(3)).to_have_text("Stopped")


def test_admin_pauses_and_resumes_every_schedule(admin_page: Page, core: Site, gc_queue_resumed: None) -> None:
    page = admin_page
    with core.client(ADMIN) as admin:
        body = {"schedule": {"type": "Custom", "cron": "0 30 4 * * *"}, "parameters": {"workers": 1}}
        assert admin.put("/system/gc/schedule", json=body).status_code == 200
    page.goto(core.url + "/harbor/job-service-dashboard")
    page.locator("#job-service-tabs").get_by_role("link", name="Schedules").click()
    expect(page).to_have_url(re.compile(r"/harbor/job-service-dashboard/schedules$"))
    schedule = page.locator("#schedules tbody tr", has_text="GARBAGE_COLLECTION")
    expect(schedule).to_contain_text("0 30 4 * * *")

    toggle = page.locator("#scheduler-toggle")
    expect(toggle).to_have_text("Pause all")
    toggle.click()
    expect(page.locator("#schedules-status")).to_have_text("Every schedule is paused.")
    expect(toggle).to_have_text("Resume all")
    expect(page.locator("#scheduler-state")).to_contain_text("paused")
    page.reload()
    expect(toggle).to_have_text("Resume all")
    with core.client(ADMIN) as admin:
        assert admin.get("/schedules/all/paused").json() == {"paused": True}
    # The scheduler's own queue says so too.
    page.locator("#job-service-tabs").get_by_role("link", name="Pending Jobs").click()
    expect(queue_row(page, "SCHEDULER").locator("td.paused")).to_have_text("Paused")
    page.go_back()

    expect(toggle).to_have_text("Resume all")
    toggle.click()
    expect(page.locator("#schedules-status")).to_have_text("Every schedule is resumed.")
    expect(toggle).to_have_text("Pause all")
    with core.client(ADMIN) as admin:
        assert admin.get("/schedules/all/paused").json() == {"paused": False}


def test_the_workers_tab_lists_the_pools_and_their_workers(admin_page: Page, core: Site) -> None:
    page = admin_page
    page.goto(core.url + "/harbor/job-service-dashboard/workers")
    expect(page.locator("#job-service-tabs [aria-current=page]")).to_have_text("Workers")
    pools = page.locator("#pools tbody tr[data-pool]")
    expect(pools.first).to_be_visible()
    with core.client(ADMIN) as admin:
        listed = admin.get("/jobservice/pools").json()
    expect(pools).to_have_count(len(listed))
    pool = listed[0]
    row = page.locator(f"#pools tbody tr[data-pool='{pool['worker_pool_id']}']")
    expect(cells(row).nth(1)).to_have_text(str(pool["pid"]))
    expect(cells(row).nth(3)).to_have_text(str(pool["concurrency"]))

    workers = page.locator("#workers tbody tr[data-worker]")
    expect(workers.first).to_be_visible()
    row.get_by_role("button", name="Workers").click()
    expect(page.locator("#worker-pool")).to_have_value(pool["worker_pool_id"])
    expect(workers).to_have_count(pool["concurrency"])
    for worker in workers.all():
        expect(cells(worker).nth(1)).to_have_text(pool["worker_pool_id"])
