"""Lists run a fixed number of SQL statements whatever the page size (the stores, on a real database)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import asyncpg
import pytest

from services.common.identity import groups_store, members_store, projects_store, users_store
from services.common.migrations import apply_migrations
from services.common.rbac import Role
from services.core.audit import store as audit_store
from services.core.audit.models import AuditEntry
from services.core.listing import Page, SortKey, Term
from services.core.members.store import list_members
from services.core.projects.store import list_projects
from services.core.security.access import Viewer
from services.core.users.store import list_users, search_users
from tests.harness.plugin import TestDatabase

pytestmark = pytest.mark.integration


class Counting:
    """An Executor that counts the statements it is asked to run."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.count = 0

    async def execute(self, query: str, *args: Any) -> str:
        self.count += 1
        return str(await self.conn.execute(query, *args))

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        self.count += 1
        return list(await self.conn.fetch(query, *args))

    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        self.count += 1
        return await self.conn.fetchrow(query, *args)

    async def fetchval(self, query: str, *args: Any) -> Any:
        self.count += 1
        return await self.conn.fetchval(query, *args)

    async def executemany(self, query: str, args: Any) -> None:
        self.count += 1
        await self.conn.executemany(query, args)


async def test_list_statement_counts(pg_database: TestDatabase) -> None:
    conn = await asyncpg.connect(pg_database.dsn())
    try:
        await apply_migrations(conn)
        owner = await users_store.create_user(conn, "owner", password_hash=None)
        group = await groups_store.create_group(conn, "g")
        await groups_store.add_user_to_group(conn, owner.id, group.id)
        for i in range(60):
            project = await projects_store.create_project(conn, f"p{i:03}", owner_id=owner.id, public=i % 3 == 0)
            await members_store.add_member(conn, project.id, "u", owner.id, Role.DEVELOPER)
            await members_store.add_member(conn, project.id, "g", group.id, Role.GUEST)
            await conn.execute("INSERT INTO repositories (name) VALUES ($1)", f"p{i:03}/app")
        first = await projects_store.project_by_name(conn, "p000")
        assert first is not None
        for i in range(40):
            user = await users_store.create_user(conn, f"u{i}", password_hash=None)
            await members_store.add_member(conn, first.id, "u", user.id, Role.GUEST)
        viewers = [
            Viewer(owner.id, False, ()),
            Viewer(None, False, ()),
            Viewer(None, True, ()),
            Viewer(None, False, ("p001",)),
        ]
        for viewer in viewers:
            for size in (1, 10, 100):
                ex = Counting(conn)
                rows, total = await list_projects(
                    ex, viewer, [Term("name", "like", "p")], [SortKey("name", True)], Page(1, size)
                )
                assert ex.count == 2 and len(rows) == min(size, total)
        ex = Counting(conn)
        rows, total = await list_projects(ex, Viewer(owner.id, False, ()), [], [], Page(1, 100))
        assert total == 60 and all(r.repo_count == 1 and r.roles == {Role.DEVELOPER, Role.GUEST} for r in rows)
        for size in (1, 100):
            ex = Counting(conn)
            members, total = await list_members(ex, first.id, None, Page(1, size))
            assert ex.count == 2 and total == 42 and len(members) == min(size, 42)
        # 41 users (owner, u0..u39): a user list and a search are two statements at any page size.
        for size in (1, 10, 100):
            ex = Counting(conn)
            users, total = await list_users(
                ex, [Term("username", "like", "u")], [SortKey("username", True)], Page(1, size)
            )
            assert ex.count == 2 and total == 40 and len(users) == min(size, 40)
            ex = Counting(conn)
            refs, total = await search_users(ex, "u", Page(1, size))
            assert ex.count == 2 and total == 40 and len(refs) == min(size, 40)
        # The audit log: 150 entries in p000, listed for the sysadmin (all) and for one project.
        now = dt.datetime.now(dt.UTC)
        entries = [
            AuditEntry("create", "artifact", f"p000/app:{i}", "owner", now, project="p000", event_id=uuid.uuid4())
            for i in range(150)
        ]
        await audit_store.insert(conn, entries)
        for project_ids in (None, [first.id]):
            for size in (1, 10, 100):
                ex = Counting(conn)
                views, total = await audit_store.list_entries(
                    ex, project_ids, [Term("operation", "eq", "create")], [SortKey("op_time", True)], Page(1, size)
                )
                assert ex.count == 2 and total == 150 and len(views) == size
    finally:
        await conn.close()
