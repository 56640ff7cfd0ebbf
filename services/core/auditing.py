"""The one way core's domains write their own audit entries (logins, users, projects, members, robots,
user groups, labels): a leaf module, importing no domain, so every domain may use it and the audit
package (which reads the log and needs projects) depends on none of them. Written directly: core owns the
audit log, so a change and its entry commit in the same transaction, with no outbox. An entry never
carries a password, a secret or a hash: it names what changed, never what it changed to.

Harbor 2.13's vocabulary: operation create/update/delete/login/logout, resource_type the RBAC resource
(user, project, member, robot, user-group); a login is `login` of the `user` it names.
"""

from __future__ import annotations

from services.common.db import Executor

# Longer names are cut, as a login with a mistyped (or pasted) name is recorded with what was sent.
MAX_TEXT = 255


async def record(
    ex: Executor,
    *,
    operator: str,
    operation: str,
    resource_type: str,
    resource: str,
    description: str,
    project_id: int | None = None,
    success: bool = True,
) -> None:
    """Writes one entry at the transaction's time; call it inside the transaction of the change."""
    await ex.execute(
        "INSERT INTO audit_log (project_id, operation, resource_type, resource, username, op_time,"
        " operation_description, operation_result) VALUES ($1, $2, $3, $4, $5, now(), $6, $7)",
        project_id,
        operation,
        resource_type,
        resource[:MAX_TEXT],
        operator[:MAX_TEXT],
        description[: 4 * MAX_TEXT],
        success,
    )
