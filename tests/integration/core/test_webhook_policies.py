"""Project webhook policies against a real core process: Harbor's shapes, the list's q, sort and paging, who may
do what (projectAdmin everything, maintainer read and list, developer and guest nothing, anonymous 401,
another project's policy a 404, robots what their permissions grant), every bad field a 400 naming it, the
SSRF guard and its allowlist (a configuration change reaching core), masked secrets kept across a PUT, the
event types, and executions, tasks, logs and the last trigger read from WEBHOOK job rows (made here directly:
the jobservice is not running)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from services.common.rbac import Resource
from services.core.api.common import harbor_time
from tests.harness.core import CoreProcess
from tests.harness.plugin import TestDatabase
from tests.harness.receiver import WebhookReceiver
from tests.harness.token import add_member, add_project, add_robot, add_user, query
from tests.harness.waiting import eventually
from tests.integration.core.registry_stack import assert_error

pytestmark = pytest.mark.integration

ADMIN = ("admin", "Harbor12345")
PW = "Webhook-pw1"
BASE = "/projects/wh/webhook"
ROLES = {"padmin": 1, "dev": 2, "guest": 3, "maint": 4}
RESOURCE = Resource.NOTIFICATION_POLICY.value
PUBLIC = "http://93.184.216.34/hook"  # an address the guard lets through; nothing is delivered here


@pytest.fixture(scope="module")
def api(core: CoreProcess, module_database: TestDatabase) -> Iterator[httpx.Client]:
    for project in ("wh", "other"):
        add_project(module_database, project)
    for user in (*ROLES, "outsider"):
        add_user(module_database, user, PW)
    for user, role in ROLES.items():
        add_member(module_database, "wh", user, role)
    add_member(module_database, "other", "outsider", 1)
    with core.client(ADMIN) as client:
        yield client


def policy(name: str, **more: Any) -> dict[str, Any]:
    return {
        "name": name,
        "description": "",
        "event_types": ["PUSH_ARTIFACT", "DELETE_ARTIFACT"],
        "targets": [{"type": "http", "address": PUBLIC, "skip_cert_verify": False, "payload_format": "Default"}],
        "enabled": True,
        **more,
    }


def create(client: httpx.Client, body: dict[str, Any], base: str = BASE) -> int:
    r = client.post(f"{base}/policies", json=body)
    assert r.status_code == 201, r.text
    return int(r.headers["Location"].rsplit("/", 1)[1])


def test_a_policy_is_created_read_listed_updated_and_deleted(api: httpx.Client) -> None:
    body = policy(
        "crud", description="to the CI", targets=[{"type": "http", "address": PUBLIC, "auth_header": "Bearer x"}]
    )
    policy_id = create(api, body)
    got = api.get(f"{BASE}/policies/{policy_id}").json()
    assert {k: got[k] for k in ("id", "name", "description", "event_types", "enabled", "creator")} == {
        "id": policy_id,
        "name": "crud",
        "description": "to the CI",
        "event_types": ["PUSH_ARTIFACT", "DELETE_ARTIFACT"],
        "enabled": True,
        "creator": "admin",
    }
    assert got["targets"] == [
        {
            "type": "http",
            "address": PUBLIC,
            "auth_header": "*****",
            "skip_cert_verify": False,
            "payload_format": "Default",
            "signing_secret": "",
        }
    ]
    assert got["project_id"] == api.get("/projects/wh").json()["project_id"]
    assert got["creation_time"].endswith("Z") and got["update_time"].endswith("Z")
    listed = api.get(f"{BASE}/policies")
    assert listed.status_code == 200 and policy_id in [p["id"] for p in listed.json()]
    assert int(listed.headers["X-Total-Count"]) >= 1

    changed = {**got, "enabled": False, "event_types": ["PULL_ARTIFACT"]}
    assert api.put(f"{BASE}/policies/{policy_id}", json=changed).status_code == 200
    again = api.get(f"{BASE}/policies/{policy_id}").json()
    assert (again["enabled"], again["event_types"], again["targets"][0]["auth_header"]) == (
        False,
        ["PULL_ARTIFACT"],
        "*****",
    )

    assert api.delete(f"{BASE}/policies/{policy_id}").status_code == 200
    assert_error(api.get(f"{BASE}/policies/{policy_id}"), 404)
    assert_error(api.delete(f"{BASE}/policies/{policy_id}"), 404)


def test_secrets_are_stored_encrypted_and_kept_by_the_mask(api: httpx.Client, module_database: TestDatabase) -> None:
    target = {"type": "http", "address": PUBLIC, "auth_header": "Bearer secret-token", "signing_secret": "s3cret"}
    policy_id = create(api, policy("secrets", targets=[target]))
    [row] = query(module_database, "SELECT targets::text AS targets FROM webhook_policies WHERE id = $1", policy_id)
    assert "secret-token" not in row["targets"] and "s3cret" not in row["targets"]
    stored = json.loads(row["targets"])[0]
    shown = api.get(f"{BASE}/policies/{policy_id}").json()
    assert shown["targets"][0]["auth_header"] == shown["targets"][0]["signing_secret"] == "*****"
    # Sent back masked: kept; sent empty: removed.
    assert api.put(f"{BASE}/policies/{policy_id}", json={**shown, "description": "kept"}).status_code == 200
    [row] = query(module_database, "SELECT targets::text AS targets FROM webhook_policies WHERE id = $1", policy_id)
    assert json.loads(row["targets"])[0]["auth_header"] == stored["auth_header"]
    cleared = {**shown, "targets": [{**shown["targets"][0], "signing_secret": ""}]}
    assert api.put(f"{BASE}/policies/{policy_id}", json=cleared).status_code == 200
    assert api.get(f"{BASE}/policies/{policy_id}").json()["targets"][0]["signing_secret"] == ""


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"name": ""}, "name is required"),
        ({"event_types": []}, "event_types must name at least one"),
        ({"event_types": ["PUSH_IMAGE"]}, "event_types[0]"),
        ({"event_types": ["PUSH_ARTIFACT", "PUSH_ARTIFACT"]}, "event_types[1]"),
        ({"event_types": "PUSH_ARTIFACT"}, "event_types must be an array"),
        ({"targets": []}, "targets must hold at least one"),
        ({"targets": [{"type": "email", "address": PUBLIC}]}, "targets[0].type"),
        ({"targets": [{"type": "http", "address": "ftp://example.com/x"}]}, "targets[0].address"),
        ({"targets": [{"type": "http", "address": "not a url"}]}, "targets[0].address"),
        (
            {"targets": [{"type": "slack", "address": PUBLIC, "payload_format": "CloudEvents"}]},
            "targets[0].payload_format",
        ),
        ({"targets": [{"type": "http", "address": PUBLIC, "auth_header": "a\r\nX-Evil: 1"}]}, "targets[0].auth_header"),
        ({"targets": [{"type": "http", "address": PUBLIC, "colour": "red"}]}, "colour"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_each_bad_field_is_a_400_naming_it(api: httpx.Client, change: dict[str, Any], named: str) -> None:
    r = api.post(f"{BASE}/policies", json={**policy("bad"), **change})
    assert_error(r, 400)
    assert named in r.json()["errors"][0]["message"], r.text


def test_a_second_policy_of_the_same_name_is_a_409(api: httpx.Client) -> None:
    create(api, policy("twice"))
    assert_error(api.post(f"{BASE}/policies", json=policy("twice")), 409)
    create(api, policy("twice"), base="/projects/other/webhook")  # names are per project


def test_internal_targets_are_refused_unless_the_allowlist_names_them(api: httpx.Client) -> None:
    for address, kind in (
        ("http://127.0.0.1:9000/hook", "loopback"),
        ("http://169.254.169.254/latest/meta-data", "link-local"),
        ("http://10.1.2.3/hook", "private"),
    ):
        r = api.post(f"{BASE}/policies", json=policy("internal", targets=[{"type": "http", "address": address}]))
        assert_error(r, 400)
        message = r.json()["errors"][0]["message"]
        assert message.startswith("targets[0].address:") and kind in message and "webhook_target_allowlist" in message
    assert api.put("/configurations", json={"webhook_target_allowlist": "127.0.0.1, 10.0.0.0/8"}).status_code == 200
    try:

        def allowed() -> httpx.Response | None:
            r = api.post(
                f"{BASE}/policies",
                json=policy("loopback", targets=[{"type": "http", "address": "http://127.0.0.1:9/"}]),
            )
            return r if r.status_code == 201 else None

        eventually(allowed, "the allowlist to reach core", 60)
        create(api, policy("in-range", targets=[{"type": "http", "address": "http://10.200.0.1/hook"}]))
        r = api.post(
            f"{BASE}/policies",
            json=policy("metadata", targets=[{"type": "http", "address": "http://169.254.169.254/"}]),
        )
        assert_error(r, 400)
    finally:
        assert api.put("/configurations", json={"webhook_target_allowlist": ""}).status_code == 200


def test_who_may_do_what(core: CoreProcess, api: httpx.Client) -> None:
    policy_id = create(api, policy("roles"))
    one = f"{BASE}/policies/{policy_id}"
    with core.client(("padmin", PW)) as padmin:
        own = create(padmin, policy("by-padmin"))
        assert padmin.put(f"{BASE}/policies/{own}", json=policy("by-padmin", enabled=False)).status_code == 200
        assert padmin.delete(f"{BASE}/policies/{own}").status_code == 200
    with core.client(("maint", PW)) as maint:
        assert maint.get(one).status_code == 200 and maint.get(f"{BASE}/policies").status_code == 200
        assert maint.get(f"{BASE}/events").status_code == 200
        assert_error(maint.post(f"{BASE}/policies", json=policy("by-maint")), 403)
        assert_error(maint.put(one, json=policy("roles")), 403)
        assert_error(maint.delete(one), 403)
    for user in ("dev", "guest"):
        with core.client((user, PW)) as client:
            assert_error(client.get(one), 403)
            assert_error(client.get(f"{BASE}/policies"), 403)
            assert_error(client.post(f"{BASE}/policies", json=policy(f"by-{user}")), 403)
    with core.client(("outsider", PW)) as outsider:
        assert_error(outsider.get(one), 404)  # a project it cannot see
    with core.client() as anonymous:
        assert_error(anonymous.post(f"{BASE}/policies", json=policy("anon")), 401)
    other = create(api, policy("elsewhere"), base="/projects/other/webhook")
    assert_error(api.get(f"{BASE}/policies/{other}"), 404)  # another project's policy


def test_the_supported_event_types(api: httpx.Client) -> None:
    body = api.get(f"{BASE}/events").json()
    assert body["event_type"] == [
        "DELETE_ARTIFACT",
        "PULL_ARTIFACT",
        "PUSH_ARTIFACT",
        "QUOTA_EXCEED",
        "QUOTA_WARNING",
        "REPLICATION",
        "SCANNING_FAILED",
        "SCANNING_STOPPED",
        "SCANNING_COMPLETED",
        "TAG_RETENTION",
    ]
    assert body["notify_type"] == ["http", "slack"]
    assert body["payload_formats"] == [
        {"notify_type": "http", "formats": ["Default", "CloudEvents"]},
        {"notify_type": "slack", "formats": ["Default"]},
    ]


def _delivery(
    db: TestDatabase, policy_id: int, event_type: str, status: str, error: str = "", notify_type: str = "http"
) -> int:
    parameters = {
        "policy_id": policy_id,
        "target": 0,
        "notify_type": notify_type,
        "event_type": event_type,
        "event_id": f"{policy_id}-{event_type}-{status}",
        "chain": f"{policy_id}:0",
        "content_type": "application/json",
        "body": '{"type":"' + event_type + '"}',
    }
    [row] = query(
        db,
        "INSERT INTO jobs (type, parameters, status, trigger, attempts, error, started_at, finished_at)"
        " VALUES ('WEBHOOK', $1::jsonb, $2, 'EVENT', 2, $3, now(), CASE WHEN $2 = 'running' THEN NULL ELSE now() END)"
        " RETURNING id",
        json.dumps(parameters),
        status,
        error,
    )
    return int(row["id"])


def test_executions_tasks_logs_and_the_last_trigger(api: httpx.Client, module_database: TestDatabase) -> None:
    policy_id = create(api, policy("runs"))
    done = _delivery(module_database, policy_id, "PUSH_ARTIFACT", "success")
    failed = _delivery(module_database, policy_id, "DELETE_ARTIFACT", "error", "POST x: 500 in 3 ms")
    query(
        module_database,
        "INSERT INTO job_logs (job_id, level, message) VALUES ($1, 'info', 'POST http://x: 200 in 3 ms')",
        done,
    )
    base = f"{BASE}/policies/{policy_id}/executions"
    listed = api.get(base)
    assert listed.status_code == 200 and listed.headers["X-Total-Count"] == "2"
    newest, oldest = listed.json()
    assert (newest["id"], oldest["id"]) == (failed, done)
    assert {k: newest[k] for k in ("vendor_type", "vendor_id", "status", "status_message", "trigger")} == {
        "vendor_type": "WEBHOOK",
        "vendor_id": policy_id,
        "status": "Error",
        "status_message": "POST x: 500 in 3 ms",
        "trigger": "EVENT",
    }
    assert newest["metrics"]["task_count"] == 1 and newest["metrics"]["error_task_count"] == 1
    assert newest["extra_attrs"] == {"event_type": "DELETE_ARTIFACT", "payload": '{"type":"DELETE_ARTIFACT"}'}
    assert oldest["status"] == "Success" and oldest["end_time"].endswith("Z")

    [task] = api.get(f"{base}/{done}/tasks").json()
    assert (task["id"], task["execution_id"], task["status"], task["run_count"]) == (done, done, "Success", 2)
    log = api.get(f"{base}/{done}/tasks/{done}/log")
    assert log.status_code == 200 and log.headers["Content-Type"].startswith("text/plain")
    assert "[INFO] POST http://x: 200 in 3 ms" in log.text
    assert_error(api.get(f"{base}/{done}/tasks/{failed}/log"), 404)
    assert_error(api.get(f"{base}/999999/tasks"), 404)

    create(api, policy("quiet"))
    triggers = {(t["policy_name"], t["event_type"]): t for t in api.get(f"{BASE}/lasttrigger").json()}
    assert triggers[("runs", "PUSH_ARTIFACT")]["last_trigger_time"].endswith("Z")
    assert triggers[("runs", "PUSH_ARTIFACT")]["enabled"] is True
    # One entry per policy and event type it names; one that never fired has no time.
    assert {k: v for k, v in triggers[("quiet", "DELETE_ARTIFACT")].items() if k != "creation_time"} == {
        "policy_name": "quiet",
        "event_type": "DELETE_ARTIFACT",
        "enabled": True,
    }


def test_executions_take_harbors_status_q_and_sort_and_go_with_their_policy(
    api: httpx.Client, module_database: TestDatabase
) -> None:
    policy_id = create(api, policy("slacked", targets=[{"type": "slack", "address": PUBLIC}]))
    first = _delivery(module_database, policy_id, "PUSH_ARTIFACT", "success", notify_type="slack")
    second = _delivery(module_database, policy_id, "PULL_ARTIFACT", "error", notify_type="slack")
    third = _delivery(module_database, policy_id, "DELETE_ARTIFACT", "success", notify_type="slack")
    base = f"{BASE}/policies/{policy_id}/executions"
    assert [e["id"] for e in api.get(base).json()] == [third, second, first]
    assert [e["id"] for e in api.get(base, params={"sort": "start_time"}).json()] == [first, second, third]
    assert [e["id"] for e in api.get(base, params={"sort": "-id"}).json()] == [third, second, first]
    succeeded = api.get(base, params={"q": "status=Success"})
    assert succeeded.headers["X-Total-Count"] == "2" and [e["id"] for e in succeeded.json()] == [third, first]
    assert {e["vendor_type"] for e in succeeded.json()} == {"SLACK"}
    assert_error(api.get(base, params={"q": "status=Done"}), 400)
    assert_error(api.get(base, params={"q": "event_type=PUSH_ARTIFACT"}), 400)
    assert_error(api.get(base, params={"sort": "end_time"}), 400)

    # Deleting the policy deletes its executions (Harbor's DeleteByVendor), their logs with them.
    query(module_database, "INSERT INTO job_logs (job_id, level, message) VALUES ($1, 'info', 'sent')", first)
    assert api.delete(f"{BASE}/policies/{policy_id}").status_code == 200
    left = query(module_database, "SELECT count(*) AS n FROM jobs WHERE id = ANY($1::bigint[])", [first, second, third])
    assert left[0]["n"] == 0


def test_harbors_deprecated_webhook_jobs_list(api: httpx.Client, module_database: TestDatabase) -> None:
    policy_id = create(api, policy("jobs", targets=[{"type": "slack", "address": PUBLIC}]))
    done = _delivery(module_database, policy_id, "PUSH_ARTIFACT", "success")
    _delivery(module_database, policy_id, "DELETE_ARTIFACT", "error")
    listed = api.get(f"{BASE}/jobs", params={"policy_id": str(policy_id), "status": "Success"})
    assert listed.status_code == 200 and listed.headers["X-Total-Count"] == "1", listed.text
    [job] = listed.json()
    assert {k: job[k] for k in ("id", "policy_id", "event_type", "notify_type", "status", "job_detail")} == {
        "id": done,
        "policy_id": policy_id,
        "event_type": "PUSH_ARTIFACT",
        "notify_type": "slack",
        "status": "Success",
        "job_detail": '{"type":"PUSH_ARTIFACT"}',
    }
    assert len(api.get(f"{BASE}/jobs", params={"policy_id": str(policy_id)}).json()) == 2
    assert_error(api.get(f"{BASE}/jobs"), 400)
    assert_error(api.get(f"{BASE}/jobs", params={"policy_id": str(policy_id), "status": "Done"}), 400)
    assert_error(api.get(f"{BASE}/jobs", params={"policy_id": "999999"}), 404)


def test_the_endpoint_test_posts_to_the_target_and_says_why_it_failed(api: httpx.Client) -> None:
    with WebhookReceiver() as receiver:
        target = {"type": "http", "address": receiver.url("/ok"), "auth_header": "Bearer t"}
        r = api.post(f"{BASE}/policies/test", json={"targets": [target]})
        assert_error(r, 400)  # 127.0.0.1 is not allowed yet
        assert "loopback" in r.text
        assert api.put("/configurations", json={"webhook_target_allowlist": "127.0.0.1"}).status_code == 200
        try:

            def tested() -> httpx.Response | None:
                r = api.post(f"{BASE}/policies/test", json={"targets": [target]})
                return r if r.status_code == 200 else None

            eventually(tested, "the test to reach the receiver", 60)
            [got] = receiver.received("/ok")
            sent = json.loads(got.body)
            assert (sent["type"], sent["operator"], got.headers["Authorization"]) == (
                "TEST_WEBHOOK",
                "admin",
                "Bearer t",
            )
            # Testing a policy being edited: the secrets it sends back masked are the stored ones.
            stored = {**target, "address": receiver.url("/edited"), "signing_secret": "s3"}
            policy_id = create(api, policy("tested", targets=[stored]))
            masked = api.get(f"{BASE}/policies/{policy_id}").json()["targets"]
            assert masked[0]["auth_header"] == "*****"
            r = api.post(f"{BASE}/policies/test", json={"id": policy_id, "targets": masked})
            assert r.status_code == 200, r.text
            [got] = receiver.received("/edited")
            assert got.headers["Authorization"] == "Bearer t" and "X-Berth-Signature" in got.headers
            assert_error(api.post(f"{BASE}/policies/test", json={"id": 999999, "targets": masked}), 404)

            receiver.statuses["/broken"] = 500
            broken = {"type": "http", "address": receiver.url("/broken")}
            r = api.post(f"{BASE}/policies/test", json={"targets": [broken]})
            assert_error(r, 400)
            assert f"targets[0]: POST {receiver.url('/broken')}: 500" in r.json()["errors"][0]["message"]
            closed = {"type": "http", "address": "http://127.0.0.1:9/"}
            r = api.post(f"{BASE}/policies/test", json={"targets": [closed]})
            assert_error(r, 400)
            assert "POST http://127.0.0.1:9/ failed" in r.text
        finally:
            assert api.put("/configurations", json={"webhook_target_allowlist": ""}).status_code == 200


def test_the_list_takes_harbors_q_sort_and_paging(api: httpx.Client) -> None:
    ids = [create(api, policy(name)) for name in ("listed-b", "listed-a", "listed-c")]
    listed = api.get(f"{BASE}/policies", params={"q": "name=~listed-"})
    assert listed.status_code == 200 and listed.headers["X-Total-Count"] == "3"
    assert [p["id"] for p in listed.json()] == ids[::-1]  # Harbor's default: the newest first
    by_name = api.get(f"{BASE}/policies", params={"q": "name=~listed-", "sort": "name"}).json()
    assert [p["name"] for p in by_name] == ["listed-a", "listed-b", "listed-c"]
    first = api.get(f"{BASE}/policies", params={"q": "name=~listed-", "sort": "-name", "page_size": "2"})
    assert [p["name"] for p in first.json()] == ["listed-c", "listed-b"]
    assert 'rel="next"' in first.headers["Link"] and "page=2" in first.headers["Link"]
    assert api.put(f"{BASE}/policies/{ids[1]}", json=policy("listed-a", enabled=False)).status_code == 200
    disabled = api.get(f"{BASE}/policies", params={"q": "name=~listed-,enabled=false"}).json()
    assert [p["id"] for p in disabled] == [ids[1]]
    assert_error(api.get(f"{BASE}/policies", params={"q": "colour=red"}), 400)
    assert_error(api.get(f"{BASE}/policies", params={"sort": "colour"}), 400)


def test_robots_hold_what_their_permissions_grant(core: CoreProcess, api: httpx.Client) -> None:
    policy_id = create(api, policy("for-robots"))
    one = f"{BASE}/policies/{policy_id}"
    add_robot(core.database, "hooks", PW, project="wh", access=[(RESOURCE, "create"), (RESOURCE, "read")])
    add_robot(core.database, "lister", PW, project="wh", access=[(RESOURCE, "list")])
    with core.client(("robot$wh+hooks", PW)) as robot:
        assert robot.get(one).status_code == 200
        assert robot.get(f"{one}/executions").status_code == 200
        create(robot, policy("by-robot"))
        assert_error(robot.get(f"{BASE}/policies"), 403)  # list is not granted
        assert_error(robot.delete(one), 403)
    # Harbor's permissions: list for the policy list and its deprecated jobs list; read for one policy,
    # its executions, tasks and logs, the event types and the last triggers.
    with core.client(("robot$wh+lister", PW)) as robot:
        assert robot.get(f"{BASE}/policies").status_code == 200
        assert robot.get(f"{BASE}/jobs", params={"policy_id": str(policy_id)}).status_code == 200
        for path in (one, f"{one}/executions", f"{BASE}/lasttrigger", f"{BASE}/events"):
            assert_error(robot.get(path), 403)


def test_a_waiting_delivery_is_pending_and_times_are_harbors(api: httpx.Client, module_database: TestDatabase) -> None:
    policy_id = create(api, policy("waiting"))
    ran = _delivery(module_database, policy_id, "PUSH_ARTIFACT", "success")
    # Made an hour before it ran: the execution's start_time is when it was made (Harbor's creation).
    query(
        module_database,
        "UPDATE jobs SET created_at = now() - interval '1 hour', started_at = now() - interval '1 minute'"
        " WHERE id = $1",
        ran,
    )
    [waiting] = query(
        module_database,
        "INSERT INTO jobs (type, parameters, trigger, run_after) VALUES ('WEBHOOK', $1::jsonb, 'EVENT', 'infinity')"
        " RETURNING id",
        json.dumps({"policy_id": policy_id, "target": 0, "event_type": "DELETE_ARTIFACT", "event_id": "w"}),
    )
    base = f"{BASE}/policies/{policy_id}/executions"
    shown = {e["id"]: e for e in api.get(base).json()}
    pending = shown[waiting["id"]]
    assert pending["status"] == "Pending" and "end_time" not in pending
    assert pending["metrics"] == {
        "task_count": 1,
        "success_task_count": 0,
        "error_task_count": 0,
        "pending_task_count": 1,
        "running_task_count": 0,
        "scheduled_task_count": 0,
        "stopped_task_count": 0,
    }
    [task] = api.get(f"{base}/{waiting['id']}/tasks").json()
    assert (task["status"], task["run_count"], task["extra_attrs"]) == ("Pending", 0, {})
    assert "start_time" not in task and "end_time" not in task
    [row] = query(module_database, "SELECT created_at, started_at FROM jobs WHERE id = $1", ran)
    execution = shown[ran]
    assert execution["start_time"] == harbor_time(row["created_at"])
    [task] = api.get(f"{base}/{ran}/tasks").json()
    assert (task["creation_time"], task["start_time"]) == (
        harbor_time(row["created_at"]),
        harbor_time(row["started_at"]),
    )
    trigger = [t for t in api.get(f"{BASE}/lasttrigger").json() if t["policy_name"] == "waiting"]
    times = {t["event_type"]: t.get("last_trigger_time") for t in trigger}
    assert times["PUSH_ARTIFACT"] == harbor_time(row["created_at"]) and times["DELETE_ARTIFACT"] is not None
    # The one task is on the first page only.
    second = api.get(f"{base}/{ran}/tasks", params={"page": "2"})
    assert second.json() == [] and second.headers["X-Total-Count"] == "1"
    log = api.get(f"{base}/{waiting['id']}/tasks/{waiting['id']}/log")
    assert log.status_code == 200 and log.text == ""  # nothing logged before its first attempt
