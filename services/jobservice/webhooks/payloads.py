"""Webhook bodies in Harbor's shapes (its notifier model and formats), built once when the event arrives
and stored with the delivery, so that every attempt sends the same bytes.

- Default: Harbor's Payload, `{"type", "occur_at", "operator", "event_data": {"resources": [{"digest",
  "tag", "resource_url"}], "repository": {"date_created", "name", "namespace", "repo_full_name",
  "repo_type"}, "custom_attributes"}}`, encoded as Go's encoding/json does (fields in the struct's order,
  no spaces, `<`, `>` and `&` escaped) so a receiver comparing bytes sees Harbor's. A tag retention or
  replication event's event_data holds Harbor's `retention` or `replication` alone.
- CloudEvents: CloudEvents 1.0 in structured mode (`application/cloudevents+json`), Harbor's type names
  (`harbor.artifact.pushed` ...), `source` `/projects/{project_id}/webhook/policies/{policy_id}`, the
  `requestid` and `operator` extensions, `data` the Default payload's event_data.
- Slack: Harbor's Slack blocks (its SlackBodyTemplate), the event data as indented JSON in a code block."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from services.common.events.models import Event, EventType

# The event stream's types that have a webhook event of the same name.
WEBHOOK_EVENTS = frozenset(
    {
        EventType.PUSH_ARTIFACT,
        EventType.PULL_ARTIFACT,
        EventType.DELETE_ARTIFACT,
        EventType.QUOTA_EXCEED,
        EventType.QUOTA_WARNING,
        EventType.TAG_RETENTION,
        EventType.REPLICATION,
    }
)
CLOUDEVENTS_TYPES = {
    "DELETE_ARTIFACT": "harbor.artifact.deleted",
    "PULL_ARTIFACT": "harbor.artifact.pulled",
    "PUSH_ARTIFACT": "harbor.artifact.pushed",
    "QUOTA_EXCEED": "harbor.quota.exceeded",
    "QUOTA_WARNING": "harbor.quota.warned",
    "REPLICATION": "harbor.replication.status.changed",
    "SCANNING_FAILED": "harbor.scan.failed",
    "SCANNING_COMPLETED": "harbor.scan.completed",
    "SCANNING_STOPPED": "harbor.scan.stopped",
    "TAG_RETENTION": "harbor.tag_retention.finished",
}
JSON = "application/json"
CLOUDEVENTS_JSON = "application/cloudevents+json"


@dataclass(frozen=True, slots=True)
class EventProject:
    """What a payload says of the event's project and repository."""

    id: int
    name: str
    public: bool
    repository_created_at: dt.datetime | None  # None: the repository is gone (a delete)


def go_json(value: Any, indent: str | None = None) -> str:
    """JSON as Go's encoding/json writes it (HTML characters escaped, UTF-8 as is)."""
    separators = (",", ": ") if indent is not None else (",", ":")
    text = json.dumps(value, ensure_ascii=False, separators=separators, indent=indent)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def harbor_payload(event: Event, project: EventProject, public_url: str) -> dict[str, Any]:
    """Harbor's Payload for an artifact, quota, tag retention or replication event (dict order = Go's field
    order). `public_url`: this Berth's external URL."""
    # Harbor's resource_url names the registry as clients do: its external host, no scheme.
    registry_host = urlsplit(public_url).netloc
    repository = event.repository
    repo: dict[str, Any] = {}
    if project.repository_created_at is not None:
        repo["date_created"] = int(project.repository_created_at.timestamp())
    repo.update(
        name=repository.split("/", 1)[1] if "/" in repository else repository,
        namespace=project.name,
        repo_full_name=repository,
        repo_type="public" if project.public else "private",
    )
    data: dict[str, Any] = {}
    if event.type == EventType.TAG_RETENTION:
        # Harbor's retention data alone (no resources, no repository), its host name without the port.
        details = json.loads(event.details or "{}")
        retention = {k: details[k] for k in ("total", "retained") if k in details}
        retention["harbor_hostname"] = registry_host.split(":", 1)[0]
        retention.update({k: v for k, v in details.items() if k not in retention})
        data["retention"] = retention
    elif event.type == EventType.REPLICATION:
        data["replication"] = _replication(json.loads(event.details or "{}"), registry_host, public_url)
    elif event.type in (EventType.QUOTA_EXCEED, EventType.QUOTA_WARNING):
        # Harbor's quota payload: the resource without a URL, the message as a custom attribute.
        if event.digest or event.tag:
            data["resources"] = [_resource(event.digest, event.tag or "", None)]
        data["repository"] = repo
        data["custom_attributes"] = {"Details": event.details or ""}
    else:
        reference = event.tag or event.digest or ""
        separator = ":" if event.tag else "@"
        url = f"{registry_host}/{repository}{separator}{reference}"
        data["resources"] = [_resource(event.digest, reference, url)]
        data["repository"] = repo
    return {
        "type": str(event.type),
        "occur_at": int(event.occurred_at.timestamp()),
        "operator": event.operator,
        "event_data": data,
    }


def _replication(details: dict[str, Any], registry_host: str, public_url: str) -> dict[str, Any]:
    """Harbor's Replication of one ended task (its fields in order, the empty ones left out as Go's
    omitempty does): this Berth is the source of a push, the destination of a pull."""
    local = {"registry_type": "harbor", "endpoint": public_url, "namespace": details.get("local_namespace", "")}
    remote = details.get("remote", {})
    src, dst = (local, remote) if details.get("push") else (remote, local)
    artifact = details.get("artifact", {})
    status = details.get("job_status", "")
    fields: dict[str, Any] = {
        "harbor_hostname": registry_host.split(":", 1)[0],
        "job_status": status,
        "description": details.get("description", ""),
        "artifact_type": details.get("artifact_type", ""),
        "authentication_type": details.get("authentication_type", ""),
        "override_mode": details.get("override_mode", False),
        "trigger_type": details.get("trigger_type", ""),
        "policy_creator": details.get("policy_creator", ""),
        "execution_timestamp": details.get("execution_timestamp", 0),
        "src_resource": {k: v for k, v in src.items() if v or k in ("registry_type", "endpoint")},
        "dest_resource": {k: v for k, v in dst.items() if v or k in ("registry_type", "endpoint")},
        "successful_artifact": [artifact] if status == "Success" else [],
        "failed_artifact": [artifact] if status == "Error" else [],
    }
    return {k: v for k, v in fields.items() if v}


def _resource(digest: str | None, tag: str, url: str | None) -> dict[str, Any]:
    found: dict[str, Any] = {}
    if digest:
        found["digest"] = digest
    found["tag"] = tag
    if url:
        found["resource_url"] = url
    return found


def body(
    payload: dict[str, Any], notify_type: str, payload_format: str, project_id: int, policy_id: int, request_id: str
) -> tuple[str, str]:
    """(content type, body text) of one delivery of `payload` to a target of that type and format."""
    if notify_type == "slack":
        return JSON, go_json(slack_message(payload))
    if payload_format == "CloudEvents":
        event = {
            "specversion": "1.0",
            "requestid": request_id,
            "id": str(uuid.uuid4()),
            "source": f"/projects/{project_id}/webhook/policies/{policy_id}",
            "type": CLOUDEVENTS_TYPES[payload["type"]],
            "datacontenttype": JSON,
            "time": dt.datetime.fromtimestamp(payload["occur_at"], dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "data": payload["event_data"],
            "operator": payload["operator"],
        }
        return CLOUDEVENTS_JSON, go_json(event)
    return JSON, go_json(payload)


def slack_message(payload: dict[str, Any]) -> dict[str, Any]:
    """Harbor's SlackBodyTemplate filled in: six mrkdwn sections."""

    def section(text: str) -> dict[str, Any]:
        return {"type": "section", "text": {"type": "mrkdwn", "text": text}}

    occur_at = payload["occur_at"]
    return {
        "blocks": [
            section("*Harbor webhook events*"),
            section(f"*event_type:* {payload['type']}"),
            section(f"*occur_at:* <!date^{occur_at}^{{date}} at {{time}}|February 18th, 2014 at 6:39 AM PST>"),
            section(f"*operator:* {payload['operator']}"),
            section("*event_data:*"),
            section("```" + go_json(payload["event_data"], indent="\t") + "```"),
        ]
    }
