"""/api/v2.0/projects/{project_name_or_id}/webhook/...: policies (Harbor's WebhookPolicy with its
WebhookTargetObject targets, plus Berth's `signing_secret`), the supported event types, the last trigger of
each, and each policy's executions (Harbor's Execution, one Task each) with the task's log."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.common.jobs.models import Job
from services.common.secret import MASKED
from services.common.webhooks import EVENT_TYPES, NOTIFY_TYPES, PAYLOAD_FORMATS
from services.core.api.body import no_unknown_fields, opt_bool, opt_int, opt_secret, opt_str, read_object
from services.core.api.common import PROJECT, harbor_time, page_headers, path_id, project_ref
from services.core.api.system_jobs import render_log
from services.core.errors import BadRequest
from services.core.listing import parse_page, parse_q, parse_sort
from services.core.security.middleware import principal_of
from services.core.webhooks.models import (
    EXECUTION_LIST,
    EXECUTION_STATUS,
    POLICY_LIST,
    LastTrigger,
    PolicyFields,
    PolicyView,
    TargetFields,
)
from services.core.webhooks.service import WebhookPolicyService

WEBHOOK = f"{PROJECT}/webhook"
POLICY = f"{WEBHOOK}/policies/{{webhook_policy_id}}"
EXECUTION = f"{POLICY}/executions/{{execution_id}}"
_POLICY_FIELDS = frozenset(
    {"id", "name", "description", "project_id", "targets", "event_types", "creator", "creation_time"}
    | {"update_time", "enabled"}
)
_TARGET_FIELDS = frozenset({"type", "address", "auth_header", "skip_cert_verify", "payload_format", "signing_secret"})


# Harbor's execution and task statuses.
def render_policy(policy: PolicyView) -> dict[str, Any]:
    return {
        "id": policy.id,
        "name": policy.name,
        "description": policy.description,
        "project_id": policy.project_id,
        "targets": [
            {
                "type": t.type,
                "address": t.address,
                "auth_header": MASKED if t.auth_header else "",
                "skip_cert_verify": t.skip_cert_verify,
                "payload_format": t.payload_format,
                "signing_secret": MASKED if t.signing_secret else "",
            }
            for t in policy.targets
        ],
        "event_types": list(policy.event_types),
        "creator": policy.creator,
        "creation_time": harbor_time(policy.created_at),
        "update_time": harbor_time(policy.updated_at),
        "enabled": policy.enabled,
    }


def render_last_trigger(trigger: LastTrigger) -> dict[str, Any]:
    body: dict[str, Any] = {
        "policy_name": trigger.policy_name,
        "event_type": trigger.event_type,
        "enabled": trigger.enabled,
        "creation_time": harbor_time(trigger.created_at),
    }
    if trigger.last_trigger is not None:
        body["last_trigger_time"] = harbor_time(trigger.last_trigger)
    return body


def render_execution(job: Job) -> dict[str, Any]:
    metrics = {f"{kind}_task_count": 0 for kind in ("success", "error", "pending", "running", "scheduled", "stopped")}
    metrics[f"{job.status}_task_count"] = 1
    body: dict[str, Any] = {
        "id": job.id,
        # Harbor's vendor types of a delivery: SLACK to a Slack target, WEBHOOK to an HTTP one.
        "vendor_type": "SLACK" if job.parameters.get("notify_type") == "slack" else "WEBHOOK",
        "vendor_id": int(job.parameters.get("policy_id", 0)),
        "status": EXECUTION_STATUS[job.status],
        "status_message": job.error,
        "metrics": {"task_count": 1, **metrics},
        "trigger": "EVENT",
        "extra_attrs": {"event_type": job.parameters.get("event_type", ""), "payload": job.parameters.get("body", "")},
        # Harbor's execution starts when it is made (the event's arrival; its UI calls it the creation
        # time, and lasttrigger reads it); the task's start_time is when a worker took it up.
        "start_time": harbor_time(job.created_at),
    }
    if job.finished_at is not None:
        body["end_time"] = harbor_time(job.finished_at)
    return body


def render_task(job: Job) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": job.id,
        "execution_id": job.id,
        "status": EXECUTION_STATUS[job.status],
        "status_message": job.error,
        "run_count": job.attempts,
        "extra_attrs": {},
        "creation_time": harbor_time(job.created_at),
        "update_time": harbor_time(job.updated_at),
    }
    if job.started_at is not None:
        body["start_time"] = harbor_time(job.started_at)
    if job.finished_at is not None:
        body["end_time"] = harbor_time(job.finished_at)
    return body


def render_job(job: Job, policy: PolicyView) -> dict[str, Any]:
    """Harbor's WebhookJob (its deprecated list of deliveries)."""
    index = int(job.parameters.get("target", 0))
    return {
        "id": job.id,
        "policy_id": policy.id,
        "event_type": job.parameters.get("event_type", ""),
        "notify_type": policy.targets[index].type if index < len(policy.targets) else "http",
        "status": EXECUTION_STATUS[job.status],
        "job_detail": job.parameters.get("body", ""),
        "creation_time": harbor_time(job.created_at),
        "update_time": harbor_time(job.updated_at),
    }


def _fields(data: dict[str, Any]) -> PolicyFields:
    no_unknown_fields(data, _POLICY_FIELDS, what="webhook policy")
    opt_int(data, "id")
    opt_int(data, "project_id")  # read-only, ignored as Harbor does
    kinds = data.get("event_types")
    if not isinstance(kinds, list) or not all(isinstance(k, str) for k in kinds):
        raise BadRequest("event_types must be an array of event type names")
    given = data.get("targets")
    if not isinstance(given, list):
        raise BadRequest("targets must be an array of targets")
    targets = []
    for i, target in enumerate(given[:64]):
        where = f"targets[{i}]."
        if not isinstance(target, dict):
            raise BadRequest(f"targets[{i}] must be an object")
        no_unknown_fields(target, _TARGET_FIELDS, what=f"targets[{i}]")
        targets.append(
            TargetFields(
                type=opt_str(target, "type", where=where) or "http",
                address=opt_str(target, "address", where=where) or "",
                payload_format=opt_str(target, "payload_format", where=where) or "Default",
                skip_cert_verify=bool(opt_bool(target, "skip_cert_verify")),
                auth_header=opt_secret(target, "auth_header", where=where),
                signing_secret=opt_secret(target, "signing_secret", where=where),
            )
        )
    enabled = opt_bool(data, "enabled")
    return PolicyFields(
        name=opt_str(data, "name") or "",
        description=opt_str(data, "description") or "",
        enabled=True if enabled is None else enabled,
        event_types=tuple(kinds[:64]),
        targets=tuple(targets),
    )


class WebhooksApi:
    def __init__(self, policies: WebhookPolicyService) -> None:
        self._policies = policies

    def routes(self) -> list[web.RouteDef]:
        policies = f"{WEBHOOK}/policies"
        return [
            web.get(policies, self.list, allow_head=False),
            web.post(policies, self.create),
            web.post(f"{policies}/test", self.test),
            web.get(POLICY, self.get, allow_head=False),
            web.put(POLICY, self.update),
            web.delete(POLICY, self.delete),
            web.get(f"{WEBHOOK}/events", self.events, allow_head=False),
            web.get(f"{WEBHOOK}/lasttrigger", self.last_trigger, allow_head=False),
            web.get(f"{WEBHOOK}/jobs", self.jobs, allow_head=False),
            web.get(f"{POLICY}/executions", self.executions, allow_head=False),
            web.get(f"{EXECUTION}/tasks", self.tasks, allow_head=False),
            web.get(f"{EXECUTION}/tasks/{{task_id}}/log", self.task_log, allow_head=False),
        ]

    async def list(self, request: web.Request) -> web.Response:
        q = request.query
        terms = parse_q(q.get("q"), POLICY_LIST.filters)
        sort = parse_sort(q.get("sort"), POLICY_LIST.sorts)
        page = parse_page(q.get("page"), q.get("page_size"))
        found, total = await self._policies.list(principal_of(request), project_ref(request), terms, sort, page)
        return web.json_response([render_policy(p) for p in found], headers=page_headers(request, page, total))

    async def create(self, request: web.Request) -> web.Response:
        ref = project_ref(request)
        fields = _fields(await read_object(request))
        created = await self._policies.create(principal_of(request), ref, fields)
        return web.Response(status=201, headers={"Location": f"{request.path.rstrip('/')}/{created.id}"})

    async def test(self, request: web.Request) -> web.Response:
        """Berth's (Harbor 2.0's) endpoint test: the dialog's policy, its name and event types optional."""
        ref, data = project_ref(request), await read_object(request)
        data = {"name": "test", "event_types": ["PUSH_ARTIFACT"], **{k: v for k, v in data.items() if v}}
        # The id of the policy being edited, if any: its stored secrets stand for the masks sent back.
        await self._policies.test(principal_of(request), ref, _fields(data), opt_int(data, "id") or None)
        return web.json_response({})

    async def get(self, request: web.Request) -> web.Response:
        found = await self._policies.get(
            principal_of(request), project_ref(request), path_id(request, "webhook_policy_id")
        )
        return web.json_response(render_policy(found))

    async def update(self, request: web.Request) -> web.Response:
        ref, policy_id = project_ref(request), path_id(request, "webhook_policy_id")
        data = await read_object(request)
        body_id = opt_int(data, "id")
        if body_id is not None and body_id not in (0, policy_id):
            raise BadRequest("id: the webhook_policy_id in the path does not match the id in the body")
        await self._policies.update(principal_of(request), ref, policy_id, _fields(data))
        return web.Response(status=200)

    async def delete(self, request: web.Request) -> web.Response:
        await self._policies.delete(principal_of(request), project_ref(request), path_id(request, "webhook_policy_id"))
        return web.Response(status=200)

    async def events(self, request: web.Request) -> web.Response:
        await self._policies.check_events(principal_of(request), project_ref(request))
        return web.json_response(
            {
                "event_type": list(EVENT_TYPES),
                "notify_type": list(NOTIFY_TYPES),
                "payload_formats": [{"notify_type": k, "formats": list(v)} for k, v in PAYLOAD_FORMATS.items()],
            }
        )

    async def last_trigger(self, request: web.Request) -> web.Response:
        triggers = await self._policies.last_triggers(principal_of(request), project_ref(request))
        return web.json_response([render_last_trigger(t) for t in triggers])

    async def jobs(self, request: web.Request) -> web.Response:
        """Harbor's deprecated ListWebhookJobs: a policy's deliveries as WebhookJob rows."""
        text = request.query.get("policy_id")
        if not text or not text.isascii() or not text.isdigit() or len(text) > 18:
            raise BadRequest("policy_id is required: the webhook policy's id")
        by_name = {v: k for k, v in EXECUTION_STATUS.items()}
        wanted = request.query.getall("status", [])
        for status in wanted:
            if status not in by_name:
                raise BadRequest(f"status must be one of {', '.join(EXECUTION_STATUS.values())}, not {status[:40]!r}")
        page = parse_page(request.query.get("page"), request.query.get("page_size"))
        statuses = tuple(by_name[s] for s in wanted) or None
        policy, (jobs, total) = await self._policies.jobs(
            principal_of(request), project_ref(request), int(text), page, statuses
        )
        return web.json_response([render_job(j, policy) for j in jobs], headers=page_headers(request, page, total))

    async def executions(self, request: web.Request) -> web.Response:
        q = request.query
        terms = parse_q(q.get("q"), EXECUTION_LIST.filters)
        sort = parse_sort(q.get("sort"), EXECUTION_LIST.sorts)
        page = parse_page(q.get("page"), q.get("page_size"))
        policy_id = path_id(request, "webhook_policy_id")
        jobs, total = await self._policies.executions(
            principal_of(request), project_ref(request), policy_id, page, terms, sort
        )
        return web.json_response([render_execution(j) for j in jobs], headers=page_headers(request, page, total))

    async def tasks(self, request: web.Request) -> web.Response:
        page = parse_page(request.query.get("page"), request.query.get("page_size"))
        job = await self._policies.execution(
            principal_of(request),
            project_ref(request),
            path_id(request, "webhook_policy_id"),
            path_id(request, "execution_id"),
        )
        # An execution's one task (the job itself): on the first page, and the only one.
        shown = [render_task(job)] if page.offset == 0 else []
        return web.json_response(shown, headers=page_headers(request, page, 1))

    async def task_log(self, request: web.Request) -> web.Response:
        lines = await self._policies.task_log(
            principal_of(request),
            project_ref(request),
            path_id(request, "webhook_policy_id"),
            path_id(request, "execution_id"),
            path_id(request, "task_id"),
        )
        return web.Response(text=render_log(lines), content_type="text/plain")
