"""System jobs as Harbor's API shows them (the audit log purge, garbage collection): run one now,
schedule one by cron, list and read the runs, read a run's log, stop a run. The rows are the jobservice's
(services.common.jobs); core submits and reads them and asks for stops, the jobservice runs them. The
system administrator only (Harbor's RequireSystemAccess on the job's resource). No aiohttp here."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from services.common.auth.authenticate import Principal
from services.common.db import Database
from services.common.jobs import store
from services.common.jobs.cron import PRESETS, check_cron
from services.common.jobs.models import Job, LogLine, Schedule
from services.common.jobs.submit import JobSubmitter
from services.common.rbac import Action
from services.core.errors import BadRequest, NotFound
from services.core.listing import Page
from services.core.security.access import require_system

log = structlog.get_logger()

# Harbor's ScheduleObj.type: Manual runs now, None removes the schedule, the others set a cron.
MANUAL, NONE = "Manual", "None"
SCHEDULE_TYPES = ("Hourly", "Daily", "Weekly", "Custom", "Schedule", MANUAL, NONE)


class JobNotFound(NotFound):
    default_message = "job not found"


@dataclass(frozen=True, slots=True)
class ScheduleRequest:
    kind: str  # one of SCHEDULE_TYPES
    cron: str  # empty unless Custom/Schedule
    parameters: Mapping[str, Any]


async def find_job(db: Database, job_id: int, what: str, job_type: str | None = None) -> Job:
    """The job, if it exists (and is of `job_type`, when given); `what` names it in the 404."""
    job = await store.get(db.pool, job_id)
    if job is None or (job_type is not None and job.type != job_type):
        raise JobNotFound(f"{what} {job_id} not found")
    return job


async def stop_job(db: Database, principal: Principal, job: Job, what: str) -> None:
    """Asks the job to stop; one that has finished is a 400."""
    if await store.request_stop(db.pool, job.id) is None:
        raise BadRequest(f"{what} {job.id} has already finished ({job.status}): nothing to stop")
    log.info("job_stop_requested", job_id=job.id, job_type=job.type, by=principal.name)


class SystemJobs:
    """One system job type: `resource` is Harbor's RBAC resource of it, `parse` reads its parameters
    (ValueError naming the field), giving what the job receives."""

    def __init__(
        self,
        db: Database,
        submitter: JobSubmitter,
        job_type: str,
        resource: str,
        parse: Callable[[Mapping[str, Any]], Mapping[str, Any]],
    ) -> None:
        self._db = db
        self._submitter = submitter
        self.job_type = job_type
        self._resource = resource
        self._parse = parse

    def _require(self, principal: Principal, action: Action, what: str) -> None:
        require_system(principal, self._resource, action, what)

    def _parameters(self, given: Mapping[str, Any]) -> Mapping[str, Any]:
        try:
            return self._parse(given)
        except ValueError as exc:
            raise BadRequest(str(exc)) from None

    async def history(self, principal: Principal, page: Page) -> tuple[list[Job], int]:
        self._require(principal, Action.LIST, f"list {self.job_type} runs")
        return await store.list_by_type(self._db.pool, self.job_type, page.size, page.offset)

    async def get(self, principal: Principal, job_id: int) -> Job:
        self._require(principal, Action.READ, f"read {self.job_type} runs")
        return await self._find(job_id)

    async def _find(self, job_id: int) -> Job:
        return await find_job(self._db, job_id, f"{self.job_type} run", self.job_type)

    async def log(self, principal: Principal, job_id: int) -> list[LogLine]:
        self._require(principal, Action.READ, f"read {self.job_type} logs")
        await self._find(job_id)
        return await store.read_log(self._db.pool, job_id)

    async def stop(self, principal: Principal, job_id: int) -> None:
        self._require(principal, Action.STOP, f"stop {self.job_type} runs")
        await stop_job(self._db, principal, await self._find(job_id), f"{self.job_type} run")

    async def schedule(self, principal: Principal) -> Schedule | None:
        self._require(principal, Action.READ, f"read the {self.job_type} schedule")
        return await store.get_schedule(self._db.pool, self.job_type)

    async def set_schedule(self, principal: Principal, request: ScheduleRequest) -> int | None:
        """Runs the job now (Manual: the new run's id), removes the schedule (None) or sets its cron."""
        self._require(principal, Action.CREATE, f"run or schedule {self.job_type}")
        parameters = self._parameters(request.parameters) if request.kind != NONE else {}
        if request.kind == MANUAL:
            job_id = await self._submitter.submit(self.job_type, parameters)
            log.info("job_run_requested", job_id=job_id, job_type=self.job_type, by=principal.name)
            return job_id
        async with self._db.transaction() as tx:
            if request.kind == NONE:
                await store.delete_schedule(tx, self.job_type)
                description = f"remove the {self.job_type} schedule"
            else:
                cron = PRESETS.get(request.kind) or request.cron
                try:
                    cron = check_cron(cron)
                except ValueError as exc:
                    raise BadRequest(f"schedule.cron: {exc}") from None
                await store.put_schedule(tx, self.job_type, 0, cron, request.kind, parameters)
                description = f"schedule {self.job_type} at {cron!r} {dict(parameters)}"
        log.info("job_schedule_set", job_type=self.job_type, description=description, by=principal.name)
        return None
