"""Audit log forwarding (Harbor's audit_log_forward_endpoint and skip_audit_log_database), against real
things: core's AuditLog and forwarder on a real PostgreSQL with a TCP server socket as the syslog
receiver (what exactly goes over the wire, and that a rolled-back change is never sent), then real
token, registry and core processes sending to Berth's own log collector process: a login, a project
created through the API, a push and a pull each arrive as one line with their fields, in the database
too, or only there with skip_audit_log_database; and an endpoint that goes away slows nothing and loses
nothing once it is back."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import re
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest

from services.common.db import Database
from services.common.oci import mediatypes as mt
from services.common.settings import DatabaseSettings
from services.core.audit.forward import AuditForwarder
from services.core.auditing import AuditLog
from services.log.framing import Framer
from services.log.parse import parse
from tests.harness.core import CoreProcess
from tests.harness.logcollector import LogCollectorProcess
from tests.harness.oci import push_image
from tests.harness.plugin import PG_HOST, PG_PORT, PG_USER, TestDatabase
from tests.harness.token import add_user, query
from tests.integration.core.registry_stack import ADMIN, Stack, running_stack, wait_for

pytestmark = pytest.mark.integration

PW = "Forward-pw1"
DEADLINE_S = 30.0
PAIR = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*")(?: |$)')
# How the collector writes a message: `<time> <host> <program>[<pid>]: <MSG>`.
COLLECTED = re.compile(r"^\S+ \S+ audit\[\d+\]: (.*)$")


def fields_of(message: str) -> dict[str, str]:
    return {m[1]: json.loads(m[2]) for m in PAIR.finditer(message)}


def stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --- in process: the AuditLog, the forwarder and a TCP server socket ------------------------------------


class Receiver:
    """A syslog receiver on a real TCP socket: every newline-framed line, raw."""

    def __init__(self) -> None:
        self.lines: list[bytes] = []
        self._server: asyncio.Server | None = None

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while line := await reader.readline():
                self.lines.append(line)
        writer.close()

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"127.0.0.1:{port}"

    async def wait_for(self, count: int) -> list[bytes]:
        deadline = time.monotonic() + DEADLINE_S
        while len(self.lines) < count:
            assert time.monotonic() < deadline, f"{len(self.lines)} of {count} lines arrived"
            await asyncio.sleep(0.02)
        return self.lines


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    yield r
    if r._server is not None:
        r._server.close()


@pytest.fixture
async def db(pg_database: TestDatabase) -> AsyncIterator[Database]:
    database = Database(
        DatabaseSettings(host=PG_HOST, port=PG_PORT, username=PG_USER, name=pg_database.name, max_open_conns=2)
    )
    await database.open()
    try:
        yield database
    finally:
        await database.close()


@contextlib.asynccontextmanager
async def running(forwarder: AuditForwarder) -> AsyncIterator[None]:
    """The forwarder's lifespan, as aiohttp's cleanup_ctx runs it."""
    async with contextlib.asynccontextmanager(forwarder.lifespan)(None):
        yield


async def test_only_committed_entries_are_sent_as_rfc5424_lines(db: Database, receiver: Receiver) -> None:
    endpoint = await receiver.start()
    forwarder = AuditForwarder(endpoint, hostname="core-test")
    audit = AuditLog(db, forwarder)
    async with running(forwarder):
        with pytest.raises(RuntimeError, match="rolled back"):
            async with db.transaction() as tx:
                await audit.record(
                    tx, operator="admin", operation="create", resource_type="project", resource="gone",
                    description="create project gone", project_id=None, project="gone",
                )  # fmt: skip
                raise RuntimeError("rolled back")
        async with db.transaction() as tx:
            await audit.record(
                tx, operator="admin", operation="create", resource_type="project", resource="kept",
                description="create project kept", project="kept",
            )  # fmt: skip
        # The pool: a login has no transaction, and is sent at once.
        await audit.record(
            db.pool, operator="eve", operation="login", resource_type="user", resource="eve",
            description="login failed", success=False,
        )  # fmt: skip
        lines = await receiver.wait_for(2)

    rows = await db.pool.fetch("SELECT resource, op_time FROM audit_log ORDER BY id")
    assert [r["resource"] for r in rows] == ["kept", "eve"], "the rolled-back entry is not in the database"
    # In order, so the rolled-back entry (recorded first) would have come first: it never came.
    assert len(lines) == 2
    kept, login = (Framer(65536).feed(line) for line in lines)
    message = parse(kept[0])
    assert not message.malformed and message.program == "audit" and message.hostname == "core-test"
    assert lines[0].startswith(b"<110>1 ") and b" audit " in lines[0] and b" create_project - " in lines[0]
    assert fields_of(message.text) == {
        "time": stamp(rows[0]["op_time"]),  # the time the database holds
        "operator": "admin",
        "operation": "create",
        "resource_type": "project",
        "resource": "kept",
        "project": "kept",
        "description": "create project kept",
        "result": "success",
    }
    assert lines[1].startswith(b"<109>1 "), "a failed login is a notice"
    assert fields_of(parse(login[0]).text)["result"] == "failure"


async def test_skip_writes_nothing_and_still_sends(db: Database, receiver: Receiver) -> None:
    forwarder = AuditForwarder(await receiver.start(), skip_database=True)
    audit = AuditLog(db, forwarder)
    async with running(forwarder):
        async with db.transaction() as tx:
            await audit.record(
                tx,
                operator="admin",
                operation="delete",
                resource_type="user",
                resource="u1",
                description="delete user u1",
            )
        lines = await receiver.wait_for(1)
    assert fields_of(parse(lines[0].rstrip(b"\n")).text)["resource"] == "u1"
    assert await db.pool.fetchval("SELECT count(*) FROM audit_log") == 0


async def test_a_transaction_the_database_did_not_open_is_refused(db: Database) -> None:
    async with db.pool.acquire() as conn, conn.transaction():
        with pytest.raises(RuntimeError, match=r"not opened by Database\.transaction"):
            db.after_commit(conn, lambda: None)


async def test_shutdown_sends_what_is_still_queued(db: Database, receiver: Receiver) -> None:
    forwarder = AuditForwarder(await receiver.start())
    audit = AuditLog(db, forwarder)
    async with running(forwarder):
        for i in range(200):
            await audit.record(
                db.pool,
                operator="admin",
                operation="update",
                resource_type="user",
                resource=f"u{i}",
                description="update",
            )
    # The lifespan has ended: what was queued went out before it returned.
    lines = await receiver.wait_for(200)
    assert [fields_of(parse(line.rstrip(b"\n")).text)["resource"] for line in lines] == [f"u{i}" for i in range(200)]


# --- real processes: token, registry and core, and Berth's log collector as the receiver ------------------


@dataclass
class Forwarding:
    stack: Stack
    collector: LogCollectorProcess

    def lines(self) -> list[dict[str, str]]:
        found = []
        for line in self.collector.lines("audit"):
            match = COLLECTED.match(line)
            assert match is not None, line
            found.append(fields_of(match[1]))
        return found

    def wait_for_lines(self, what: str, **wanted: str) -> dict[str, str]:
        """The one forwarded line with these fields (waiting for it)."""

        def matching() -> list[dict[str, str]]:
            return [f for f in self.lines() if wanted.items() <= f.items()]

        found: list[dict[str, str]] = wait_for(matching, what, timeout=DEADLINE_S)
        assert len(found) == 1, found
        return found[0]


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LogCollectorProcess]:
    proc = LogCollectorProcess(tmp_path_factory.mktemp("collector"))
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


def forwarding_stack(
    database: TestDatabase, collector: LogCollectorProcess, tmp_path_factory: pytest.TempPathFactory, *, skip: bool
) -> contextlib.AbstractContextManager[Stack]:
    settings = {"audit_log_forward_endpoint": f"127.0.0.1:{collector.port}", "skip_audit_log_database": skip}
    return running_stack(database, tmp_path_factory, core_settings=settings)


@pytest.fixture(scope="module")
def forwarding(
    module_database: TestDatabase, collector: LogCollectorProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Forwarding]:
    with forwarding_stack(module_database, collector, tmp_path_factory, skip=False) as stack:
        yield Forwarding(stack, collector)


@pytest.fixture(scope="module")
def skipping(collector: LogCollectorProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Forwarding]:
    database = TestDatabase().create()
    try:
        with forwarding_stack(database, collector, tmp_path_factory, skip=True) as stack:
            yield Forwarding(stack, collector)
    finally:
        database.drop()


def login(stack: Stack, name: str) -> None:
    with httpx.Client(base_url=stack.core.url, timeout=30) as browser:
        r = browser.post("/c/login", data={"principal": name, "password": PW})
        assert r.status_code == 200, r.text


def create_project(stack: Stack, name: str) -> None:
    with stack.api() as api:
        r = api.post("/projects", json={"project_name": name, "metadata": {"public": "false"}})
        assert r.status_code == 201, r.text


def push_and_pull(stack: Stack, repo: str) -> str:
    with stack.registry_client(*ADMIN) as registry:
        _, digest = push_image(registry, repo, "1.0")
        r = registry.get(f"/v2/{repo}/manifests/1.0", headers={"Accept": mt.OCI_MANIFEST})
        assert r.status_code == 200, r.text
    return digest


def activity(f: Forwarding, unique: str) -> dict[str, dict[str, str]]:
    """A login, a project, a push and a pull; their forwarded lines, once all arrived."""
    user, project = f"fw-user-{unique}", f"fw-{unique}"
    add_user(f.stack.db, user, PW)
    login(f.stack, user)
    create_project(f.stack, project)
    repo = f"{project}/app"
    digest = push_and_pull(f.stack, repo)
    return {
        "login": f.wait_for_lines("the login", operation="login", resource=user),
        "project": f.wait_for_lines("the project", operation="create", resource_type="project", resource=project),
        "push": f.wait_for_lines("the push", operation="create", resource_type="artifact", resource=f"{repo}:1.0"),
        "pull": f.wait_for_lines("the pull", operation="pull", resource=f"{repo}@{digest}"),
    }


def test_a_login_a_project_a_push_and_a_pull_are_forwarded_and_kept(forwarding: Forwarding, unique: str) -> None:
    lines = activity(forwarding, unique)
    user, project, repo = f"fw-user-{unique}", f"fw-{unique}", f"fw-{unique}/app"
    assert lines["login"] | {"time": ""} == {
        "time": "",
        "operator": user,
        "operation": "login",
        "resource_type": "user",
        "resource": user,
        "project": "",
        "description": "login",
        "result": "success",
    }
    assert lines["project"]["operator"] == "admin" and lines["project"]["project"] == project
    assert lines["project"]["description"] == f"create project {project}"
    for kind in ("push", "pull"):
        line = lines[kind]
        assert (line["operator"], line["project"], line["result"], line["description"]) == (
            "admin",
            project,
            "success",
            "",
        )
        assert line["event_id"]
    assert lines["push"]["resource"] == f"{repo}:1.0"

    # The same entries are in the database, at the times the lines carry.
    rows = query(
        forwarding.stack.db,
        "SELECT operation, resource_type, resource, username, op_time FROM audit_log WHERE resource IN ($1, $2)"
        " OR resource LIKE $3 ORDER BY id",
        user,
        project,
        f"{repo}%",
    )
    kept = {(r["operation"], r["resource_type"], r["resource"], r["username"], stamp(r["op_time"])) for r in rows}
    sent = {(x["operation"], x["resource_type"], x["resource"], x["operator"], x["time"]) for x in lines.values()}
    assert kept == sent


def test_with_skip_they_are_forwarded_and_not_kept(skipping: Forwarding, unique: str) -> None:
    lines = activity(skipping, unique)
    assert {line["operation"] for line in lines.values()} == {"login", "create", "pull"}
    assert query(skipping.stack.db, "SELECT count(*) AS n FROM audit_log")[0]["n"] == 0
    # The events were handled all the same: none waits in the outbox.
    wait_for(
        lambda: query(skipping.stack.db, "SELECT count(*) AS n FROM event_outbox")[0]["n"] == 0,
        "the outbox to empty",
        timeout=DEADLINE_S,
    )
    with skipping.stack.api() as api:
        r = api.get("/audit-logs")
        assert r.status_code == 200 and r.json() == []


def test_an_endpoint_that_is_down_slows_nothing_and_gets_the_lines_when_back(
    forwarding: Forwarding, unique: str
) -> None:
    stack, collector = forwarding.stack, forwarding.collector
    user = f"fw-user-down-{unique}"
    add_user(stack.db, user, PW)
    seen = stack.core.logs().count("audit_forward_unreachable")
    collector.stop()
    try:
        login(stack, user)
        create_project(stack, f"fw-down-{unique}")
        wait_for(
            lambda: stack.core.logs().count("audit_forward_unreachable") > seen,
            "core to find the endpoint down",
            timeout=DEADLINE_S,
        )
        # Requests go on as usual while it is down.
        create_project(stack, f"fw-down2-{unique}")
    finally:
        collector.start()
    create_project(stack, f"fw-back-{unique}")
    forwarding.wait_for_lines("the project created once it was back", resource=f"fw-back-{unique}")
    # What waited while it was down arrived too.
    forwarding.wait_for_lines("the login while down", operation="login", resource=user)
    forwarding.wait_for_lines("the project while down", resource=f"fw-down-{unique}")
    forwarding.wait_for_lines("the second project while down", resource=f"fw-down2-{unique}")


def test_core_refuses_a_bad_endpoint_at_start(
    module_database: TestDatabase, tmp_path_factory: pytest.TempPathFactory
) -> None:
    core = CoreProcess(
        tmp_path_factory.mktemp("bad-core"), module_database, settings={"audit_log_forward_endpoint": "syslog://x:514"}
    )
    with pytest.raises(RuntimeError, match="audit_log_forward_endpoint"):
        core.start()
