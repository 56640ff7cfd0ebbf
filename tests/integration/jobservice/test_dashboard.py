"""Harbor's job service dashboard through a real core and a real jobservice on one database and Redis
prefix, over HTTP as curl would: the worker pools and their workers, the queues with pause/resume/stop
(a paused queue holds a GC run until it is resumed), the schedules and the scheduler's paused status, and
who may look and act (the sysadmin; system robots with jobservice-monitor list/stop)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.harness.core import CoreProcess
from tests.harness.jobservice import core_with_jobservice
from tests.harness.plugin import TestDatabase
from tests.harness.token import add_user
from tests.harness.waiting import eventually

pytestmark = pytest.mark.integration
ADMIN = ("admin", "Harbor12345")
GC = "/system/gc"
WORKERS = 3


@pytest.fixture(scope="module")
def stack(module_database: TestDatabase, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CoreProcess]:
    with core_with_jobservice(
        tmp_path_factory.mktemp("stack"), module_database, workers=WORKERS, heartbeat_seconds=0.5
    ) as core:
        yield core


def run_gc(c: httpx.Client) -> int:
    body = {"schedule": {"type": "Manual"}, "parameters": {"dry_run": True, "time_window": 0}}
    r = c.post(f"{GC}/schedule", json=body)
    assert r.status_code == 201, r.text
    return int(r.headers["Location"].rsplit("/", 1)[1])


def queue(c: httpx.Client, job_type: str) -> dict[str, Any]:
    r = c.get("/jobservice/queues")
    assert r.status_code == 200, r.text
    (found,) = [q for q in r.json() if q["job_type"] == job_type]
    return found  # type: ignore[no-any-return]


def status(c: httpx.Client, run_id: int) -> str:
    return c.get(f"{GC}/{run_id}").json()["job_status"]  # type: ignore[no-any-return]


def test_the_pools_and_their_workers(stack: CoreProcess) -> None:
    with stack.client(ADMIN) as c:
        pools = eventually(lambda: c.get("/jobservice/pools").json(), "the jobservice reports its pool")
        (pool,) = pools
        assert pool["concurrency"] == WORKERS and pool["pid"] > 0 and pool["host"]
        assert pool["start_at"].endswith("Z") and pool["heartbeat_at"] >= pool["start_at"]
        workers = c.get(f"/jobservice/pools/{pool['worker_pool_id']}/workers").json()
        assert len(workers) == WORKERS and {w["pool_id"] for w in workers} == {pool["worker_pool_id"]}
        everyone = c.get("/jobservice/pools/all/workers").json()
        assert sorted(w["id"] for w in everyone) == sorted(w["id"] for w in workers)
        idle = [w for w in workers if w["job_id"] == ""]
        assert all(w["job_name"] == "" and w["start_at"] is None for w in idle)
        r = c.get("/jobservice/pools/no-such-pool/workers")
        assert r.status_code == 404 and "no-such-pool" in r.json()["errors"][0]["message"]


def test_a_paused_queue_holds_a_run_until_resumed_and_stop_clears_it(stack: CoreProcess) -> None:
    with stack.client(ADMIN) as c:
        types = [q["job_type"] for q in c.get("/jobservice/queues").json()]
        assert {"GARBAGE_COLLECTION", "PURGE_AUDIT_LOG", "SCHEDULER"} <= set(types)
        assert c.put("/jobservice/queues/GARBAGE_COLLECTION", json={"action": "pause"}).status_code == 200
        held = run_gc(c)
        eventually(lambda: queue(c, "GARBAGE_COLLECTION")["count"] == 1, "the queue counts the held run")
        q = queue(c, "GARBAGE_COLLECTION")
        assert q["paused"] is True and q["latency"] >= 0
        assert status(c, held) == "Pending"
        assert c.put("/jobservice/queues/GARBAGE_COLLECTION", json={"action": "resume"}).status_code == 200
        eventually(lambda: status(c, held) == "Success", "the resumed run succeeds")
        assert queue(c, "GARBAGE_COLLECTION") == {
            "job_type": "GARBAGE_COLLECTION",
            "count": 0,
            "latency": 0,
            "paused": False,
        }

        # Stop: every pending job of the type is stopped, with the reason in its log.
        assert c.put("/jobservice/queues/all", json={"action": "pause"}).status_code == 200
        assert all(q["paused"] for q in c.get("/jobservice/queues").json())
        stopped = run_gc(c)
        assert c.put("/jobservice/queues/GARBAGE_COLLECTION", json={"action": "stop"}).status_code == 200
        assert status(c, stopped) == "Stopped"
        assert "stopped with its queue by admin" in c.get(f"/jobservice/jobs/{stopped}/log").text
        assert queue(c, "GARBAGE_COLLECTION")["count"] == 0
        assert c.put("/jobservice/queues/all", json={"action": "resume"}).status_code == 200
        assert not any(q["paused"] for q in c.get("/jobservice/queues").json())


def test_schedules_and_the_paused_scheduler(stack: CoreProcess) -> None:
    with stack.client(ADMIN) as c:
        daily = {"schedule": {"type": "Daily"}, "parameters": {"delete_untagged": True}}
        assert c.put(f"{GC}/schedule", json=daily).status_code == 200
        try:
            r = c.get("/schedules", params={"page_size": 10})
            assert r.status_code == 200 and int(r.headers["X-Total-Count"]) >= 1
            (gc,) = [s for s in r.json() if s["vendor_type"] == "GARBAGE_COLLECTION"]
            assert gc["cron"] == "0 0 0 * * *" and gc["vendor_id"] == 0 and gc["update_time"].endswith("Z")
            assert c.get("/schedules/all/paused").json() == {"paused": False}
            assert c.put("/jobservice/queues/SCHEDULER", json={"action": "pause"}).status_code == 200
            assert c.get("/schedules/all/paused").json() == {"paused": True}
            assert c.put("/jobservice/queues/SCHEDULER", json={"action": "resume"}).status_code == 200
            assert c.get("/schedules/all/paused").json() == {"paused": False}
            assert c.get("/schedules/GARBAGE_COLLECTION/paused").status_code == 400
        finally:
            c.put(f"{GC}/schedule", json={"schedule": {"type": "None"}})


@pytest.mark.parametrize(
    ("path", "body", "code"),
    [
        ("/jobservice/queues/GARBAGE_COLLECTION", {"action": "explode"}, 400),
        ("/jobservice/queues/GARBAGE_COLLECTION", {}, 400),
        ("/jobservice/queues/NO_SUCH_JOB", {"action": "pause"}, 404),
        ("/jobservice/jobs/999999", {"action": "stop"}, 404),
        ("/jobservice/jobs/abc", {"action": "stop"}, 400),
    ],
)
def test_bad_requests_are_refused_clearly(stack: CoreProcess, path: str, body: dict[str, Any], code: int) -> None:
    with stack.client(ADMIN) as c:
        r = c.put(path, json=body)
        assert r.status_code == code, r.text
        assert r.json()["errors"][0]["message"]


LOOK = ["/jobservice/pools", "/jobservice/pools/all/workers", "/jobservice/queues", "/schedules"]
LOOK += ["/schedules/all/paused", "/jobservice/jobs/1/log"]


def system_robot(c: httpx.Client, name: str, actions: list[str]) -> tuple[str, str]:
    access = [{"resource": "jobservice-monitor", "action": a} for a in actions]
    body = {
        "name": name,
        "level": "system",
        "duration": -1,
        "permissions": [{"kind": "system", "namespace": "/", "access": access}],
    }
    r = c.post("/robots", json=body)
    assert r.status_code == 201, r.text
    return r.json()["name"], r.json()["secret"]


def test_only_the_sysadmin_and_system_robots_granted_it_see_and_act(stack: CoreProcess) -> None:
    add_user(stack.database, "plain-watcher", "pw-Secret1")
    pause = {"action": "pause"}
    with stack.client(ADMIN) as admin:
        job_id = run_gc(admin)
        eventually(lambda: status(admin, job_id) == "Success", "a run to read the log of")
        looker = system_robot(admin, "dash-looker", ["list"])
        stopper = system_robot(admin, "dash-stopper", ["list", "stop"])
    looks = [p.replace("/jobs/1/", f"/jobs/{job_id}/") for p in LOOK]
    with stack.client() as anonymous, stack.client(("plain-watcher", "pw-Secret1")) as user:
        for path in looks:
            assert anonymous.get(path).status_code == 401, path
            assert user.get(path).status_code == 403, path
        assert anonymous.put("/jobservice/queues/all", json=pause).status_code == 401
        assert user.put("/jobservice/queues/all", json=pause).status_code == 403
    with stack.client(looker) as robot:
        for path in looks:
            assert robot.get(path).status_code == 200, path
        assert robot.put("/jobservice/queues/PURGE_AUDIT_LOG", json=pause).status_code == 403
    with stack.client(stopper) as robot:
        assert robot.put("/jobservice/queues/PURGE_AUDIT_LOG", json=pause).status_code == 200
        assert robot.put("/jobservice/queues/PURGE_AUDIT_LOG", json={"action": "resume"}).status_code == 200
