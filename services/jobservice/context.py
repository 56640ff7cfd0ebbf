"""What a job sees while it runs: its row, the database, and its log. A job is an async function of a
`JobContext`; it may run more than once (at least once, retried after a failure or a dead worker), so it
must be idempotent. Raising `JobFailed` ends it as failed at once; any other exception is retried with
backoff until its attempts are spent; a stop request cancels it (CancelledError inside the job)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog

from services.common.db import Database
from services.common.jobs import store
from services.common.jobs.models import Job

log = structlog.get_logger()


class JobFailed(Exception):
    """A failure no retry can mend (parameters that do not parse, a refused precondition)."""


@dataclass
class JobContext:
    job: Job
    db: Database
    # What the job reports when it succeeds (counts, bytes); stored in the row's result.
    result: dict[str, Any] = field(default_factory=dict)
    # The newest log line and its time: the job's check-in on the dashboard.
    check_in: str = ""
    checkin_at: dt.datetime | None = None

    async def log(self, message: str, *, level: str = "info") -> None:
        """One line of the job's log: in its row's log (read through the API) and in the service's log,
        which goes to the collector, with the job's id."""
        await store.append_log(self.db.pool, self.job.id, level, message)
        self.check_in, self.checkin_at = message, dt.datetime.now(dt.UTC)
        getattr(log, level if level in ("debug", "info", "warning", "error") else "info")(
            "job_log", job_id=self.job.id, job_type=self.job.type, message=message
        )


JobFunction = Callable[[JobContext], Coroutine[Any, Any, None]]
JobRegistry = Mapping[str, JobFunction]
