"""A real `python -m services.token` process for tests and benchmarks, and helpers that put users,
projects, members and robots into its database (through the identity store, as core will)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
from argon2 import PasswordHasher as Argon2Hasher

from services.common.identity import groups_store, members_store, projects_store, robots_store, users_store
from services.common.identity.models import (
    ADMIN_USER_ID,
    Project,
    Robot,
    RobotPermission,
    User,
    project_robot_name,
    system_robot_name,
)
from services.common.migrations import apply_migrations
from services.common.rbac import Permission, Role
from tests.harness.plugin import ServiceProcess, TestDatabase, free_port, http_ready

T = TypeVar("T")


class TokenServiceProcess(ServiceProcess):
    """`python -m services.token` with its own berth.yml and key pair paths in `workdir`."""

    module = "services.token"
    output_name = "token.log"

    def __init__(
        self,
        workdir: Path,
        database: TestDatabase,
        *,
        admin_password: str = "Harbor12345",
        log_collector: dict[str, object] | None = None,
        port: int | None = None,
        private_key: Path | None = None,
        certificate: Path | None = None,
        settings: dict[str, Any] | None = None,
        **token_overrides: object,
    ) -> None:
        super().__init__(workdir)
        self.database = database
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.private_key_path = private_key or workdir / "keys" / "private_key.pem"
        self.certificate_path = certificate or workdir / "keys" / "root.crt"
        config: dict[str, Any] = {
            "admin_password": admin_password,
            "database": database.settings_dict(),
            "token": {
                "host": "127.0.0.1",
                "port": self.port,
                "private_key": str(self.private_key_path),
                "certificate": str(self.certificate_path),
                **token_overrides,
            },
            **(settings or {}),
        }
        if log_collector is not None:
            config["log"] = {"level": "info", "format": "json", "collector": log_collector}
        self.write_config(config)

    def ready(self) -> bool:
        return http_ready(self.url + "/healthz", 200)()

    def token_url(self) -> str:
        return f"{self.url}/service/token"


# --- database helpers (tests are synchronous: each runs one short asyncpg session) --------------------


def _run(db: TestDatabase, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    async def main() -> T:
        conn = await asyncpg.connect(db.dsn())
        try:
            # The service may not have started yet; the schema is the same either way.
            await apply_migrations(conn)
            return await work(conn)
        finally:
            await conn.close()

    return asyncio.run(main())


def hash_secret(secret: str) -> str:
    """The same KDF as the services use (argon2id, default parameters)."""
    return Argon2Hasher().hash(secret)


def add_user(
    db: TestDatabase, username: str, password: str, *, sysadmin: bool = False, email: str | None = None
) -> User:
    password_hash = hash_secret(password)

    async def work(conn: asyncpg.Connection) -> User:
        return await users_store.create_user(
            conn, username, password_hash=password_hash, sysadmin=sysadmin, email=email
        )

    return _run(db, work)


def add_project(db: TestDatabase, name: str, public: bool = False, *, owner: str | None = None) -> Project:
    """A project owned by `owner` (default: the admin, which the token service creates at first start)."""

    async def work(conn: asyncpg.Connection) -> Project:
        owner_user = await (
            users_store.user_by_name(conn, owner) if owner else users_store.user_by_id(conn, ADMIN_USER_ID)
        )
        if owner_user is None:
            raise RuntimeError(f"no owner {owner or 'admin'} for project {name}: start the token service first")
        return await projects_store.create_project(conn, name, owner_id=owner_user.id, public=public)

    return _run(db, work)


def add_member(db: TestDatabase, project: str, user: str, role: int | Role) -> None:
    async def work(conn: asyncpg.Connection) -> None:
        p, u = await projects_store.project_by_name(conn, project), await users_store.user_by_name(conn, user)
        if p is None or u is None:
            raise RuntimeError(f"no project {project} or no user {user}")
        await members_store.add_member(conn, p.id, "u", u.id, Role(role))

    _run(db, work)


def add_group_member(db: TestDatabase, project: str, group: str, users: Iterable[str], role: int | Role) -> None:
    """A group (created here) holding `role` in `project`, with `users` in it."""
    names = list(users)

    async def work(conn: asyncpg.Connection) -> None:
        p = await projects_store.project_by_name(conn, project)
        if p is None:
            raise RuntimeError(f"no project {project}")
        g = await groups_store.create_group(conn, group, ldap_dn=f"cn={group},ou=groups,dc=example,dc=com")
        for name in names:
            u = await users_store.user_by_name(conn, name)
            if u is None:
                raise RuntimeError(f"no user {name}")
            await groups_store.add_user_to_group(conn, u.id, g.id)
        await members_store.add_member(conn, p.id, "g", g.id, Role(role))

    _run(db, work)


def add_group_role(db: TestDatabase, project: str, group: str, ldap_dn: str, role: int | Role) -> int:
    """An LDAP group (by DN, created here as an administrator would add it) holding `role` in `project`;
    its members come from the directory at each login. Returns the group's id."""

    async def work(conn: asyncpg.Connection) -> int:
        p = await projects_store.project_by_name(conn, project)
        if p is None:
            raise RuntimeError(f"no project {project}")
        (group_id,) = await groups_store.upsert_ldap_groups(conn, [(group, ldap_dn)])
        await members_store.add_member(conn, p.id, "g", group_id, Role(role))
        return group_id

    return _run(db, work)


def add_robot(
    db: TestDatabase,
    name: str,
    secret: str,
    *,
    project: str | None = None,
    access: Iterable[tuple[str, str]] = (("repository", "pull"),),
    namespaces: Iterable[str] | None = None,
    disabled: bool = False,
    expires_at: dt.datetime | None = None,
) -> Robot:
    """A project robot (`project` given: robot$<project>+<name>, permissions for that project) or a system
    robot (robot$<name>, permissions for each of `namespaces`, default every project "*")."""
    entries = tuple(Permission(resource=r, action=a) for r, a in access)
    if project is not None:
        full_name = project_robot_name(project, name)
        permissions = [RobotPermission(kind="project", namespace=project, access=entries)]
    else:
        full_name = system_robot_name(name)
        permissions = [RobotPermission(kind="project", namespace=n, access=entries) for n in (namespaces or ["*"])]
    secret_hash = hash_secret(secret)

    async def work(conn: asyncpg.Connection) -> Robot:
        project_id = None
        if project is not None:
            p = await projects_store.project_by_name(conn, project)
            if p is None:
                raise RuntimeError(f"no project {project}")
            project_id = p.id
        return await robots_store.create_robot(
            conn,
            full_name,
            secret_hash=secret_hash,
            level="project" if project is not None else "system",
            project_id=project_id,
            permissions=permissions,
            disabled=disabled,
            expires_at=expires_at,
        )

    return _run(db, work)


def set_password(db: TestDatabase, username: str, password: str) -> None:
    password_hash = hash_secret(password)

    async def work(conn: asyncpg.Connection) -> None:
        u = await users_store.user_by_name(conn, username)
        if u is None:
            raise RuntimeError(f"no user {username}")
        await users_store.set_password(conn, u.id, password_hash)

    _run(db, work)


def query(db: TestDatabase, sql: str, *args: object) -> list[asyncpg.Record]:
    async def work(conn: asyncpg.Connection) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await conn.fetch(sql, *args)
        return rows

    return _run(db, work)
