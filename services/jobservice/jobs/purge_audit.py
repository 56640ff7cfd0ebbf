"""Harbor's PURGE_AUDIT_LOG: deletes the audit entries older than the retention, of the event types asked
for (none asked: nothing purged, as Harbor), in batches; a dry run counts them and deletes nothing.
Idempotent: a retry deletes what is left."""

from __future__ import annotations

import datetime as dt

from services.common.jobs.purge_audit import parse_purge_params
from services.jobservice import audit_store
from services.jobservice.context import JobContext, JobFailed

BATCH = 10_000


async def purge_audit_log(context: JobContext) -> None:
    try:
        params = parse_purge_params(context.job.parameters)
    except ValueError as exc:
        raise JobFailed(f"the job's parameters do not parse: {exc}") from None
    cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(hours=params.retention_hours)
    pool = context.db.pool
    if not params.event_types:
        await context.log("no event types selected (include_event_types is empty): nothing purged")
        context.result = {"deleted": 0, "dry_run": params.dry_run}
        return
    kinds = ", ".join(params.event_types)
    if params.dry_run:
        count = await audit_store.count_older(pool, cutoff, params.event_types)
        await context.log(f"dry run: {count} entries older than {cutoff.isoformat()} ({kinds}) would be deleted")
        context.result = {"deleted": 0, "would_delete": count, "dry_run": True}
        return
    deleted = 0
    while n := await audit_store.delete_older(pool, cutoff, params.event_types, BATCH):
        deleted += n
    await context.log(f"deleted {deleted} entries older than {cutoff.isoformat()} ({kinds})")
    context.result = {"deleted": deleted, "dry_run": False}
