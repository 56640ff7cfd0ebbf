"""SQL for users, groups, projects, members and robots. `$n` parameters only; rows become dataclasses.

Every function takes an `Executor` (the pool, or a connection inside a transaction), so callers choose
the transaction. Unique-key clashes become `Conflict`, naming what clashed.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from typing import Any, cast

import asyncpg

from services.common.db import Executor
from services.common.errors import BerthError
from services.common.identity.models import (
    ADMIN_USER_ID,
    ADMIN_USERNAME,
    AuthSource,
    EntityType,
    Group,
    Member,
    Project,
    ProjectAccess,
    Robot,
    RobotAccess,
    RobotLevel,
    RobotPermission,
    User,
    UserAccess,
)
from services.common.rbac import Permission, Role


class Conflict(BerthError):
    code, status, default_message = "CONFLICT", 409, "the resource already exists"


_USER_COLUMNS = (
    "id, username, email, realname, comment, password_hash, sysadmin, auth_source, ldap_dn,"
    " password_changed_at, created_at, updated_at, deleted"
)
_PROJECT_COLUMNS = "id, name, owner_id, public, metadata, created_at, updated_at"
_ROBOT_SELECT = (
    "SELECT r.id, r.name, r.description, r.secret_hash, r.level, r.project_id, p.name AS project_name,"
    " r.disabled, r.expires_at, r.permissions, r.created_at, r.updated_at"
    " FROM robots r LEFT JOIN projects p ON p.id = r.project_id"
)


# --- users -------------------------------------------------------------------------------------------


def _user(row: asyncpg.Record) -> User:
    return User(
        id=row["id"],
        username=row["username"],
        email=row["email"],
        realname=row["realname"],
        comment=row["comment"],
        password_hash=row["password_hash"],
        sysadmin=row["sysadmin"],
        auth_source=row["auth_source"],
        ldap_dn=row["ldap_dn"],
        password_changed_at=row["password_changed_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        deleted=row["deleted"],
    )


async def user_by_name(ex: Executor, username: str) -> User | None:
    row = await ex.fetchrow(f"SELECT {_USER_COLUMNS} FROM users WHERE username = $1", username)
    return None if row is None else _user(row)


async def user_by_id(ex: Executor, user_id: int) -> User | None:
    row = await ex.fetchrow(f"SELECT {_USER_COLUMNS} FROM users WHERE id = $1", user_id)
    return None if row is None else _user(row)


async def create_user(
    ex: Executor,
    username: str,
    *,
    password_hash: str | None,
    email: str | None = None,
    realname: str = "",
    comment: str = "",
    sysadmin: bool = False,
    auth_source: AuthSource = "db",
    ldap_dn: str | None = None,
) -> User:
    try:
        row = await ex.fetchrow(
            "INSERT INTO users (username, email, realname, comment, password_hash, sysadmin, auth_source, ldap_dn)"
            f" VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {_USER_COLUMNS}",
            username,
            email,
            realname,
            comment,
            password_hash,
            sysadmin,
            auth_source,
            ldap_dn,
        )
    except asyncpg.UniqueViolationError as exc:
        raise Conflict(_clash("user", exc)) from None
    assert row is not None
    return _user(row)


async def create_admin(ex: Executor, password_hash: str) -> User | None:
    """The admin (id 1) unless it exists; None when another start created it first."""
    row = await ex.fetchrow(
        "INSERT INTO users (id, username, realname, comment, password_hash, sysadmin)"
        " VALUES ($1, $2, 'system admin', 'admin user', $3, true)"
        f" ON CONFLICT DO NOTHING RETURNING {_USER_COLUMNS}",
        ADMIN_USER_ID,
        ADMIN_USERNAME,
        password_hash,
    )
    return None if row is None else _user(row)


async def set_password(ex: Executor, user_id: int, password_hash: str) -> None:
    await ex.execute(
        "UPDATE users SET password_hash = $2, password_changed_at = now(), updated_at = now() WHERE id = $1",
        user_id,
        password_hash,
    )


async def mark_user_deleted(ex: Executor, user_id: int) -> None:
    await ex.execute("UPDATE users SET deleted = true, updated_at = now() WHERE id = $1", user_id)


# --- groups ------------------------------------------------------------------------------------------


async def create_group(ex: Executor, name: str, *, group_type: int = 1, ldap_dn: str | None = None) -> Group:
    try:
        row = await ex.fetchrow(
            "INSERT INTO user_groups (name, group_type, ldap_dn) VALUES ($1, $2, $3)"
            " RETURNING id, name, group_type, ldap_dn",
            name,
            group_type,
            ldap_dn,
        )
    except asyncpg.UniqueViolationError as exc:
        raise Conflict(_clash("group", exc)) from None
    assert row is not None
    return Group(id=row["id"], name=row["name"], group_type=row["group_type"], ldap_dn=row["ldap_dn"])


async def add_user_to_group(ex: Executor, user_id: int, group_id: int) -> None:
    await ex.execute(
        "INSERT INTO user_group_members (user_id, group_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        user_id,
        group_id,
    )


# --- directory (LDAP) accounts and groups ------------------------------------------------------------


async def upsert_ldap_user(ex: Executor, username: str, *, ldap_dn: str, email: str | None, realname: str) -> User:
    """The LDAP account `username`, created at its first login and refreshed from the directory at the
    next ones. An e-mail another account already has is left out rather than refused (it is unique
    here, not in every directory). A name held by a database account, or a deleted one, is returned
    untouched: the caller refuses it."""
    try:
        row = await ex.fetchrow(
            "INSERT INTO users (username, email, realname, password_hash, auth_source, ldap_dn)"
            " VALUES ($1, (SELECT $3::text WHERE NOT EXISTS"
            " (SELECT 1 FROM users WHERE email = $3::text AND username <> $1)), $4, NULL, 'ldap', $2)"
            " ON CONFLICT (username) DO UPDATE SET ldap_dn = EXCLUDED.ldap_dn, email = EXCLUDED.email,"
            " realname = EXCLUDED.realname, updated_at = now()"
            " WHERE users.auth_source = 'ldap' AND NOT users.deleted"
            " AND (users.ldap_dn, users.email, users.realname)"
            " IS DISTINCT FROM (EXCLUDED.ldap_dn, EXCLUDED.email, EXCLUDED.realname)"
            f" RETURNING {_USER_COLUMNS}",
            username,
            ldap_dn,
            email,
            realname,
        )
    except asyncpg.UniqueViolationError as exc:
        raise Conflict(_clash("user", exc)) from None
    if row is None:  # unchanged, or not an LDAP account: as it is
        row = await ex.fetchrow(f"SELECT {_USER_COLUMNS} FROM users WHERE username = $1", username)
    assert row is not None
    return _user(row)


async def upsert_ldap_groups(ex: Executor, groups: Sequence[tuple[str, str]]) -> list[int]:
    """The ids of LDAP groups given as (name, dn), created when first seen; one statement."""
    if not groups:
        return []
    rows = await ex.fetch(
        "INSERT INTO user_groups (name, group_type, ldap_dn)"
        " SELECT name, 1, dn FROM unnest($1::text[], $2::text[]) AS g(name, dn)"
        " ON CONFLICT (ldap_dn) DO UPDATE SET name = EXCLUDED.name"
        " RETURNING id",
        [name for name, _ in groups],
        [dn for _, dn in groups],
    )
    return [r["id"] for r in rows]


async def set_ldap_group_memberships(ex: Executor, user_id: int, group_ids: Sequence[int]) -> None:
    """Make the user's LDAP group memberships exactly `group_ids` (other kinds of group are kept)."""
    await ex.execute(
        "DELETE FROM user_group_members m USING user_groups g"
        " WHERE m.user_id = $1 AND g.id = m.group_id AND g.group_type = 1 AND NOT (g.id = ANY($2::bigint[]))",
        user_id,
        list(group_ids),
    )
    await ex.execute(
        "INSERT INTO user_group_members (user_id, group_id) SELECT $1, unnest($2::bigint[]) ON CONFLICT DO NOTHING",
        user_id,
        list(group_ids),
    )


# --- projects ----------------------------------------------------------------------------------------


def _project(row: asyncpg.Record) -> Project:
    metadata = row["metadata"]
    return Project(
        id=row["id"],
        name=row["name"],
        owner_id=row["owner_id"],
        public=row["public"],
        metadata=json.loads(metadata) if isinstance(metadata, str) else dict(metadata),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def project_by_name(ex: Executor, name: str) -> Project | None:
    row = await ex.fetchrow(f"SELECT {_PROJECT_COLUMNS} FROM projects WHERE name = $1", name)
    return None if row is None else _project(row)


async def create_project(
    ex: Executor,
    name: str,
    *,
    owner_id: int,
    public: bool = False,
    metadata: dict[str, Any] | None = None,
    project_id: int | None = None,
) -> Project:
    """A new project; `project_id` only for `library` (id 1, as in Harbor)."""
    try:
        row = await ex.fetchrow(
            "INSERT INTO projects (id, name, owner_id, public, metadata)"
            " VALUES (COALESCE($1, nextval(pg_get_serial_sequence('projects', 'id'))), $2, $3, $4, $5::jsonb)"
            f" RETURNING {_PROJECT_COLUMNS}",
            project_id,
            name,
            owner_id,
            public,
            json.dumps(metadata or {}),
        )
    except asyncpg.UniqueViolationError as exc:
        raise Conflict(_clash("project", exc)) from None
    assert row is not None
    return _project(row)


async def create_project_if_absent(
    ex: Executor, name: str, *, owner_id: int, public: bool, project_id: int | None = None
) -> Project | None:
    """The project unless one of that name (or id) exists: None then. For the bootstrap."""
    row = await ex.fetchrow(
        "INSERT INTO projects (id, name, owner_id, public)"
        " VALUES (COALESCE($1, nextval(pg_get_serial_sequence('projects', 'id'))), $2, $3, $4)"
        f" ON CONFLICT DO NOTHING RETURNING {_PROJECT_COLUMNS}",
        project_id,
        name,
        owner_id,
        public,
    )
    return None if row is None else _project(row)


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
    f"WITH u AS (SELECT {_USER_COLUMNS} FROM users WHERE username = $1)"
    " SELECT u.*, p.* FROM u"
    f" LEFT JOIN LATERAL ({_projects_sql('$2::text[]', 'u.id')}) p ON true"
)


async def user_access(ex: Executor, username: str, names: Sequence[str]) -> UserAccess | None:
    """The user and the named projects with its roles there, in one round trip (the token service's
    hot path: one query per token). None when no user has that name."""
    rows = await ex.fetch(_USER_ACCESS_SQL, username, list(names))
    if not rows:
        return None
    return UserAccess(user=_user(rows[0]), projects=_project_rows(rows))


_ROBOT_ACCESS_SQL = (
    f"WITH r AS ({_ROBOT_SELECT} WHERE r.name = $1)"
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
    return RobotAccess(robot=_robot(rows[0]), projects=projects)


# --- members -----------------------------------------------------------------------------------------


async def add_member(ex: Executor, project_id: int, entity_type: EntityType, entity_id: int, role: Role) -> Member:
    try:
        row = await ex.fetchrow(
            "INSERT INTO project_members (project_id, entity_type, entity_id, role) VALUES ($1, $2, $3, $4)"
            " RETURNING id, project_id, entity_type, entity_id, role",
            project_id,
            entity_type,
            entity_id,
            int(role),
        )
    except asyncpg.UniqueViolationError:
        kind = "user" if entity_type == "u" else "group"
        raise Conflict(f"the {kind} {entity_id} is already a member of project {project_id}") from None
    assert row is not None
    return _member(row)


async def ensure_member(ex: Executor, project_id: int, entity_type: EntityType, entity_id: int, role: Role) -> None:
    """Add the membership unless there is one (any role): for the bootstrap, which may run concurrently."""
    await ex.execute(
        "INSERT INTO project_members (project_id, entity_type, entity_id, role) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (project_id, entity_type, entity_id) DO NOTHING",
        project_id,
        entity_type,
        entity_id,
        int(role),
    )


def _member(row: asyncpg.Record) -> Member:
    return Member(
        id=row["id"],
        project_id=row["project_id"],
        entity_type=cast(EntityType, row["entity_type"]),
        entity_id=row["entity_id"],
        role=Role(row["role"]),
    )


async def member_roles(ex: Executor, project_id: int, user_id: int) -> frozenset[Role]:
    """Every role `user_id` holds in the project, directly or through a group."""
    rows = await ex.fetch(
        "SELECT role FROM project_members WHERE project_id = $1 AND ("
        " (entity_type = 'u' AND entity_id = $2)"
        " OR (entity_type = 'g' AND entity_id IN (SELECT group_id FROM user_group_members WHERE user_id = $2)))",
        project_id,
        user_id,
    )
    return frozenset(Role(r["role"]) for r in rows)


async def projects_with_role(ex: Executor, user_id: int, role: Role) -> list[int]:
    """The projects where `user_id` holds `role`, directly or through a group."""
    rows = await ex.fetch(
        "SELECT DISTINCT project_id FROM project_members WHERE role = $2 AND ("
        " (entity_type = 'u' AND entity_id = $1)"
        " OR (entity_type = 'g' AND entity_id IN (SELECT group_id FROM user_group_members WHERE user_id = $1)))",
        user_id,
        int(role),
    )
    return [r["project_id"] for r in rows]


# --- robots ------------------------------------------------------------------------------------------


def parse_permissions(value: Any, *, strict: bool = True) -> tuple[RobotPermission, ...]:
    """Harbor's robot `permissions` JSON → dataclasses. Entries of the wrong shape are refused, or with
    `strict` off (reading stored rows) dropped: a damaged row then grants less, never more, and no 500."""
    data = json.loads(value) if isinstance(value, str) else value
    if not isinstance(data, list):
        if strict:
            raise ValueError("robot permissions must be a list")
        return ()
    out = []
    for entry in data:
        kind = entry.get("kind") if isinstance(entry, dict) else None
        namespace = entry.get("namespace") if isinstance(entry, dict) else None
        access = entry.get("access", []) if isinstance(entry, dict) else None
        if not isinstance(kind, str) or not isinstance(namespace, str) or not isinstance(access, list):
            if strict:
                raise ValueError("a robot permission needs kind, namespace and an access list")
            continue
        items = []
        for a in access:
            resource = a.get("resource") if isinstance(a, dict) else None
            action = a.get("action") if isinstance(a, dict) else None
            if not isinstance(resource, str) or not isinstance(action, str):
                if strict:
                    raise ValueError("each robot access entry needs a resource and an action")
                continue
            items.append(Permission(resource=resource, action=action))
        out.append(RobotPermission(kind=kind, namespace=namespace, access=tuple(items)))
    return tuple(out)


def _robot(row: asyncpg.Record) -> Robot:
    return Robot(
        id=row["id"],
        name=row["name"],
        description=row["description"],
        secret_hash=row["secret_hash"],
        level=row["level"],
        project_id=row["project_id"],
        project_name=row["project_name"],
        disabled=row["disabled"],
        expires_at=row["expires_at"],
        permissions=parse_permissions(row["permissions"], strict=False),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def robot_by_name(ex: Executor, name: str) -> Robot | None:
    row = await ex.fetchrow(f"{_ROBOT_SELECT} WHERE r.name = $1", name)
    return None if row is None else _robot(row)


async def create_robot(
    ex: Executor,
    name: str,
    *,
    secret_hash: str,
    level: RobotLevel,
    permissions: Iterable[RobotPermission],
    project_id: int | None = None,
    description: str = "",
    disabled: bool = False,
    expires_at: dt.datetime | None = None,
) -> Robot:
    """`name` is the full login name (see `project_robot_name` / `system_robot_name`)."""
    try:
        robot_id = await ex.fetchval(
            "INSERT INTO robots (name, description, secret_hash, level, project_id, disabled, expires_at, permissions)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb) RETURNING id",
            name,
            description,
            secret_hash,
            level,
            project_id,
            disabled,
            expires_at,
            json.dumps([p.to_json() for p in permissions]),
        )
    except asyncpg.UniqueViolationError:
        raise Conflict(f"a robot account named {name!r} already exists") from None
    row = await ex.fetchrow(f"{_ROBOT_SELECT} WHERE r.id = $1", robot_id)
    assert row is not None
    return _robot(row)


async def set_robot_disabled(ex: Executor, robot_id: int, disabled: bool) -> None:
    await ex.execute("UPDATE robots SET disabled = $2, updated_at = now() WHERE id = $1", robot_id, disabled)


def _clash(kind: str, exc: asyncpg.UniqueViolationError) -> str:
    constraint = getattr(exc, "constraint_name", None) or ""
    column = constraint.removeprefix(f"{kind}s_").removeprefix("user_groups_").removesuffix("_key")
    return f"a {kind} with this {column or 'name'} already exists"
