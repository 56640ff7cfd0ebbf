"""The identity store and the first-start bootstrap against a real PostgreSQL."""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import AsyncIterator

import argon2
import pytest

from services.common.auth.passwords import PasswordHasher
from services.common.db import Database
from services.common.identity import (
    access_store,
    groups_store,
    members_store,
    projects_store,
    robots_store,
    users_store,
)
from services.common.identity.bootstrap import bootstrap
from services.common.identity.errors import Conflict
from services.common.identity.models import RobotPermission
from services.common.rbac import Permission, Role
from services.common.secret import Secret
from services.common.settings import DatabaseSettings, Settings
from tests.harness.plugin import PG_HOST, PG_PORT, PG_USER, TestDatabase

pytestmark = pytest.mark.integration

FAST = PasswordHasher(hasher=argon2.PasswordHasher(time_cost=1, memory_cost=64, parallelism=1))


def settings_for(db: TestDatabase, admin_password: str = "Harbor12345") -> Settings:
    return Settings(
        admin_password=Secret(admin_password),
        database=DatabaseSettings(host=PG_HOST, port=PG_PORT, username=PG_USER, name=db.name, max_open_conns=4),
    )


@pytest.fixture
def settings(pg_database: TestDatabase) -> Settings:
    return settings_for(pg_database)


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    """A migrated database with the admin and `library` in it."""
    database = Database(settings.database)
    await database.open()
    await bootstrap(database, settings, hasher=FAST)
    try:
        yield database
    finally:
        await database.close()


async def test_concurrent_bootstraps_create_the_admin_and_library_once(pg_database: TestDatabase) -> None:
    settings = settings_for(pg_database, admin_password="")
    databases = [Database(settings.database) for _ in range(5)]
    outs = [io.StringIO() for _ in databases]
    await asyncio.gather(*(d.open() for d in databases))
    try:
        await asyncio.gather(
            *(bootstrap(d, settings, hasher=FAST, out=o) for d, o in zip(databases, outs, strict=True))
        )
        await asyncio.gather(
            *(bootstrap(d, settings, hasher=FAST, out=o) for d, o in zip(databases, outs, strict=True))
        )
        pool = databases[0].pool
        assert await pool.fetchval("SELECT count(*) FROM users") == 1
        assert await pool.fetchval("SELECT count(*) FROM projects") == 1
        assert await pool.fetchval("SELECT count(*) FROM project_members") == 1
        printed = [line for o in outs for line in o.getvalue().splitlines()]
        assert len(printed) == 1 and re.fullmatch(r"berth: admin password: \S{20,}", printed[0])
        admin = await users_store.user_by_id(pool, 1)
        assert admin is not None and admin.sysadmin and admin.password_hash is not None
        assert await FAST.verify(admin.password_hash, printed[0].rsplit(" ", 1)[1])
        library = await projects_store.project_by_name(pool, "library")
        assert library is not None and library.id == 1 and library.public and library.owner_id == 1
        assert await members_store.member_roles(pool, library.id, 1) == {Role.PROJECT_ADMIN}
    finally:
        await asyncio.gather(*(d.close() for d in databases))


async def test_user_access_fetches_the_user_projects_and_roles_in_one_go(db: Database) -> None:
    pool = db.pool
    alice = await users_store.create_user(pool, "alice", password_hash="h", email="alice@example.com")
    bob = await users_store.create_user(pool, "bob", password_hash="h")
    team = await projects_store.create_project(pool, "team", owner_id=alice.id)
    other = await projects_store.create_project(pool, "other", owner_id=alice.id, public=True)
    await members_store.add_member(pool, team.id, "u", alice.id, Role.GUEST)
    group = await groups_store.create_group(pool, "devs", ldap_dn="cn=devs,dc=example,dc=com")
    await groups_store.add_user_to_group(pool, alice.id, group.id)
    await members_store.add_member(pool, team.id, "g", group.id, Role.DEVELOPER)
    await members_store.add_member(pool, other.id, "u", bob.id, Role.MAINTAINER)

    found = await access_store.user_access(pool, "alice", ["team", "other", "missing"])
    assert found is not None and found.user.id == alice.id and found.user.email == "alice@example.com"
    assert set(found.projects) == {"team", "other"}
    assert found.projects["team"].roles == {Role.GUEST, Role.DEVELOPER}
    assert found.projects["other"].roles == frozenset() and found.projects["other"].public
    nothing = await access_store.user_access(pool, "alice", [])
    assert nothing is not None and nothing.projects == {}
    assert await access_store.user_access(pool, "nobody", ["team"]) is None
    # The same answer as the two separate lookups core uses.
    assert await members_store.member_roles(pool, team.id, alice.id) == {Role.GUEST, Role.DEVELOPER}
    assert (await access_store.project_access(pool, ["team", "other"], bob.id))["other"].roles == {Role.MAINTAINER}
    assert (await access_store.project_access(pool, ["team"], None))["team"].roles == frozenset()


async def test_robot_access_and_robot_rows(db: Database) -> None:
    pool = db.pool
    project = await projects_store.project_by_name(pool, "library")
    assert project is not None
    permission = RobotPermission("project", "library", (Permission("repository", "pull"),))
    robot = await robots_store.create_robot(
        pool, "robot$library+ci", secret_hash="h", level="project", project_id=project.id, permissions=[permission]
    )
    assert robot.project_name == "library" and robot.permissions == (permission,) and robot.expires_at is None
    found = await access_store.robot_access(pool, "robot$library+ci", ["library", "missing"])
    assert found is not None and found.robot == robot and set(found.projects) == {"library"}
    assert await access_store.robot_access(pool, "robot$nobody", ["library"]) is None
    await robots_store.set_robot_disabled(pool, robot.id, True)
    disabled = await robots_store.robot_by_name(pool, "robot$library+ci")
    assert disabled is not None and disabled.disabled


async def test_duplicates_are_conflicts_naming_what_clashed(db: Database) -> None:
    pool = db.pool
    await users_store.create_user(pool, "carol", password_hash="h", email="c@example.com")
    with pytest.raises(Conflict, match="username"):
        await users_store.create_user(pool, "carol", password_hash="h")
    with pytest.raises(Conflict, match="email"):
        await users_store.create_user(pool, "carol2", password_hash="h", email="c@example.com")
    with pytest.raises(Conflict, match="name"):
        await projects_store.create_project(pool, "library", owner_id=1)
    with pytest.raises(Conflict, match="already a member"):
        await members_store.add_member(pool, 1, "u", 1, Role.GUEST)
    with pytest.raises(Conflict, match="already exists"):
        for _ in range(2):
            await robots_store.create_robot(pool, "robot$x", secret_hash="h", level="system", permissions=[])


async def test_names_are_compared_byte_for_byte(db: Database) -> None:
    pool = db.pool
    await users_store.create_user(pool, "Dave", password_hash="h")
    await users_store.create_user(pool, "dave", password_hash="h")
    assert await users_store.user_by_name(pool, "DAVE") is None
    await projects_store.create_project(pool, "Library", owner_id=1)
    assert {p for p in await access_store.project_access(pool, ["library", "Library", "LIBRARY"], None)} == {
        "library",
        "Library",
    }
