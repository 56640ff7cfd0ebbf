"""Harbor's RETENTION job: one run of a project's tag retention policy. Each repository the policy applies
to is one task: its candidates (services.jobservice.retention_store) are judged by the rules
(services.common.retention), then, unless it is a dry run, each artifact judged for removal is deleted in
its own short transaction through the API's delete SQL, with its DELETE_ARTIFACT event (audit, webhooks)
and the quota following; a repository where artifacts were removed gets Harbor's TAG_RETENTION event.
Never removed: an artifact with an immutable tag (checked again in the delete's transaction), one pushed
after the run started (it is no candidate), one whose tags changed since it was judged, one an index names.
Idempotent: a retry judges again what is left."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

from services.common.events import outbox
from services.common.events.models import Event, EventType
from services.common.immutable import protecting_rule, split_repository
from services.common.immutable_store import enabled_rules
from services.common.jobs.retention import RetentionParams, parse_retention_params
from services.common.repositories import delete_artifact, referencing_parents
from services.common.retention import Candidate, Decision, Policy, applies, evaluate, parse_policy
from services.jobservice import retention_store
from services.jobservice.context import JobContext, JobFailed


def _when(value: dt.datetime | None) -> str:
    return "never" if value is None else value.astimezone(dt.UTC).isoformat(timespec="seconds")


def _line(decision: Decision, verdict: str) -> str:
    c = decision.candidate
    tags = ",".join(c.tags) or "<untagged>"
    return (
        f"{c.digest} tags={tags} pushed={_when(c.pushed_at)} pulled={_when(c.pulled_at)} {verdict}: {decision.reason}"
    )


class RetentionRun:
    def __init__(
        self, context: JobContext, params: RetentionParams, project_id: int, project: str, document: dict[str, Any]
    ) -> None:
        self._context = context
        self._db = context.db
        self._params = params
        self._project_id = project_id
        self._project = project
        self._document = document
        # Harbor's retention event names the execution's trigger as its operator (MANUAL, SCHEDULE).
        self._trigger = context.job.trigger

    async def _immutable(self, candidates: list[Candidate], path: str) -> list[Candidate]:
        rules = await enabled_rules(self._db.pool, self._project_id)
        if not rules:
            return candidates
        return [
            Candidate(c.id, c.digest, c.tags, c.pushed_at, c.pulled_at, immutable=True)
            if any(protecting_rule(rules, path, tag) is not None for tag in c.tags)
            else c
            for c in candidates
        ]

    async def _remove(self, repository: str, path: str, candidate: Candidate, started: dt.datetime) -> str | None:
        """Deletes the candidate; None when done, else why it was kept after all."""
        async with self._db.transaction() as tx:
            locked = await retention_store.lock_unchanged(tx, candidate, started)
            if locked is None:
                return "changed since it was judged (pushed, tagged or deleted meanwhile)"
            repository_id, tags = locked
            rules = await enabled_rules(tx, self._project_id)
            if any(protecting_rule(rules, path, tag) is not None for tag in tags):
                return "immutable"
            if await referencing_parents(tx, candidate.id):
                return "named by an index"
            await delete_artifact(tx, candidate.id, repository_id, candidate.digest)
            event = Event(EventType.DELETE_ARTIFACT, self._params.operator, repository, digest=candidate.digest)
            await outbox.record(tx, [event])
        return None

    async def repository(
        self, policy: Policy, repository_id: int, repository: str, started: dt.datetime
    ) -> tuple[int, int]:
        """One task: (candidates, retained)."""
        path = split_repository(repository)[1]
        task_id = await retention_store.start_task(self._db.pool, self._context.job.id, repository)
        candidates = await self._immutable(
            await retention_store.candidates(self._db.pool, repository_id, started), path
        )
        decisions = evaluate(policy, path, candidates, dt.datetime.now(dt.UTC))
        lines, retained, removed = [], 0, []
        for decision in decisions:
            if decision.retained:
                retained += 1
                lines.append(_line(decision, "RETAINED"))
            elif self._params.dry_run:
                lines.append(_line(decision, "WOULD BE REMOVED"))
            else:
                kept = await self._remove(repository, path, decision.candidate, started)
                if kept is None:
                    lines.append(_line(decision, "REMOVED"))
                    removed.append(decision.candidate)
                else:
                    retained += 1
                    lines.append(_line(Decision(decision.candidate, True, kept), "KEPT"))
        await retention_store.finish_task(self._db.pool, task_id, "Success", len(decisions), retained, "\n".join(lines))
        if removed:
            await self._announce(repository, len(decisions), retained, removed)
        return len(decisions), retained

    async def _announce(self, repository: str, total: int, retained: int, removed: list[Candidate]) -> None:
        """Harbor's TAG_RETENTION event of a task that removed artifacts (its webhook payload's retention
        data; the webhook adds the host name)."""
        rules = [
            {k: rule[k] for k in ("template", "params", "tag_selectors", "scope_selectors") if k in rule}
            for rule in self._document.get("rules", [])
            if isinstance(rule, dict)
        ]
        name = split_repository(repository)[1]
        details = {
            "total": total,
            "retained": retained,
            "project_name": self._project,
            "retention_policy_id": self._params.policy_id,
            "retention_rule": rules,
            "result": "SUCCESS",
            "deleted_artifact": [
                {"type": "image", "status": "SUCCESS", "name_tag": f"{name}:{c.tags[0]}" if c.tags else name}
                for c in removed
            ],
        }
        event = Event(EventType.TAG_RETENTION, self._trigger, repository, details=json.dumps(details))
        async with self._db.transaction() as tx:
            await outbox.record(tx, [event])


async def run_retention(context: JobContext) -> None:
    try:
        params = parse_retention_params(context.job.parameters)
    except ValueError as exc:
        raise JobFailed(f"the job's parameters do not parse: {exc}") from None
    found = await retention_store.policy(context.db.pool, params.policy_id)
    if found is None:
        raise JobFailed(f"retention policy {params.policy_id} no longer exists")
    project_id, project, document = found
    try:
        policy = parse_policy(document)
    except ValueError as exc:
        raise JobFailed(f"retention policy {params.policy_id} does not parse: {exc}") from None
    # The database's time this attempt was claimed (what the API shows as the run's start), not this
    # process's clock read later: a push created between the two would count as after the start to the
    # API, yet be judged (and removed) by the run.
    started = context.job.started_at or dt.datetime.now(dt.UTC)
    run = RetentionRun(context, params, project_id, project, document)
    mode = "dry run" if params.dry_run else "run"
    await context.log(f"retention {mode} of policy {params.policy_id} on project {project}")
    total = retained = tasks = 0
    try:
        for repository_id, repository in await retention_store.repositories(context.db.pool, project):
            if not applies(policy, split_repository(repository)[1]):
                continue
            n, kept = await run.repository(policy, repository_id, repository, started)
            tasks, total, retained = tasks + 1, total + n, retained + kept
            await context.log(
                f"{repository}: {kept} of {n} retained, {n - kept} {'to remove' if params.dry_run else 'removed'}"
            )
    except asyncio.CancelledError:
        await asyncio.shield(retention_store.stop_running_tasks(context.db.pool, context.job.id, "Stopped"))
        raise
    except Exception:
        await retention_store.stop_running_tasks(context.db.pool, context.job.id, "Error")
        raise
    gone = "would be removed" if params.dry_run else "removed"
    await context.log(f"{tasks} repositories, {total} artifacts: {retained} retained, {total - retained} {gone}")
    context.result = {"repositories": tasks, "total": total, "retained": retained, "dry_run": params.dry_run}
