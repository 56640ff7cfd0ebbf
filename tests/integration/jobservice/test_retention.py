"""Tag retention through Harbor's /retentions API, run by a real jobservice against real token, registry
and core processes on one database: the policy's shapes and refusals, the project's retention_id, its
schedule, a dry run listing per repository what would go, a real run deleting through the API's path
(events, audit, quota) and never an immutable tag, and a run racing pushes never removing what was pushed
after it started."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.harness.oci import push_image
from tests.harness.plugin import TestDatabase
from tests.harness.token import add_member, add_project, add_user, query
from tests.integration.core.registry_stack import ADMIN, Stack, assert_error, running_stack_with_jobservice, wait_for
from tests.integration.registry.test_quota_usage import assert_usage_exact

pytestmark = pytest.mark.integration
DEADLINE_S = 180.0
PW = "Retention-pw1"


@pytest.fixture(scope="module")
def stack(module_database: TestDatabase, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack_with_jobservice(module_database, tmp_path_factory) as s:
        add_user(module_database, "rguest", PW)
        add_user(module_database, "rstranger", PW)
        yield s


def new_project(stack: Stack) -> tuple[str, int]:
    name = f"rt{uuid.uuid4().hex[:8]}"
    project = add_project(stack.db, name)
    add_member(stack.db, name, "rguest", 3)
    return name, project.id


def rule(
    template: str,
    value: int | None = None,
    *,
    repos: str = "**",
    tags: str = "**",
    untagged: bool = True,
    tag_deco: str = "matches",
    repo_deco: str = "repoMatches",
) -> dict[str, Any]:
    return {
        "disabled": False,
        "action": "retain",
        "template": template,
        "params": {} if value is None else {template: value},
        "tag_selectors": [
            {
                "kind": "doublestar",
                "decoration": tag_deco,
                "pattern": tags,
                "extras": json.dumps({"untagged": untagged}),
            }
        ],
        "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": repo_deco, "pattern": repos}]},
    }


def policy(project_id: int, *rules: dict[str, Any], cron: str = "") -> dict[str, Any]:
    return {
        "algorithm": "or",
        "rules": list(rules),
        "trigger": {"kind": "Schedule", "settings": {"cron": cron}},
        "scope": {"level": "project", "ref": project_id},
    }


def create(c: httpx.Client, body: dict[str, Any]) -> int:
    r = c.post("/retentions", json=body)
    assert r.status_code == 201, r.text
    return int(r.headers["Location"].rsplit("/", 1)[1])


def execute(c: httpx.Client, policy_id: int, *, dry_run: bool) -> dict[str, Any]:
    r = c.post(f"/retentions/{policy_id}/executions", json={"dry_run": dry_run})
    assert r.status_code == 201, r.text
    eid = int(r.headers["Location"].rsplit("/", 1)[1])
    deadline = time.monotonic() + DEADLINE_S
    while True:
        (found,) = [e for e in c.get(f"/retentions/{policy_id}/executions").json() if e["id"] == eid]
        if found["status"] in ("Success", "Error", "Stopped"):
            assert found["status"] == "Success", c.get(f"/jobservice/jobs/{eid}/log").text
            return dict(found)
        assert time.monotonic() < deadline, f"retention execution {eid} did not finish: {found}"
        time.sleep(0.1)  # polling a job's status, not waiting for time to pass


def tasks(c: httpx.Client, policy_id: int, eid: int) -> dict[str, dict[str, Any]]:
    r = c.get(f"/retentions/{policy_id}/executions/{eid}/tasks")
    assert r.status_code == 200, r.text
    return {t["repository"]: t for t in r.json()}


def task_log(c: httpx.Client, policy_id: int, eid: int, task: dict[str, Any]) -> str:
    r = c.get(f"/retentions/{policy_id}/executions/{eid}/tasks/{task['id']}")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain"), r.text
    return r.text


def tags_of(stack: Stack, repo: str) -> set[str]:
    rows = query(
        stack.db, "SELECT t.name FROM tags t JOIN repositories r ON r.id = t.repository_id WHERE r.name = $1", repo
    )
    return {r["name"] for r in rows}


def test_metadata_and_policy_refusals(stack: Stack) -> None:
    name, pid = new_project(stack)
    with stack.api() as c:
        meta = c.get("/retentions/metadatas").json()
        templates = {t["rule_template"] for t in meta["templates"]}
        assert {"latestPushedK", "latestPulledN", "nDaysSinceLastPush", "nDaysSinceLastPull", "always"} <= templates
        assert meta["scope_selectors"][0]["decorations"] == ["repoMatches", "repoExcludes"]
        assert_error(stack.api(None).get("/retentions/metadatas"), 401)

        for bad, field in (
            (policy(pid, rule("latestPushedK", -1)), "latestPushedK"),
            (policy(pid, rule("mostPopular", 3)), "template"),
            (policy(pid, *[rule("always")] * 16), "rules"),
            (policy(pid, rule("latestPushedK", 3, tags="[")), "pattern"),
            (policy(pid, rule("latestPushedK", 3, tag_deco="repoMatches")), "decoration"),
            (policy(pid, rule("always"), cron="every day"), "cron"),
            ({**policy(pid, rule("always")), "algorithm": "and"}, "algorithm"),
        ):
            r = c.post("/retentions", json=bad)
            assert_error(r, 400)
            assert field in r.json()["errors"][0]["message"], (field, r.text)
        # Another project's id, unseen by the caller: not found, as if it did not exist.
        _, other_id = new_project(stack)
        with stack.api(("rstranger", PW)) as stranger:
            assert_error(stranger.post("/retentions", json=policy(other_id, rule("always"))), 404)
        # A guest may not write retention rules (developers and up may, as in Harbor).
        with stack.api(("rguest", PW)) as guest:
            assert_error(guest.post("/retentions", json=policy(pid, rule("always"))), 403)

        policy_id = create(c, policy(pid, rule("latestPushedK", 2), cron="0 0 3 * * *"))
        shown = c.get(f"/retentions/{policy_id}").json()
        assert shown["id"] == policy_id and shown["rules"][0]["params"] == {"latestPushedK": 2}
        assert shown["trigger"]["settings"]["cron"] == "0 0 3 * * *"
        assert c.get(f"/projects/{name}/metadatas/retention_id").json() == {"retention_id": str(policy_id)}
        schedules = query(stack.db, "SELECT cron FROM schedules WHERE type = 'RETENTION' AND vendor_id = $1", policy_id)
        assert [r["cron"] for r in schedules] == ["0 0 3 * * *"]
        assert_error(c.post("/retentions", json=policy(pid, rule("always"))), 409)
        with stack.api(("rstranger", PW)) as stranger:
            assert_error(stranger.get(f"/retentions/{policy_id}"), 404)

        # Changing it: the schedule follows; the project may not change.
        assert c.put(f"/retentions/{policy_id}", json=policy(pid, rule("always"))).status_code == 200
        assert query(stack.db, "SELECT 1 FROM schedules WHERE type = 'RETENTION' AND vendor_id = $1", policy_id) == []
        assert_error(c.put(f"/retentions/{policy_id}", json=policy(other_id, rule("always"))), 400)
        assert c.delete(f"/retentions/{policy_id}").status_code == 200
        assert_error(c.get(f"/retentions/{policy_id}"), 404)
        assert c.get(f"/projects/{name}/metadatas/retention_id").status_code == 404


def test_dry_run_then_run_keep_the_latest_and_the_immutable(stack: Stack) -> None:
    name, pid = new_project(stack)
    app, other = f"{name}/app", f"{name}/other"
    with stack.registry_client(*ADMIN) as reg:
        for i in range(1, 5):
            push_image(reg, app, f"v{i}", layers=[f"{name} app layer {i}".encode()])
        push_image(reg, other, "only", layers=[f"{name} other layer".encode()])
    with stack.api() as c:
        # Keep the two latest in `app`; v1 is immutable.
        r = c.post(
            f"/projects/{name}/immutabletagrules",
            json={
                "disabled": False,
                "action": "immutable",
                "template": "immutable_template",
                "params": {},
                "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "v1"}],
                "scope_selectors": {
                    "repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]
                },
            },
        )
        assert r.status_code == 201, r.text
        policy_id = create(c, policy(pid, rule("latestPushedK", 2, repos="app")))

        dry = execute(c, policy_id, dry_run=True)
        assert dry["dry_run"] is True and dry["trigger"] == "MANUAL"
        found = tasks(c, policy_id, dry["id"])
        assert set(found) == {app}  # `other` is in no rule's scope
        assert found[app]["total"] == 4 and found[app]["retained"] == 3 and found[app]["status"] == "Success"
        log = task_log(c, policy_id, dry["id"], found[app])
        assert "v2" in log and "WOULD BE REMOVED" in log and "immutable" in log
        assert tags_of(stack, app) == {"v1", "v2", "v3", "v4"}  # a dry run removes nothing

        before = assert_usage_exact(stack.db)
        real = execute(c, policy_id, dry_run=False)
        found = tasks(c, policy_id, real["id"])
        assert found[app]["retained"] == 3
        assert tags_of(stack, app) == {"v1", "v3", "v4"} and tags_of(stack, other) == {"only"}
        assert "REMOVED" in task_log(c, policy_id, real["id"], found[app])
        after = assert_usage_exact(stack.db)
        assert after.get(name, 0) < before[name]
        # Through the API's path: the delete is audited as the user who ran it.
        wait_for(
            lambda: query(
                stack.db,
                "SELECT 1 FROM audit_log WHERE operation = 'delete' AND resource_type = 'artifact'"
                " AND resource LIKE $1 AND username = 'admin'",
                f"{app}@%",
            ),
            "the retention delete in the audit log",
        )
        history = c.get(f"/retentions/{policy_id}/executions", params={"page_size": 1})
        assert history.headers["X-Total-Count"] == "2" and history.json()[0]["id"] == real["id"]
        # A finished run has nothing to stop; an action other than stop is refused.
        assert_error(c.patch(f"/retentions/{policy_id}/executions/{real['id']}", json={"action": "stop"}), 400)
        assert_error(c.patch(f"/retentions/{policy_id}/executions/{real['id']}", json={"action": "go"}), 400)
        assert_error(c.get(f"/retentions/{policy_id}/executions/999999/tasks"), 404)


def test_a_run_racing_pushes_never_removes_what_was_pushed_after_it_started(stack: Stack) -> None:
    name, pid = new_project(stack)
    repo = f"{name}/busy"
    with stack.registry_client(*ADMIN) as reg:
        for i in range(6):
            push_image(reg, repo, f"old{i}", layers=[f"{name} old {i}".encode()])
    stop = threading.Event()
    pushed: list[tuple[str, Any]] = []  # (digest, the time the database gave its row)

    def pusher() -> None:
        with stack.registry_client(*ADMIN) as client:
            i = 0
            while not stop.is_set():
                _, digest = push_image(client, repo, f"new{i}", layers=[f"{name} new {i}".encode()])
                created = query(
                    stack.db,
                    "SELECT a.created_at FROM artifacts a JOIN repositories r ON r.id = a.repository_id"
                    " WHERE r.name = $1 AND a.digest = $2",
                    repo,
                    digest,
                )
                pushed.append((digest, created[0]["created_at"] if created else None))
                i += 1

    with stack.api() as c:
        policy_id = create(c, policy(pid, rule("nothing")))  # retain nothing: everything judged goes
        thread = threading.Thread(target=pusher)
        thread.start()
        try:
            wait_for(lambda: len(pushed) >= 2, "pushes under way")
            run = execute(c, policy_id, dry_run=False)
            count = len(pushed)
            wait_for(lambda: len(pushed) >= count + 2, "pushes after the run")
        finally:
            stop.set()
            thread.join()
    started = query(stack.db, "SELECT started_at FROM jobs WHERE id = $1", run["id"])[0]["started_at"]
    left = {
        r["digest"]
        for r in query(
            stack.db,
            "SELECT a.digest FROM artifacts a JOIN repositories r ON r.id = a.repository_id WHERE r.name = $1",
            repo,
        )
    }
    assert not {t for t in tags_of(stack, repo) if t.startswith("old")}  # all judged, all removed
    late = [d for d, created in pushed if created is not None and created >= started]
    assert late, "some pushes landed after the run started"
    assert set(late) <= left
    assert_usage_exact(stack.db)
