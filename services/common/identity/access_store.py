"""What an account holds in the projects a request names, each in one query: the token service's and
the registry's hot path (one query per token), over users, robots, projects, members and groups."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import asyncpg

from services.common.db import Executor
from services.common.identity.models import (
    ProjectAccess,
    RobotAccess,
    UserAccess,
)
from services.common.identity.robots_store import ROBOT_SELECT, robot_row
from services.common.identity.users_store import USER_COLUMNS, user_row
from services.common.rbac import Role


# The named projects that exist, with the roles user `uid` holds in each, directly or through a group
# (none when `uid` is NULL). `names` and `uid` are SQL expressions: parameters, or a joined row's column.
def _projects_sql(names: str, uid: str) -> str:
    return (
        "SELECT p.id AS project_id, p.name AS project_name, p.public AS project_public,"
        " COALESCE(array_agg(m.role) FILTER (WHERE m.role IS NOT NULL), '{}') AS project_roles"
        " FROM projects p"
        f" LEFT JOIN project_members m ON m.project_id = p.id AND {uid} IS NOT NULL AND ("
        f"  (m.entity_type = 'u' AND m.entity_id = {uid})"
        "  OR (m.entity_type = 'g' AND m.entity_id IN"
        f"   (SELECT group_id FROM user_group_members WHERE user_id = {uid})))"
        f" WHERE p.name = ANY({names})"
        " GROUP BY p.id"
    )


def _project_rows(rows: Iterable[asyncpg.Record]) -> dict[str, ProjectAccess]:
    return {
        row["project_name"]: ProjectAccess(
            id=row["project_id"],
            name=row["project_name"],
            public=row["project_public"],
            roles=frozenset(Role(r) for r in row["project_roles"]),
        )
        for row in rows
        if row["project_id"] is not None
    }


async def project_access(ex: Executor, names: Sequence[str], user_id: int | None) -> dict[str, ProjectAccess]:
    """The named projects that exist, each with the roles `user_id` holds there (directly or through
    its groups; none for None): one query, whatever the number of names."""
    rows = await ex.fetch(_projects_sql("$1::text[]", "$2::bigint"), list(names), user_id)
    return _project_rows(rows)


_USER_ACCESS_SQL = (
    f"WITH u AS (SELECT {USER_COLUMNS} FROM users WHERE username = $1)"
    " SELECT u.*, p.* FROM u"
    f" LEFT JOIN LATERAL ({_projects_sql('$2::text[]', 'u.id')}) p ON true"
)


async def user_access(ex: Executor, username: str, names: Sequence[str]) -> UserAccess | None:
    """The user and the named projects with its roles there, in one round trip (the token service's
    hot path: one query per token). None when no user has that name."""
    rows = await ex.fetch(_USER_ACCESS_SQL, username, list(names))
    if not rows:
        return None
    return UserAccess(user=user_row(rows[0]), projects=_project_rows(rows))


_ROBOT_ACCESS_SQL = (
    f"WITH r AS ({ROBOT_SELECT} WHERE r.name = $1)"
    " SELECT r.*, p.id AS project_id_, p.name AS project_name_, p.public AS project_public_ FROM r"
    " LEFT JOIN projects p ON p.name = ANY($2::text[])"
)


async def robot_access(ex: Executor, name: str, names: Sequence[str]) -> RobotAccess | None:
    """The robot and the named projects that exist, in one round trip. None when no robot has that name."""
    rows = await ex.fetch(_ROBOT_ACCESS_SQL, name, list(names))
    if not rows:
        return None
    projects = {
        row["project_name_"]: ProjectAccess(
            id=row["project_id_"], name=row["project_name_"], public=row["project_public_"], roles=frozenset()
        )
        for row in rows
        if row["project_id_"] is not None
    }
    return RobotAccess(robot=robot_row(rows[0]), projects=projects)
