"""Harbor's REPLICATION event: one per replication task that ends (copied or deleted, failed, stopped),
for the webhooks of the local project the task read from (push) or wrote into (pull). The event's
`details` hold Harbor's replication event data as far as the jobservice knows it; the webhook adds this
Berth's host name and address (services/jobservice/webhooks/payloads.py)."""

from __future__ import annotations

import json

from services.common.events.models import Event, EventType
from services.common.jobs.models import Job
from services.jobservice.replication_store import StoredPolicy

# A task's status, as Harbor's job statuses name it in the event.
JOB_STATUS = {"Succeed": "Success", "Failed": "Error", "Stopped": "Stopped"}


def _split(resource: str) -> tuple[str, str]:
    """(namespace, the rest) of a task's resource, `project/repo:[tags]` or `project/repo@digest`."""
    namespace, _, rest = resource.partition("/")
    return (namespace, rest) if rest else ("", namespace)


def _references(rest: str) -> list[str]:
    """Harbor's `references` of a task's artifact: its tags, or its digest when it has none."""
    if "@" in rest:
        return [rest.rsplit("@", 1)[1]]
    tags = rest.rpartition(":[")[2].removesuffix("]")
    return [t for t in tags.split(",") if t]


def task_ended(
    job: Job,
    policy: StoredPolicy,
    local_repository: str,
    resource_type: str,
    src_resource: str,
    dst_resource: str,
    status: str,
) -> Event:
    """The event of a task of execution `job` that ended with `status` (Succeed, Failed, Stopped)."""
    job_status = JOB_STATUS[status]
    src_namespace, src_rest = _split(src_resource)
    dst_namespace, dst_rest = _split(dst_resource)
    remote = {
        "registry_name": policy.endpoint.name,
        "registry_type": policy.endpoint.type,
        "endpoint": policy.endpoint.url,
        "namespace": dst_namespace if policy.push else src_namespace,
    }
    started = job.started_at or job.created_at
    details = {
        "job_status": job_status,
        "description": policy.description,
        "artifact_type": resource_type,
        "authentication_type": policy.endpoint.credential_type,
        "override_mode": policy.override,
        "trigger_type": job.trigger,
        "policy_creator": policy.creator,
        "execution_timestamp": int(started.timestamp()),
        # Which side is this registry: the source of a push, the destination of a pull.
        "push": policy.push,
        "remote": remote,
        "local_namespace": src_namespace if policy.push else dst_namespace,
        "artifact": {
            "type": resource_type,
            "status": job_status,
            "name_tag": src_rest if policy.push else dst_rest,
            "references": _references(src_rest),
        },
    }
    return Event(EventType.REPLICATION, job.trigger, local_repository, details=json.dumps(details))
