"""Replication policies (/api/v2.0/replication/policies): Harbor's shapes, with the registries shown as
Registry objects (this one as "Local", id 0); one direction between this registry and an endpoint that
exists; filters, triggers, namespaces and crons checked, each refusal a 400 naming the field; an endpoint
a policy names cannot be deleted (412)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.test_registries import create as create_registry
from tests.e2e.test_registries import endpoint, refused
from tests.harness.distribution import DistributionProcess
from tests.harness.stack import ADMIN_PASSWORD, StackProcess
from tests.harness.token import add_user

ADMIN = ("admin", ADMIN_PASSWORD)


@pytest.fixture(scope="module")
def distribution(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DistributionProcess]:
    with DistributionProcess(tmp_path_factory.mktemp("distribution")) as proc:
        yield proc


@pytest.fixture
def admin(stack: StackProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{stack.url}/api/v2.0", auth=ADMIN, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def remote_id(stack: StackProcess, distribution: DistributionProcess) -> int:
    with httpx.Client(base_url=f"{stack.url}/api/v2.0", auth=ADMIN, timeout=60) as client:
        return create_registry(client, endpoint("policy-remote", distribution.url))


def push_policy(name: str, remote_id: int, **extra: Any) -> dict[str, Any]:
    return {"name": name, "dest_registry": {"id": remote_id}, "enabled": True, **extra}


def create(admin: httpx.Client, body: dict[str, Any]) -> int:
    r = admin.post("/replication/policies", json=body)
    assert r.status_code == 201, r.text
    return int(r.headers["Location"].rsplit("/", 1)[1])


def test_a_push_policy_is_shown_with_both_registries_and_every_field(
    stack: StackProcess, admin: httpx.Client, remote_id: int
) -> None:
    body = push_policy(
        "push-all",
        remote_id,
        description="to the mirror",
        dest_namespace="mirror",
        dest_namespace_replace_count=1,
        trigger={"type": "scheduled", "trigger_settings": {"cron": "0 0 2 * * *"}},
        filters=[
            {"type": "name", "value": "library/**", "decoration": "matches"},
            {"type": "tag", "value": "v*", "decoration": "excludes"},
            {"type": "label", "value": ["release"]},
            {"type": "resource", "value": "image"},
        ],
        deletion=True,
        override=True,
        speed=1024,
        copy_by_chunk=True,
    )
    policy_id = create(admin, body)
    shown = admin.get(f"/replication/policies/{policy_id}").json()
    assert shown["src_registry"]["id"] == 0 and shown["src_registry"]["name"] == "Local"
    assert shown["src_registry"]["type"] == "harbor" and shown["src_registry"]["url"] == stack.url
    assert shown["dest_registry"]["id"] == remote_id and shown["dest_registry"]["name"] == "policy-remote"
    assert shown["trigger"] == {"type": "scheduled", "trigger_settings": {"cron": "0 0 2 * * *"}}
    assert shown["filters"][2] == {"type": "label", "value": ["release"], "decoration": "matches"}
    assert shown["replicate_deletion"] is True and shown["deletion"] is True
    assert (shown["override"], shown["enabled"], shown["speed"], shown["copy_by_chunk"]) == (True, True, 1024, True)
    assert (shown["dest_namespace"], shown["dest_namespace_replace_count"]) == ("mirror", 1)
    assert shown["single_active_replication"] is False and shown["creation_time"] and shown["update_time"]
    listed = admin.get("/replication/policies", params={"name": "push-a"})
    assert listed.headers["X-Total-Count"] == "1" and listed.json() == [shown]


def test_defaults_are_harbors(admin: httpx.Client, remote_id: int) -> None:
    policy_id = create(admin, {"name": "pull-minimal", "src_registry": {"id": remote_id}, "speed": -5})
    shown = admin.get(f"/replication/policies/{policy_id}").json()
    assert shown["dest_registry"]["name"] == "Local" and shown["src_registry"]["id"] == remote_id
    assert shown["trigger"]["type"] == "manual" and shown["filters"] == []
    # A Go bool and a negative speed, as Harbor reads them: disabled, no limit; the legacy namespace mode.
    assert (shown["enabled"], shown["speed"], shown["dest_namespace_replace_count"]) == (False, 0, -1)


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"name": ""}, "name cannot be empty"),
        ({"src_registry": {"id": 1}}, "either src_registry or dest_registry"),
        ({"dest_registry": None}, "either src_registry or dest_registry"),
        ({"dest_registry": {"id": 999999}}, "dest_registry: registry 999999 does not exist"),
        ({"trigger": {"type": "hourly"}}, "trigger.type must be one of"),
        ({"trigger": {"type": "scheduled"}}, "cron cannot be empty"),
        ({"trigger": {"type": "scheduled", "trigger_settings": {"cron": "every day"}}}, "six fields"),
        ({"trigger": {"type": "scheduled", "trigger_settings": {"cron": "5 0 * * * *"}}}, "1st field"),
        ({"filters": [{"type": "size", "value": "1"}]}, "filters[0]: type must be one of"),
        ({"filters": [{"type": "name", "value": "a/{b"}]}, "filters[0]: the name pattern"),
        ({"filters": [{"type": "tag", "value": "v1", "decoration": "is"}]}, "decoration must be"),
        ({"filters": [{"type": "label", "value": "release"}]}, "list of label names"),
        ({"filters": [{"type": "resource", "value": "chart"}]}, "resource must be one of"),
        ({"filters": [{"type": "tag", "value": 3}]}, "filters[0].value must be a string"),
        ({"filters": [{"type": "tag", "value": "a"}, {"type": "tag", "value": "b"}]}, "a second tag filter"),
        ({"dest_namespace": "Upper/Case"}, "dest_namespace"),
        ({"dest_namespace_replace_count": -2}, "dest_namespace_replace_count"),
        ({"speed": "fast"}, "speed must be an integer"),
        ({"schedule": "daily"}, "unknown field 'schedule'"),
    ],
)
def test_a_policy_that_does_not_hold_is_a_400_naming_the_field(
    admin: httpx.Client, remote_id: int, change: dict[str, Any], needle: str
) -> None:
    body = {**push_policy("refused", remote_id), **change}
    refused(admin.post("/replication/policies", json=body), 400, needle)


def test_event_based_triggers_push_policies_only(admin: httpx.Client, remote_id: int) -> None:
    event = {"type": "event_based"}
    create(admin, push_policy("push-on-event", remote_id, trigger=event))
    pull = {"name": "pull-on-event", "src_registry": {"id": remote_id}, "trigger": event}
    refused(admin.post("/replication/policies", json=pull), 400, "event_based")


def test_an_update_replaces_the_policy_and_names_stay_unique(admin: httpx.Client, remote_id: int) -> None:
    policy_id = create(admin, push_policy("to-update", remote_id, override=True))
    create(admin, push_policy("taken-name", remote_id))
    r = admin.put(f"/replication/policies/{policy_id}", json=push_policy("updated", remote_id, dest_namespace="n1"))
    assert r.status_code == 200, r.text
    shown = admin.get(f"/replication/policies/{policy_id}").json()
    assert (shown["name"], shown["dest_namespace"], shown["override"]) == ("updated", "n1", False)
    refused(admin.put(f"/replication/policies/{policy_id}", json=push_policy("taken-name", remote_id)), 409)
    refused(admin.post("/replication/policies", json=push_policy("taken-name", remote_id)), 409, "already exists")
    refused(admin.put("/replication/policies/999999", json=push_policy("x", remote_id)), 404)


def test_a_registry_a_policy_names_cannot_be_deleted_until_the_policy_goes(
    admin: httpx.Client, distribution: DistributionProcess
) -> None:
    registry_id = create_registry(admin, endpoint("held-by-policy", distribution.url))
    policy_id = create(admin, push_policy("holding", registry_id))
    refused(admin.delete(f"/registries/{registry_id}"), 412, "referenced by replication policies")
    assert admin.delete(f"/replication/policies/{policy_id}").status_code == 200
    refused(admin.get(f"/replication/policies/{policy_id}"), 404)
    assert admin.delete(f"/registries/{registry_id}").status_code == 200


def test_only_the_sysadmin_manages_policies(stack: StackProcess, admin: httpx.Client, remote_id: int) -> None:
    assert stack.database is not None
    add_user(stack.database, "policy-watcher", "Plain-Pass-1")
    robot = admin.post(
        "/robots",
        json={
            "name": "replicator-robot",
            "level": "system",
            "duration": -1,
            "permissions": [
                {"kind": "system", "namespace": "/", "access": [{"resource": "replication", "action": "list"}]}
            ],
        },
    )
    assert robot.status_code == 201, robot.text
    callers = {401: None, 403: ("policy-watcher", "Plain-Pass-1")}
    with httpx.Client(base_url=f"{stack.url}/api/v2.0", timeout=30) as client:
        for status, auth in callers.items():
            assert client.get("/replication/policies", auth=auth).status_code == status
            assert (
                client.post("/replication/policies", json=push_policy("x", remote_id), auth=auth).status_code == status
            )
        # Harbor's replication-policy resource is no robot's to hold.
        robot_auth = (robot.json()["name"], robot.json()["secret"])
        assert client.get("/replication/policies", auth=robot_auth).status_code == 403
