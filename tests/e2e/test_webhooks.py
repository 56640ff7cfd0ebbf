"""Webhooks end to end: the whole stack delivers to a real HTTP receiver (tests/harness/receiver.py) what a
skopeo push, a pull and a delete did, in Harbor's Default payload byte for byte, in CloudEvents and in
Slack's blocks; signed when the policy has a signing secret; every event once and in order after the
receiver was down for 30 s; and refusals (an internal target no longer allowed, a redirect) in the task's
log, without holding up another policy's deliveries; quota, tag retention and replication events in
Harbor's shapes."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.common.oci import mediatypes as mt
from tests.e2e import ocilayout
from tests.e2e.test_registries import create as create_registry
from tests.e2e.test_registries import credential, endpoint
from tests.e2e.test_replication import push_policy, start
from tests.e2e.test_skopeo_immutable import skopeo_copy
from tests.harness.distribution import DistributionProcess
from tests.harness.oci import digest_of, image_manifest, push_blob, push_image, push_manifest
from tests.harness.plugin import RegistryEndpoint
from tests.harness.receiver import WebhookReceiver
from tests.harness.stack import ADMIN_PASSWORD, StackProcess
from tests.harness.waiting import eventually
from tests.integration.jobservice.test_retention import execute, rule
from tests.integration.jobservice.test_retention import policy as retention_policy

pytestmark = pytest.mark.e2e
ADMIN = ("admin", ADMIN_PASSWORD)
PROJECT = "hooks"
DEADLINE_S = 120
# Generous for a loaded machine (the receiver answers at once), and under half the jobservice's heartbeat
# timeout, so that a chain's deliveries follow each other from one run as they do by default.
TIMEOUT_S = 10


@pytest.fixture(scope="module")
def admin(stack: StackProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{stack.url}/api/v2.0", auth=ADMIN, timeout=60) as client:
        settings = {"webhook_target_allowlist": "127.0.0.1", "webhook_job_http_client_timeout": TIMEOUT_S}
        assert client.put("/configurations", json=settings).status_code == 200
        r = client.post("/projects", json={"project_name": PROJECT, "metadata": {"public": "true"}})
        assert r.status_code == 201, r.text
        yield client


@pytest.fixture(scope="module")
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as proc:
        yield proc


def policy(admin: httpx.Client, name: str, events: list[str], *targets: dict[str, Any]) -> int:
    body = {"name": name, "event_types": events, "targets": list(targets), "enabled": True}

    # Core may not have seen the allowlist yet (a change reaches every process within a second).
    def created() -> httpx.Response | None:
        r = admin.post(f"/projects/{PROJECT}/webhook/policies", json=body)
        return r if r.status_code != 400 or "webhook_target_allowlist" not in r.text else None

    r = eventually(created, "the allowlist to reach core", DEADLINE_S)
    assert r.status_code == 201, r.text
    return int(r.headers["Location"].rsplit("/", 1)[1])


def http(receiver: WebhookReceiver, path: str, **extra: Any) -> dict[str, Any]:
    return {"type": "http", "address": receiver.url(path), "skip_cert_verify": False, **extra}


def executions(admin: httpx.Client, policy_id: int) -> list[dict[str, Any]]:
    r = admin.get(f"/projects/{PROJECT}/webhook/policies/{policy_id}/executions", params={"page_size": 100})
    assert r.status_code == 200, r.text
    listed: list[dict[str, Any]] = r.json()
    return listed


def task_log(admin: httpx.Client, policy_id: int, execution_id: int) -> str:
    base = f"/projects/{PROJECT}/webhook/policies/{policy_id}/executions/{execution_id}/tasks"
    [task] = admin.get(base).json()
    return admin.get(f"{base}/{task['id']}/log").text


def push(stack: StackProcess, tmp_path: Path, repository: str, tag: str) -> ocilayout.Layout:
    layout = ocilayout.write_image(tmp_path / f"{repository.replace('/', '-')}-{tag}", tag, seed=f"{repository}:{tag}")
    host = stack.url.removeprefix("http://")
    copied = skopeo_copy(tmp_path, layout, f"docker://{host}/{PROJECT}/{repository}:{tag}")
    assert copied.returncode == 0, copied.stderr
    return layout


def default_payload(
    sent: dict[str, Any], kind: str, stack: StackProcess, repository: str, tag: str, digest: str
) -> bytes:
    """Harbor's Default payload for this event, as Go's encoding/json writes it (the times as sent)."""
    host = stack.url.removeprefix("http://")
    reference, separator = (tag, ":") if tag else (digest, "@")
    repo = sent["event_data"]["repository"]
    created = f'"date_created":{repo["date_created"]},' if "date_created" in repo else ""
    return (
        f'{{"type":"{kind}","occur_at":{sent["occur_at"]},"operator":"admin","event_data":{{"resources":[{{'
        f'"digest":"{digest}","tag":"{reference}","resource_url":"{host}/{PROJECT}/{repository}{separator}{reference}"'
        f'}}],"repository":{{{created}"name":"{repository}","namespace":"{PROJECT}",'
        f'"repo_full_name":"{PROJECT}/{repository}","repo_type":"public"}}}}}}'
    ).encode()


def test_a_push_a_pull_and_a_delete_arrive_in_harbors_shapes(
    stack: StackProcess,
    admin: httpx.Client,
    receiver: WebhookReceiver,
    registry_endpoint: RegistryEndpoint,
    tmp_path: Path,
) -> None:
    events = ["PUSH_ARTIFACT", "PULL_ARTIFACT", "DELETE_ARTIFACT"]
    default_id = policy(admin, "to-default", events, http(receiver, "/default", auth_header="Bearer hook-token"))
    cloud_id = policy(admin, "to-cloudevents", events, http(receiver, "/cloud", payload_format="CloudEvents"))
    policy(admin, "to-slack", ["PUSH_ARTIFACT"], {"type": "slack", "address": receiver.url("/slack")})
    started = time.monotonic()

    layout = push(stack, tmp_path, "web", "1.0")
    [pushed] = receiver.wait_for(1, "/default")
    sent = json.loads(pushed.body)
    assert pushed.body == default_payload(sent, "PUSH_ARTIFACT", stack, "web", "1.0", layout.digest)
    assert pushed.headers["Content-Type"] == "application/json"
    assert pushed.headers["Authorization"] == "Bearer hook-token"
    assert abs(sent["occur_at"] - time.time()) < 600 and sent["event_data"]["repository"]["date_created"] > 0

    [cloud] = receiver.wait_for(1, "/cloud")
    event = json.loads(cloud.body)
    assert cloud.headers["Content-Type"] == "application/cloudevents+json"
    assert (event["specversion"], event["type"], event["operator"]) == ("1.0", "harbor.artifact.pushed", "admin")
    assert (
        event["source"]
        == f"/projects/{admin.get(f'/projects/{PROJECT}').json()['project_id']}/webhook/policies/{cloud_id}"
    )
    assert event["data"] == sent["event_data"]

    [slack] = receiver.wait_for(1, "/slack")
    texts = [block["text"]["text"] for block in json.loads(slack.body)["blocks"]]
    assert texts[0] == "*Harbor webhook events*" and texts[1] == "*event_type:* PUSH_ARTIFACT"
    assert json.loads(texts[5].strip("`")) == sent["event_data"]

    # A pull by digest: its tag is the digest and its URL names it with @.
    with registry_endpoint.client() as registry:
        got = registry.get(f"/v2/{PROJECT}/web/manifests/{layout.digest}", headers={"Accept": ocilayout.OCI_MANIFEST})
        assert got.status_code == 200, got.text
    pulled = receiver.wait_for(2, "/default")[1]
    assert pulled.body == default_payload(json.loads(pulled.body), "PULL_ARTIFACT", stack, "web", "", layout.digest)

    deleted = admin.delete(f"/projects/{PROJECT}/repositories/web/artifacts/{layout.digest}")
    assert deleted.status_code == 200, deleted.text
    gone = receiver.wait_for(3, "/default")[2]
    assert json.loads(gone.body)["type"] == "DELETE_ARTIFACT"
    assert gone.at - started < DEADLINE_S

    # Each delivery is an execution with one task, its log saying what the receiver answered.
    # The receiver has the request before the job's row says it succeeded: wait for the rows.
    def settled() -> list[dict[str, Any]] | None:
        listed = executions(admin, default_id)
        return listed if len(listed) == 3 and {e["status"] for e in listed} == {"Success"} else None

    listed = eventually(settled, "the three executions to succeed", DEADLINE_S)
    assert {e["extra_attrs"]["event_type"] for e in listed} == set(events)
    assert f"{receiver.url('/default')}: 200" in task_log(admin, default_id, listed[0]["id"])


def test_a_signed_policy_signs_each_body_with_a_timestamp(
    stack: StackProcess, admin: httpx.Client, receiver: WebhookReceiver, tmp_path: Path
) -> None:
    secret = "a-shared-secret"
    policy(admin, "signed", ["PUSH_ARTIFACT"], http(receiver, "/signed", signing_secret=secret))
    push(stack, tmp_path, "signed", "1.0")
    [request] = receiver.wait_for(1, "/signed")
    stamp = request.headers["X-Berth-Timestamp"]
    expected = hmac.new(secret.encode(), stamp.encode() + b"." + request.body, hashlib.sha256).hexdigest()
    assert request.headers["X-Berth-Signature"] == f"sha256={expected}"
    assert abs(int(stamp) - time.time()) < 600


def test_a_receiver_down_for_30_s_gets_every_event_once_and_in_order(
    stack: StackProcess, admin: httpx.Client, receiver: WebhookReceiver, tmp_path: Path
) -> None:
    policy_id = policy(admin, "ordered", ["PUSH_ARTIFACT"], http(receiver, "/ordered"))
    other_id = policy(admin, "ordered-too", ["PUSH_ARTIFACT"], http(receiver, "/ordered-too"))
    receiver.down()
    went_down = time.monotonic()
    tags = [f"v{n}" for n in range(5)]
    try:
        for tag in tags:
            push(stack, tmp_path, "ordered", tag)

        def failing() -> bool:
            first = min(executions(admin, policy_id), key=lambda e: e["id"])
            return "failed" in task_log(admin, policy_id, first["id"])

        eventually(failing, "the first delivery to fail while the receiver is down", DEADLINE_S)
        # The scenario: the receiver stays away for 30 s, whatever the deliveries do meanwhile.
        eventually(lambda: time.monotonic() - went_down >= 30, "30 s of the receiver down", DEADLINE_S, poll_s=0.5)
        assert receiver.received("/ordered") == []
    finally:
        receiver.up()
    for path, pid in (("/ordered", policy_id), ("/ordered-too", other_id)):
        got = receiver.wait_for(len(tags), path, deadline_s=300)
        sent_tags = [json.loads(r.body)["event_data"]["resources"][0]["tag"] for r in got]
        assert sent_tags == tags, sent_tags

        def settled(pid: int = pid) -> list[dict[str, Any]] | None:
            listed = executions(admin, pid)
            return listed if len(listed) == len(tags) and {e["status"] for e in listed} == {"Success"} else None

        eventually(settled, f"every execution of {path} to succeed", DEADLINE_S)
        assert len(receiver.received(path)) == len(tags)  # once each


def test_refusals_are_in_the_task_log_and_hold_up_no_other_policy(
    stack: StackProcess, admin: httpx.Client, receiver: WebhookReceiver, tmp_path: Path
) -> None:
    receiver.statuses["/moved"] = 302
    receiver.delays["/slow"] = 5.0
    receiver.delays["/hangs"] = TIMEOUT_S + 20
    receiver.endless.add("/endless")
    moved_id = policy(admin, "moved", ["PUSH_ARTIFACT"], http(receiver, "/moved"))
    slow_id = policy(admin, "slow", ["PUSH_ARTIFACT"], http(receiver, "/slow"))
    hangs_id = policy(admin, "hangs", ["PUSH_ARTIFACT"], http(receiver, "/hangs"))
    endless_id = policy(admin, "endless", ["PUSH_ARTIFACT"], http(receiver, "/endless"))
    policy(admin, "prompt", ["PUSH_ARTIFACT"], http(receiver, "/prompt"))
    push(stack, tmp_path, "refusals", "1.0")
    [prompt] = receiver.wait_for(1, "/prompt")
    slow = receiver.wait_for(1, "/slow")[0]
    hung = receiver.wait_for(1, "/hangs")[0]
    assert prompt.at - slow.at < 5.0 and prompt.at - hung.at < 5.0  # neither held the prompt one

    def ended(policy_id: int) -> dict[str, Any] | None:
        listed = executions(admin, policy_id)
        return listed[0] if listed and listed[0]["status"] not in ("Pending", "Running") else None

    # An endless answer is read no further than its start: the delivery succeeds.
    endless = eventually(lambda: ended(endless_id), "the delivery to the endless answer to end", DEADLINE_S)
    assert endless["status"] == "Success", endless

    # A receiver that hangs: the attempt fails after the client timeout, saying so, and is retried.
    def timed_out() -> str | None:
        listed = executions(admin, hangs_id)
        text = task_log(admin, hangs_id, listed[0]["id"]) if listed else ""
        return text if f"got no answer within {TIMEOUT_S} s" in text else None

    eventually(timed_out, "the hanging receiver's timeout in the log", DEADLINE_S)
    assert admin.delete(f"/projects/{PROJECT}/webhook/policies/{hangs_id}").status_code == 200  # no more retries

    moved = eventually(lambda: ended(moved_id), "the redirected delivery to end", DEADLINE_S)
    assert moved["status"] == "Error", moved
    assert "a redirect (to http://169.254.169.254/) is not followed" in task_log(admin, moved_id, moved["id"])
    assert len(receiver.received("/moved")) == 1  # not retried: it would redirect again
    slow_done = eventually(lambda: ended(slow_id), "the slow delivery to end", DEADLINE_S)
    assert slow_done["status"] == "Success", slow_done

    # The allowlist no longer names 127.0.0.1: the delivery is refused before it connects.
    assert admin.put("/configurations", json={"webhook_target_allowlist": ""}).status_code == 200
    try:
        eventually(
            lambda: (
                admin.post(
                    f"/projects/{PROJECT}/webhook/policies",
                    json={"name": "probe", "event_types": ["PUSH_ARTIFACT"], "targets": [http(receiver, "/probe")]},
                ).status_code
                == 400
            ),
            "core to refuse 127.0.0.1",
            DEADLINE_S,
        )
        before = len(receiver.received("/prompt"))
        push(stack, tmp_path, "refusals", "2.0")
        prompt_id = next(
            p["id"] for p in admin.get(f"/projects/{PROJECT}/webhook/policies").json() if p["name"] == "prompt"
        )

        def refused() -> str | None:
            listed = [e for e in executions(admin, prompt_id) if e["status"] == "Error"]
            return task_log(admin, prompt_id, listed[0]["id"]) if listed else None

        log = eventually(refused, "the refused delivery", DEADLINE_S)
        assert "127.0.0.1 (loopback): add it to webhook_target_allowlist" in log, log
        assert len(receiver.received("/prompt")) == before
    finally:
        assert admin.put("/configurations", json={"webhook_target_allowlist": "127.0.0.1"}).status_code == 200


def test_a_push_past_the_quota_is_announced_with_harbors_details(
    admin: httpx.Client, receiver: WebhookReceiver, registry_endpoint: RegistryEndpoint
) -> None:
    policy(admin, "quota", ["QUOTA_EXCEED"], http(receiver, "/quota"))
    project_id = admin.get(f"/projects/{PROJECT}").json()["project_id"]
    [quota] = admin.get("/quotas", params={"reference_id": str(project_id)}).json()
    assert admin.put(f"/quotas/{quota['id']}", json={"hard": {"storage": 1024}}).status_code == 200
    try:
        with registry_endpoint.client() as registry:
            layer, config = b"x" * 4096, b'{"architecture": "amd64", "os": "linux"}'
            for blob in (config, layer):
                push_blob(registry, f"{PROJECT}/capped", blob)
            manifest = image_manifest(config, [layer])
            refused = push_manifest(registry, f"{PROJECT}/capped", "big", manifest, mt.OCI_MANIFEST)
            assert refused.status_code == 403, refused.text
    finally:
        assert admin.put(f"/quotas/{quota['id']}", json={"hard": {"storage": -1}}).status_code == 200
    [got] = receiver.wait_for(1, "/quota")
    sent = json.loads(got.body)
    assert (sent["type"], sent["operator"]) == ("QUOTA_EXCEED", "admin")
    assert sent["event_data"]["resources"] == [{"digest": digest_of(manifest), "tag": "big"}]
    assert sent["event_data"]["repository"]["repo_full_name"] == f"{PROJECT}/capped"
    assert "exceed the configured upper limit" in sent["event_data"]["custom_attributes"]["Details"]


def test_a_retention_run_that_removes_artifacts_is_announced(
    admin: httpx.Client, receiver: WebhookReceiver, registry_endpoint: RegistryEndpoint
) -> None:
    policy(admin, "retention", ["TAG_RETENTION"], http(receiver, "/retention"))
    with registry_endpoint.client() as registry:
        for tag in ("r1", "r2", "r3"):
            push_image(registry, f"{PROJECT}/retained", tag)
    project_id = admin.get(f"/projects/{PROJECT}").json()["project_id"]
    keep_latest = rule("latestPushedK", 1, repos="retained", untagged=False)
    r = admin.post("/retentions", json=retention_policy(project_id, keep_latest))
    assert r.status_code == 201, r.text
    retention_id = int(r.headers["Location"].rsplit("/", 1)[1])
    execute(admin, retention_id, dry_run=True)  # a dry run is not announced, as Harbor's
    execute(admin, retention_id, dry_run=False)
    [got] = receiver.wait_for(1, "/retention")
    sent = json.loads(got.body)
    assert (sent["type"], sent["operator"]) == ("TAG_RETENTION", "MANUAL")
    retention = sent["event_data"]["retention"]
    assert list(retention) == [
        "total",
        "retained",
        "harbor_hostname",
        "project_name",
        "retention_policy_id",
        "retention_rule",
        "result",
        "deleted_artifact",
    ]
    assert (retention["total"], retention["retained"], retention["project_name"]) == (3, 1, PROJECT)
    assert retention["harbor_hostname"] == "127.0.0.1" and retention["retention_policy_id"] == retention_id
    assert retention["retention_rule"][0]["template"] == "latestPushedK"
    assert sorted(a["name_tag"] for a in retention["deleted_artifact"]) == ["retained:r1", "retained:r2"]
    assert {a["status"] for a in retention["deleted_artifact"]} == {"SUCCESS"}


def test_each_replicated_artifact_is_announced_with_harbors_replication_data(
    admin: httpx.Client,
    receiver: WebhookReceiver,
    registry_endpoint: RegistryEndpoint,
    stack: StackProcess,
    tmp_path: Path,
) -> None:
    policy(admin, "replication", ["REPLICATION"], http(receiver, "/replication"))
    with registry_endpoint.client() as registry:
        push_image(registry, f"{PROJECT}/mirrored", "m1")
    with DistributionProcess(tmp_path / "distribution", users={"hook-user": "Hook-Pass-1"}) as distribution:
        auth = credential("hook-user", "Hook-Pass-1")
        registry_id = create_registry(admin, endpoint("hooks-mirror", distribution.url, credential=auth))
        policy_id = push_policy(admin, "hooks-to-mirror", registry_id, "copies", name=f"{PROJECT}/mirrored")
        execution = start(admin, policy_id)
        assert execution["status"] == "Succeed" and execution["total"] == 1, execution
        [got] = receiver.wait_for(1, "/replication")
    sent = json.loads(got.body)
    assert (sent["type"], sent["operator"]) == ("REPLICATION", "MANUAL")
    replication = sent["event_data"]["replication"]
    started = replication.pop("execution_timestamp")
    assert isinstance(started, int) and started <= sent["occur_at"]
    assert replication == {
        "harbor_hostname": "127.0.0.1",
        "job_status": "Success",
        "artifact_type": "image",
        "authentication_type": "basic",
        "trigger_type": "MANUAL",
        "policy_creator": "admin",
        "src_resource": {"registry_type": "harbor", "endpoint": stack.url, "namespace": PROJECT},
        "dest_resource": {
            "registry_name": "hooks-mirror",
            "registry_type": "docker-registry",
            "endpoint": distribution.url,
            "namespace": "copies",
        },
        "successful_artifact": [
            {"type": "image", "status": "Success", "name_tag": "mirrored:[m1]", "references": ["m1"]}
        ],
    }
