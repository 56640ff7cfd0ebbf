"""The one way core's domains write their own audit entries (logins, users, projects, members, robots,
user groups, labels): a leaf module, importing no domain, so every domain may use it and the audit
package (which reads the log and needs projects) depends on none of them. Written directly: core owns the
audit log, so a change and its entry commit in the same transaction, with no outbox. An entry never
carries a password, a secret or a hash: it names what changed, never what it changed to.

Harbor 2.13's vocabulary: operation create/update/delete/login/logout, resource_type the RBAC resource
(user, project, member, robot, user-group); a login is `login` of the `user` it names.

With `audit_log_forward_endpoint` set, each entry is also handed to the forwarder (the `AuditSink`,
services.core.audit.forward) once its transaction has committed, so a change that rolled back is
never reported; with `skip_audit_log_database` it goes there only.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Protocol

from services.common.db import Database, Executor

# Longer names are cut, as a login with a mistyped (or pasted) name is recorded with what was sent.
MAX_TEXT = 255


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One entry as it is forwarded: everything a reader of the log needs, the project by name."""

    op_time: dt.datetime
    operator: str
    operation: str
    resource_type: str
    resource: str
    project: str | None
    description: str
    success: bool = True
    # Entries from the registry's events carry theirs, so a receiver can drop a redelivered one.
    event_id: uuid.UUID | None = None


class AuditSink(Protocol):
    """Where entries go besides the database, and whether the database is skipped: one object
    (services.core.audit.forward.AuditForwarder), so the two change together when reconfigured."""

    @property
    def enabled(self) -> bool: ...

    @property
    def skip_database(self) -> bool: ...

    def send(self, entry: AuditRecord) -> None:
        """Queues the entry; never blocks and never raises."""
        ...


class AuditLog:
    """Core's own entries: written in the caller's transaction (unless the database is skipped) and
    forwarded after it commits."""

    def __init__(self, db: Database, sink: AuditSink) -> None:
        self._db = db
        self._sink = sink

    async def record(
        self,
        ex: Executor,
        *,
        operator: str,
        operation: str,
        resource_type: str,
        resource: str,
        description: str,
        project_id: int | None = None,
        project: str | None = None,
        success: bool = True,
    ) -> None:
        """One entry at the transaction's time; call it inside the transaction of the change (or with the
        pool, for what has no transaction: a login). `project` is the project's name, for the forwarded
        line (the database keeps `project_id`)."""
        resource, operator, description = resource[:MAX_TEXT], operator[:MAX_TEXT], description[: 4 * MAX_TEXT]
        sink = self._sink
        if sink.skip_database:
            op_time = dt.datetime.now(dt.UTC)
        else:
            op_time = await ex.fetchval(
                "INSERT INTO audit_log (project_id, operation, resource_type, resource, username, op_time,"
                " operation_description, operation_result) VALUES ($1, $2, $3, $4, $5, now(), $6, $7)"
                " RETURNING op_time",
                project_id,
                operation,
                resource_type,
                resource,
                operator,
                description,
                success,
            )
        if sink.enabled:
            entry = AuditRecord(op_time, operator, operation, resource_type, resource, project, description, success)
            self._db.after_commit(ex, lambda: sink.send(entry))
