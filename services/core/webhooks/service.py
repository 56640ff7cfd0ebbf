"""Webhook policies of a project, as Harbor's: read and listed by whoever holds `notification-policy` read
or list there (project admins and maintainers), created, changed and deleted by project admins (and the
sysadmin, and robots granted it); a project the caller cannot see is a 404, a policy of another project
too. A target must pass the SSRF guard when stored (services.common.webhooks, with the live
`webhook_target_allowlist`): a 400 naming it. auth_header and signing_secret are stored encrypted with the
secret key file and shown masked; the mask sent back keeps them. Executions are the WEBHOOK jobs the
jobservice made for the policy, read here. No aiohttp."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence

import structlog

from services.common.auth.authenticate import Principal
from services.common.config.live import SystemConfig
from services.common.db import Database
from services.common.jobs.models import Job, LogLine
from services.common.rbac import Action, Resource
from services.common.secret import Secret
from services.common.secret_key import SecretKeyFile
from services.common.webhook_sender import SendFailed, WebhookSender
from services.common.webhooks import TargetRefused, check_target, parse_allowlist
from services.core.errors import BadRequest, NotFound
from services.core.listing import Page, SortKey, Term
from services.core.projects.models import ProjectRef, ProjectView
from services.core.projects.service import ProjectService
from services.core.webhooks import execution_store, store
from services.core.webhooks.models import (
    EXECUTION_STATUS,
    LastTrigger,
    PolicyFields,
    PolicyView,
    StoredTarget,
    WebhookPolicyNotFound,
    field_problem,
)

log = structlog.get_logger()
RESOURCE = Resource.NOTIFICATION_POLICY
# The type of the body "Test endpoint" sends (no Harbor event has it, so a receiver can tell it apart).
TEST_EVENT = "TEST_WEBHOOK"
# Named here: inside the class, `list` is the method.
Triggers = list[LastTrigger]
Executions = tuple[list[Job], int]
Log = list[LogLine]
Stored = list[StoredTarget]
Statuses = tuple[str, ...] | None


class WebhookPolicyService:
    def __init__(self, db: Database, projects: ProjectService, config: SystemConfig, key: SecretKeyFile) -> None:
        self._db = db
        self._projects = projects
        self._config = config
        self._key = key

    async def _project(self, principal: Principal, ref: ProjectRef, action: Action) -> ProjectView:
        project, _ = await self._projects.resolve(principal, ref, RESOURCE, action)
        return project

    async def _policy(self, project: ProjectView, policy_id: int) -> PolicyView:
        found = await store.policy(self._db.pool, project.id, policy_id)
        if found is None:
            raise WebhookPolicyNotFound(f"webhook policy {policy_id} not found in project {project.name}")
        return found

    async def list(
        self, principal: Principal, ref: ProjectRef, terms: Sequence[Term], sort: Sequence[SortKey], page: Page
    ) -> tuple[list[PolicyView], int]:
        project = await self._project(principal, ref, Action.LIST)
        return await store.list_policies(self._db.pool, project.id, terms, sort, page)

    async def get(self, principal: Principal, ref: ProjectRef, policy_id: int) -> PolicyView:
        return await self._policy(await self._project(principal, ref, Action.READ), policy_id)

    async def create(self, principal: Principal, ref: ProjectRef, fields: PolicyFields) -> PolicyView:
        project = await self._project(principal, ref, Action.CREATE)
        targets = await self._targets(fields, None)
        created = await store.create_policy(
            self._db.pool,
            project.id,
            fields.name,
            fields.description,
            fields.enabled,
            fields.event_types,
            targets,
            principal.name,
        )
        log.info("webhook_policy_created", policy_id=created.id, project_id=project.id, by=principal.name)
        return created

    async def update(self, principal: Principal, ref: ProjectRef, policy_id: int, fields: PolicyFields) -> None:
        project = await self._project(principal, ref, Action.UPDATE)
        targets = await self._targets(fields, await self._policy(project, policy_id))
        updated = await store.update_policy(
            self._db.pool,
            project.id,
            policy_id,
            fields.name,
            fields.description,
            fields.enabled,
            fields.event_types,
            targets,
        )
        if updated is None:  # deleted meanwhile
            raise WebhookPolicyNotFound(f"webhook policy {policy_id} not found in project {project.name}")
        log.info("webhook_policy_updated", policy_id=policy_id, project_id=project.id, by=principal.name)

    async def delete(self, principal: Principal, ref: ProjectRef, policy_id: int) -> None:
        project = await self._project(principal, ref, Action.DELETE)
        async with self._db.transaction() as tx:
            deleted = await store.delete_policy(tx, project.id, policy_id)
        if not deleted:
            raise WebhookPolicyNotFound(f"webhook policy {policy_id} not found in project {project.name}")
        log.info("webhook_policy_deleted", policy_id=policy_id, project_id=project.id, by=principal.name)

    async def test(
        self, principal: Principal, ref: ProjectRef, fields: PolicyFields, policy_id: int | None = None
    ) -> None:
        """Harbor's "Test endpoint": a test body POSTed to each target now, from core, through the same SSRF
        guard and sender as a delivery; a BadRequest saying why when a target does not answer 2xx. With
        `policy_id` (a policy being edited), a secret sent back masked is the stored one, as a save keeps it."""
        project = await self._project(principal, ref, Action.CREATE)
        if problem := field_problem(fields):
            raise BadRequest(problem)
        current = None if policy_id is None else await self._policy(project, policy_id)
        allowlist = parse_allowlist(str(self._config.get("webhook_target_allowlist")))
        timeout_s = int(self._config.get("webhook_job_http_client_timeout"))
        now = int(dt.datetime.now(dt.UTC).timestamp())
        async with WebhookSender() as sender:
            for i, target in enumerate(fields.targets):
                before = current.targets[i] if current is not None and i < len(current.targets) else None
                auth = self._secret(target.auth_header, before.auth_header if before else "")
                signing = self._secret(target.signing_secret, before.signing_secret if before else "")
                body = (
                    {"text": f"Berth webhook test of project {project.name} by {principal.name}"}
                    if target.type == "slack"
                    else {"type": TEST_EVENT, "occur_at": now, "operator": principal.name, "event_data": {}}
                )
                try:
                    answer = await sender.post(
                        target.address,
                        json.dumps(body, separators=(",", ":")).encode(),
                        "application/json",
                        auth_header=auth,
                        signing_secret=signing,
                        allowlist=allowlist,
                        verify=not target.skip_cert_verify,
                        timeout_s=timeout_s,
                    )
                except (TargetRefused, SendFailed) as exc:
                    raise BadRequest(f"targets[{i}].address: {exc}") from None
                if not 200 <= answer.status < 300:
                    raise BadRequest(f"targets[{i}]: {answer.said(target.address)}")
        log.info("webhook_tested", project_id=project.id, targets=len(fields.targets), by=principal.name)

    async def check_events(self, principal: Principal, ref: ProjectRef) -> None:
        """Who may see the event types (Harbor: notification-policy read)."""
        await self._project(principal, ref, Action.READ)

    async def last_triggers(self, principal: Principal, ref: ProjectRef) -> Triggers:
        """Harbor's lasttrigger: one entry per policy and event type it names, with its newest delivery
        (Harbor's permission: notification-policy read)."""
        project = await self._project(principal, ref, Action.READ)
        policies = await store.all_policies(self._db.pool, project.id)
        fired = await store.last_triggers(self._db.pool, project.id)
        return [
            LastTrigger(p.name, kind, p.enabled, p.created_at, fired.get((p.id, kind)))
            for p in policies
            for kind in p.event_types
        ]

    async def executions(
        self,
        principal: Principal,
        ref: ProjectRef,
        policy_id: int,
        page: Page,
        terms: Sequence[Term] = (),
        sort: Sequence[SortKey] = (),
    ) -> Executions:
        """Newest first unless sorted; `terms`: Harbor's status names (EXECUTION_LIST). Harbor asks for
        notification-policy read here, for the tasks and the log alike."""
        by_name = {v: k for k, v in EXECUTION_STATUS.items()}
        statuses: set[str] | None = None
        for term in terms:
            if term.op != "eq" or term.value not in by_name:
                raise BadRequest(f"q status must be one of {', '.join(by_name)}, not {str(term.value)[:40]!r}")
            wanted = {by_name[str(term.value)]}
            statuses = wanted if statuses is None else statuses & wanted
        ascending = bool(sort) and not sort[0].descending
        policy = await self._policy(await self._project(principal, ref, Action.READ), policy_id)
        return await execution_store.executions(
            self._db.pool, policy.id, page.size, page.offset, None if statuses is None else tuple(statuses), ascending
        )

    async def jobs(
        self, principal: Principal, ref: ProjectRef, policy_id: int, page: Page, statuses: Statuses = None
    ) -> tuple[PolicyView, Executions]:
        """Harbor's deprecated /webhook/jobs: the same deliveries, with the policy, for notification-policy
        list (Harbor's permission there); `statuses`: the jobs' own."""
        policy = await self._policy(await self._project(principal, ref, Action.LIST), policy_id)
        found = await execution_store.executions(self._db.pool, policy.id, page.size, page.offset, statuses)
        return policy, found

    async def execution(self, principal: Principal, ref: ProjectRef, policy_id: int, execution_id: int) -> Job:
        policy = await self._policy(await self._project(principal, ref, Action.READ), policy_id)
        job = await execution_store.execution(self._db.pool, policy.id, execution_id)
        if job is None:
            raise NotFound(f"webhook policy {policy_id} has no execution {execution_id}")
        return job

    async def task_log(
        self, principal: Principal, ref: ProjectRef, policy_id: int, execution_id: int, task_id: int
    ) -> Log:
        job = await self.execution(principal, ref, policy_id, execution_id)
        if task_id != job.id:  # an execution's one task is the job itself
            raise NotFound(f"execution {execution_id} contains no task with ID {task_id}")
        return await execution_store.log(self._db.pool, job.id)

    async def _targets(self, fields: PolicyFields, current: PolicyView | None) -> Stored:
        """The targets as stored: checked (the fields, then the SSRF guard), their secrets encrypted, a
        mask sent back keeping the stored secret of the target at the same place."""
        if problem := field_problem(fields):
            raise BadRequest(problem)
        allowlist = parse_allowlist(str(self._config.get("webhook_target_allowlist")))
        stored = []
        for i, target in enumerate(fields.targets):
            try:
                await check_target(target.address, allowlist)
            except TargetRefused as exc:
                raise BadRequest(f"targets[{i}].address: {exc}") from None
            before = current.targets[i] if current is not None and i < len(current.targets) else None
            stored.append(
                StoredTarget(
                    target.type,
                    target.address,
                    target.payload_format,
                    target.skip_cert_verify,
                    self._sealed(target.auth_header, before.auth_header if before else ""),
                    self._sealed(target.signing_secret, before.signing_secret if before else ""),
                )
            )
        return stored

    def _secret(self, given: Secret | None, kept: str) -> str:
        """The secret a test sends: the one given, else the stored one (`kept`, encrypted)."""
        if given is not None:
            return given.reveal()
        return self._key.decrypt(kept) if kept else ""

    def _sealed(self, given: Secret | None, kept: str) -> str:
        if given is None:
            return kept
        return self._key.encrypt(given.reveal()) if given.reveal() else ""
