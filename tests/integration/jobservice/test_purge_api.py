"""Harbor's /system/purgeaudit and the job service dashboard's job endpoints, through a real core and a real
jobservice on one database and Redis prefix, driven over HTTP as curl would: run now, dry run, schedule by
cron, history, logs, stop, and every refusal."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.harness.core import CoreProcess
from tests.harness.jobservice import core_with_jobservice
from tests.harness.plugin import TestDatabase
from tests.harness.token import add_user, query

pytestmark = pytest.mark.integration
ADMIN = ("admin", "Harbor12345")
DEADLINE_S = 30.0
PURGE = "/system/purgeaudit"


@pytest.fixture(scope="module")
def stack(module_database: TestDatabase, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CoreProcess]:
    with core_with_jobservice(tmp_path_factory.mktemp("stack"), module_database) as core:
        yield core


def old_entries(db: TestDatabase, n: int, operation: str = "pull", resource_type: str = "artifact") -> None:
    for _ in range(n):
        query(
            db,
            "INSERT INTO audit_log (operation, resource_type, resource, username, op_time)"
            " VALUES ($1, $2, 'p/r@sha256:x', 'u', now() - interval '10 days')",
            operation,
            resource_type,
        )


def run(c: httpx.Client, parameters: dict[str, Any]) -> int:
    r = c.post(f"{PURGE}/schedule", json={"schedule": {"type": "Manual"}, "parameters": parameters})
    assert r.status_code == 201, r.text
    return int(r.headers["Location"].rsplit("/", 1)[1])


def finished(c: httpx.Client, run_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + DEADLINE_S
    while True:
        body: dict[str, Any] = c.get(f"{PURGE}/{run_id}").json()
        if body["job_status"] in ("Success", "Error", "Stopped"):
            return body
        assert time.monotonic() < deadline, f"run {run_id} did not finish: {body}"
        time.sleep(0.1)


def test_a_purge_runs_now_as_a_job_with_history_and_log(stack: CoreProcess) -> None:
    db = stack.database
    query(db, "DELETE FROM audit_log")
    old_entries(db, 4)
    old_entries(db, 2, "delete", "artifact")
    with stack.client(ADMIN) as c:
        dry = run(c, {"audit_retention_hour": 48, "include_event_types": "pull_artifact", "dry_run": True})
        body = finished(c, dry)
        assert (
            body["job_status"] == "Success" and body["job_name"] == "PURGE_AUDIT_LOG" and body["job_kind"] == "MANUAL"
        )
        # Harbor's ScheduleObj of a run, never null (the spec's schema says object).
        assert body["schedule"] == {"type": "Manual"}
        assert "would be deleted" in c.get(f"{PURGE}/{dry}/log").text
        real = run(c, {"audit_retention_hour": 48, "include_event_types": "pull_artifact,delete_artifact"})
        assert finished(c, real)["job_status"] == "Success"
        log = c.get(f"{PURGE}/{real}/log")
        assert log.headers["Content-Type"].startswith("text/plain") and "deleted 6 entries" in log.text
        assert c.get(f"/jobservice/jobs/{real}/log").text == log.text
        history = c.get(PURGE, params={"page_size": 1})
        assert history.headers["X-Total-Count"] == "2" and history.json()[0]["id"] == real
        # A finished run has nothing to stop; an unknown one is not found.
        assert c.put(f"{PURGE}/{real}").status_code == 400
        assert c.put(f"/jobservice/jobs/{real}", json={"action": "stop"}).status_code == 400
        assert c.get(f"{PURGE}/999999").status_code == 404
    # Only the young entries of other kinds would be left; here nothing at all.
    assert query(db, "SELECT count(*) AS n FROM audit_log WHERE op_time < now() - interval '2 days'")[0]["n"] == 0


def test_a_cron_schedule_fires_runs_and_can_be_removed(stack: CoreProcess) -> None:
    with stack.client(ADMIN) as c:
        assert c.get(f"{PURGE}/schedule").json() == {}
        every_second = {"type": "Custom", "cron": "* * * * * *"}
        body = {
            "schedule": every_second,
            "parameters": {"audit_retention_hour": 1, "include_event_types": "pull_artifact"},
        }
        assert c.post(f"{PURGE}/schedule", json=body).status_code == 201
        schedule = c.get(f"{PURGE}/schedule").json()
        assert schedule["schedule"]["cron"] == "* * * * * *" and schedule["schedule"]["next_scheduled_time"]
        deadline = time.monotonic() + DEADLINE_S
        while not any(r["job_kind"] == "SCHEDULE" for r in c.get(PURGE, params={"page_size": 100}).json()):
            assert time.monotonic() < deadline, "the schedule fired no run"
            time.sleep(0.2)
        assert c.put(f"{PURGE}/schedule", json={"schedule": {"type": "None"}}).status_code == 200
        assert c.get(f"{PURGE}/schedule").json() == {}
        hourly = {"schedule": {"type": "Hourly"}, "parameters": {"audit_retention_hour": 24, "include_event_types": ""}}
        assert c.put(f"{PURGE}/schedule", json=hourly).status_code == 200
        assert c.get(f"{PURGE}/schedule").json()["schedule"] == {
            "type": "Hourly",
            "cron": "0 0 * * * *",
            "next_scheduled_time": c.get(f"{PURGE}/schedule").json()["schedule"]["next_scheduled_time"],
        }
        assert c.put(f"{PURGE}/schedule", json={"schedule": {"type": "None"}}).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"schedule": {"type": "Sometimes"}, "parameters": {"audit_retention_hour": 1}},
        {"schedule": {"type": "Custom"}, "parameters": {"audit_retention_hour": 1}},
        {"schedule": {"type": "Custom", "cron": "0 0 * * *"}, "parameters": {"audit_retention_hour": 1}},
        {"schedule": {"type": "Custom", "cron": "not a cron at all"}, "parameters": {"audit_retention_hour": 1}},
        {"schedule": {"type": "Manual"}, "parameters": {"audit_retention_hour": 0}},
        {"schedule": {"type": "Manual"}, "parameters": {"audit_retention_hour": "48"}},
        {"schedule": {"type": "Manual"}, "parameters": {"audit_retention_hour": 48, "include_event_types": "eat_cake"}},
        {"schedule": {"type": "Manual"}, "parameters": {"audit_retention_hour": 48, "dry_run": "yes"}},
    ],
)
def test_bad_requests_are_400_and_run_nothing(stack: CoreProcess, body: dict[str, Any]) -> None:
    with stack.client(ADMIN) as c:
        before = c.get(PURGE).headers["X-Total-Count"]
        r = c.post(f"{PURGE}/schedule", json=body)
        assert r.status_code == 400, r.text
        assert r.json()["errors"][0]["code"] == "BAD_REQUEST"
        assert c.get(PURGE).headers["X-Total-Count"] == before


def test_only_the_system_administrator_purges(stack: CoreProcess) -> None:
    add_user(stack.database, "plain-purger", "pw-Secret1")
    paths = [("GET", PURGE), ("GET", f"{PURGE}/schedule"), ("GET", f"{PURGE}/1/log"), ("PUT", f"{PURGE}/1")]
    paths += [("GET", "/jobservice/jobs/1/log"), ("PUT", "/jobservice/jobs/1")]
    manual = {"schedule": {"type": "Manual"}, "parameters": {"audit_retention_hour": 48}}
    with stack.client() as anonymous, stack.client(("plain-purger", "pw-Secret1")) as user:
        for method, path in paths:
            assert anonymous.request(method, path).status_code == 401, path
            assert user.request(method, path).status_code == 403, path
        assert anonymous.post(f"{PURGE}/schedule", json=manual).status_code == 401
        assert user.post(f"{PURGE}/schedule", json=manual).status_code == 403
