"""Webhook bodies, byte for byte as Harbor's notifier writes them (its formats' documented examples)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import uuid

from services.common.events.models import Event, EventType
from services.common.jobs.models import Job
from services.jobservice.replication import announce
from services.jobservice.replication_store import Endpoint, StoredPolicy
from services.jobservice.webhooks.payloads import EventProject, body, go_json, harbor_payload

DIGEST = "sha256:dde8e930c7b6a490f728e66292bc9bce42efc9bbb5278bae40e4f30f6e00fe8c"
AT = dt.datetime.fromtimestamp(1678082303, dt.UTC)
LIBRARY = EventProject(1, "library", True, dt.datetime.fromtimestamp(1677053165, dt.UTC))


def test_a_pull_by_digest_is_harbors_default_payload_byte_for_byte() -> None:
    event = Event(EventType.PULL_ARTIFACT, "admin", "library/busybox", digest=DIGEST, occurred_at=AT)
    content_type, text = body(harbor_payload(event, LIBRARY, "https://harbor.dev"), "http", "Default", 1, 3, "r")
    assert content_type == "application/json"
    assert text == (
        '{"type":"PULL_ARTIFACT","occur_at":1678082303,"operator":"admin","event_data":{"resources":[{"digest":'
        f'"{DIGEST}","tag":"{DIGEST}","resource_url":"harbor.dev/library/busybox@{DIGEST}"}}],"repository":'
        '{"date_created":1677053165,"name":"busybox","namespace":"library","repo_full_name":"library/busybox",'
        '"repo_type":"public"}}}'
    )


def test_a_push_by_tag_names_the_tag_and_a_private_repository() -> None:
    private = EventProject(7, "team", False, LIBRARY.repository_created_at)
    event = Event(EventType.PUSH_ARTIFACT, "dev", "team/apps/web", digest=DIGEST, tag="1.2", occurred_at=AT)
    payload = harbor_payload(event, private, "https://reg.example.com:8443")
    assert payload["event_data"]["resources"] == [
        {"digest": DIGEST, "tag": "1.2", "resource_url": "reg.example.com:8443/team/apps/web:1.2"}
    ]
    assert payload["event_data"]["repository"]["name"] == "apps/web"
    assert payload["event_data"]["repository"]["repo_type"] == "private"


def test_a_deleted_repository_has_no_creation_time() -> None:
    gone = EventProject(1, "library", True, None)
    event = Event(EventType.DELETE_ARTIFACT, "admin", "library/busybox", digest=DIGEST, occurred_at=AT)
    assert "date_created" not in harbor_payload(event, gone, "https://h")["event_data"]["repository"]


def test_a_quota_event_carries_its_message_as_harbors_custom_attribute() -> None:
    event = Event(
        EventType.QUOTA_EXCEED, "dev", "library/big", digest=DIGEST, details="adding 1 GiB exceeds", occurred_at=AT
    )
    data = harbor_payload(event, LIBRARY, "https://h")["event_data"]
    assert data["resources"] == [{"digest": DIGEST, "tag": ""}]
    assert data["custom_attributes"] == {"Details": "adding 1 GiB exceeds"}


def test_cloudevents_wraps_the_event_data_with_harbors_type_and_source() -> None:
    event = Event(EventType.PUSH_ARTIFACT, "admin", "library/busybox", digest=DIGEST, tag="v1", occurred_at=AT)
    request_id = str(uuid.uuid4())
    content_type, text = body(harbor_payload(event, LIBRARY, "https://h"), "http", "CloudEvents", 1, 3, request_id)
    assert content_type == "application/cloudevents+json"
    sent = json.loads(text)
    assert {k: sent[k] for k in ("specversion", "requestid", "source", "type", "datacontenttype", "time")} == {
        "specversion": "1.0",
        "requestid": request_id,
        "source": "/projects/1/webhook/policies/3",
        "type": "harbor.artifact.pushed",
        "datacontenttype": "application/json",
        "time": "2023-03-06T05:58:23Z",
    }
    assert sent["operator"] == "admin" and uuid.UUID(sent["id"])
    assert sent["data"]["resources"][0]["tag"] == "v1"


def test_slack_gets_harbors_blocks_with_the_event_data_as_a_code_block() -> None:
    event = Event(EventType.DELETE_ARTIFACT, "admin", "library/busybox", digest=DIGEST, occurred_at=AT)
    payload = harbor_payload(event, LIBRARY, "https://h")
    _, text = body(payload, "slack", "Default", 1, 3, "r")
    texts = [b["text"]["text"] for b in json.loads(text)["blocks"]]
    assert texts[:5] == [
        "*Harbor webhook events*",
        "*event_type:* DELETE_ARTIFACT",
        "*occur_at:* <!date^1678082303^{date} at {time}|February 18th, 2014 at 6:39 AM PST>",
        "*operator:* admin",
        "*event_data:*",
    ]
    assert texts[5].startswith('```{\n\t"resources": [') and texts[5].endswith("```")
    assert json.loads(texts[5].strip("`")) == payload["event_data"]


def test_go_escapes_html_characters_and_keeps_utf8() -> None:
    assert go_json({"a": "<b>&é"}) == '{"a":"\\u003cb\\u003e\\u0026é"}'


def test_a_retention_event_is_harbors_retention_data_with_the_host_name() -> None:
    details = {
        "total": 3,
        "retained": 1,
        "project_name": "library",
        "retention_policy_id": 4,
        "retention_rule": [{"template": "latestPushedK", "params": {"latestPushedK": 1}}],
        "result": "SUCCESS",
        "deleted_artifact": [{"type": "image", "status": "SUCCESS", "name_tag": "busybox:1.0"}],
    }
    event = Event(EventType.TAG_RETENTION, "SCHEDULE", "library/busybox", details=json.dumps(details), occurred_at=AT)
    payload = harbor_payload(event, LIBRARY, "https://harbor.dev:8443")
    assert payload["operator"] == "SCHEDULE"
    assert payload["event_data"] == {
        "retention": {
            "total": 3,
            "retained": 1,
            "harbor_hostname": "harbor.dev",
            **{k: v for k, v in details.items() if k not in ("total", "retained")},
        }
    }
    assert list(payload["event_data"]["retention"])[:3] == ["total", "retained", "harbor_hostname"]


def _replication_event(push: bool, status: str, src: str, dst: str) -> Event:
    """The event announce makes of a task of a manual execution of a policy with a basic-auth endpoint."""
    started = dt.datetime.fromtimestamp(1680501891, dt.UTC)
    job = Job(
        1, "REPLICATION", {}, "running", "MANUAL", 1, 3, False, None, "", {}, None, started, started, None, started
    )
    endpoint = Endpoint(4, "hub", "docker-registry", "https://hub.example", False, "", "u", "c", "basic")
    policy = StoredPolicy(2, "mirror", "", "admin", push, endpoint, "", 0, [], True, False, True, 0, False, False)
    event = announce.task_ended(job, policy, "library/busybox", "image", src, dst, status)
    return dataclasses.replace(event, occurred_at=AT)


def test_a_pushed_artifact_is_harbors_replication_payload_byte_for_byte() -> None:
    event = _replication_event(True, "Succeed", "library/busybox:[1.36,latest]", "chlins/busybox:[1.36,latest]")
    _, text = body(harbor_payload(event, LIBRARY, "https://harbor.dev"), "http", "Default", 1, 3, "r")
    assert text == (
        '{"type":"REPLICATION","occur_at":1678082303,"operator":"MANUAL","event_data":{"replication":{'
        '"harbor_hostname":"harbor.dev","job_status":"Success","artifact_type":"image",'
        '"authentication_type":"basic","override_mode":true,"trigger_type":"MANUAL","policy_creator":"admin",'
        '"execution_timestamp":1680501891,'
        '"src_resource":{"registry_type":"harbor","endpoint":"https://harbor.dev","namespace":"library"},'
        '"dest_resource":{"registry_name":"hub","registry_type":"docker-registry","endpoint":"https://hub.example",'
        '"namespace":"chlins"},'
        '"successful_artifact":[{"type":"image","status":"Success","name_tag":"busybox:[1.36,latest]",'
        '"references":["1.36","latest"]}]}}}'
    )


def test_a_failed_pull_is_the_local_destination_s_failed_artifact() -> None:
    event = _replication_event(False, "Failed", "chlins/busybox:[1.36]", "library/busybox:[1.36]")
    replication = harbor_payload(event, LIBRARY, "https://harbor.dev:8443")["event_data"]["replication"]
    assert replication["harbor_hostname"] == "harbor.dev" and replication["job_status"] == "Error"
    assert replication["src_resource"] == {
        "registry_name": "hub",
        "registry_type": "docker-registry",
        "endpoint": "https://hub.example",
        "namespace": "chlins",
    }
    assert replication["dest_resource"] == {
        "registry_type": "harbor",
        "endpoint": "https://harbor.dev:8443",
        "namespace": "library",
    }
    assert "successful_artifact" not in replication
    assert replication["failed_artifact"] == [
        {"type": "image", "status": "Error", "name_tag": "busybox:[1.36]", "references": ["1.36"]}
    ]


def test_an_untagged_artifact_is_referenced_by_its_digest_and_a_stopped_task_lists_none() -> None:
    event = _replication_event(True, "Stopped", f"library/busybox@{DIGEST}", f"chlins/busybox@{DIGEST}")
    assert json.loads(event.details or "{}")["artifact"]["references"] == [DIGEST]
    replication = harbor_payload(event, LIBRARY, "https://h")["event_data"]["replication"]
    assert replication["job_status"] == "Stopped"
    assert "successful_artifact" not in replication and "failed_artifact" not in replication
