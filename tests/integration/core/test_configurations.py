"""Harbor's /api/v2.0/configurations through two real core processes on one database: a change made on
one is applied by the other within seconds without a restart (self-registration, project creation
restriction, banner, session timeout, robot token duration, audit log forwarding), each change is an
audit entry, bad input is a 400 naming the key with nothing stored, and only the sysadmin reads or writes."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis

from tests.harness.core import CoreProcess
from tests.harness.plugin import REDIS_URL, TestDatabase
from tests.harness.token import add_user
from tests.harness.waiting import eventually
from tests.integration.core.test_configurations_auth import LDAP_DEFAULTS

pytestmark = pytest.mark.integration
ADMIN = ("admin", "Harbor12345")
PW = "Config-Passw0rd"
DEADLINE_S = 30.0
DEFAULTS = {
    "read_only": False,
    "token_expiration": 30,
    "self_registration": False,
    "project_creation_restriction": "everyone",
    "banner_message": "",
    "session_timeout": 60,
    "robot_token_duration": 30,
    "storage_per_project": -1,
    "audit_log_forward_endpoint": "",
    "skip_audit_log_database": False,
    "notification_enable": True,
    "webhook_job_max_retry": 10,
    "webhook_job_http_client_timeout": 3,
    "webhook_target_allowlist": "",
    # auth_mode, ldap_* and robot_name_prefix: test_configurations_auth.py
    **LDAP_DEFAULTS,
}


@pytest.fixture(scope="module")
def cores(module_database: TestDatabase, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[CoreProcess, ...]]:
    a = CoreProcess(tmp_path_factory.mktemp("core-a"), module_database)
    b = CoreProcess(tmp_path_factory.mktemp("core-b"), module_database)
    a.start()
    try:
        b.start()
        try:
            yield a, b
        finally:
            b.stop()
    finally:
        a.stop()


@pytest.fixture(autouse=True)
def restored(cores: tuple[CoreProcess, ...]) -> Iterator[None]:
    yield
    with cores[0].client(ADMIN) as c:
        assert c.put("/configurations", json=DEFAULTS).status_code == 200


def values(core: CoreProcess) -> dict[str, Any]:
    with core.client(ADMIN) as c:
        r = c.get("/configurations")
        assert r.status_code == 200, r.text
        return {k: v["value"] for k, v in r.json().items()}


def put(core: CoreProcess, body: dict[str, Any]) -> httpx.Response:
    with core.client(ADMIN) as c:
        return c.put("/configurations", json=body)


def info(core: CoreProcess) -> dict[str, Any]:
    with core.client() as c:
        return c.get("/systeminfo").json()  # type: ignore[no-any-return]


def test_the_defaults_in_harbors_shape(cores: tuple[CoreProcess, ...]) -> None:
    with cores[0].client(ADMIN) as c:
        body = c.get("/configurations").json()
    assert {k: v["value"] for k, v in body.items()} == DEFAULTS
    assert all(v["editable"] is True for v in body.values())


def test_a_change_on_one_core_is_applied_by_the_other_within_seconds(cores: tuple[CoreProcess, ...]) -> None:
    a, b = cores
    assert put(a, {"self_registration": True, "banner_message": "maintenance at 18:00"}).status_code == 200
    assert values(a)["self_registration"] is True  # the writer at once
    eventually(lambda: info(b)["self_registration"] is True, "core b sees self-registration on")
    assert info(b)["banner_message"] == "maintenance at 18:00"
    # And it is applied, not only shown: anyone may register on b now.
    user = {"username": "self-made", "password": PW, "email": "self@example.com", "realname": "Self"}
    with b.client() as anonymous:
        assert anonymous.post("/users", json=user).status_code == 201
    assert put(a, {"self_registration": False}).status_code == 200
    eventually(lambda: info(b)["self_registration"] is False, "core b sees self-registration off")
    with b.client() as anonymous:
        assert anonymous.post("/users", json={**user, "username": "self-made-2"}).status_code == 401


def test_adminonly_project_creation(cores: tuple[CoreProcess, ...]) -> None:
    a, b = cores
    add_user(a.database, "creator", PW)
    assert put(a, {"project_creation_restriction": "adminonly"}).status_code == 200
    with b.client(("creator", PW)) as user, b.client(ADMIN) as admin:

        def refused() -> bool:
            r = user.post("/projects", json={"project_name": "by-a-user"})
            return r.status_code == 403 and "adminonly" in r.json()["errors"][0]["message"]

        eventually(refused, "core b refuses a user's project")
        assert admin.post("/projects", json={"project_name": "by-the-admin"}).status_code == 201
        assert admin.get("/systeminfo").json()["project_creation_restriction"] == "adminonly"
    assert put(a, {"project_creation_restriction": "everyone"}).status_code == 200
    with b.client(("creator", PW)) as user:
        eventually(
            lambda: user.post("/projects", json={"project_name": "by-a-user"}).status_code == 201,
            "core b lets users create projects again",
        )


def test_session_timeout_and_robot_token_duration_apply_to_what_comes_next(cores: tuple[CoreProcess, ...]) -> None:
    a, b = cores
    add_user(a.database, "sessioner", PW)
    assert put(a, {"session_timeout": 5, "robot_token_duration": 7}).status_code == 200
    eventually(lambda: values(b)["session_timeout"] == 5, "core b reads the new values")
    with httpx.Client(base_url=b.url, timeout=30) as browser:
        assert browser.post("/c/login", data={"principal": "sessioner", "password": PW}).status_code == 200
        sid = browser.cookies["sid"]
    ttl = redis.Redis.from_url(REDIS_URL).ttl(f"{b.redis_prefix}session:{sid}")
    assert 0 < ttl <= 5 * 60
    robot = {
        "name": "week-long",
        "level": "system",
        "duration": 0,
        "permissions": [{"kind": "system", "namespace": "/", "access": [{"resource": "project", "action": "list"}]}],
    }
    with b.client(ADMIN) as admin:
        created = admin.post("/robots", json=robot)
        assert created.status_code == 201, created.text
        assert admin.get(f"/robots/{created.json()['id']}").json()["duration"] == 7


def test_audit_forwarding_is_switched_on_at_run_time(cores: tuple[CoreProcess, ...]) -> None:
    a, b = cores
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(DEADLINE_S)
        endpoint = f"127.0.0.1:{server.getsockname()[1]}"
        assert put(a, {"audit_log_forward_endpoint": endpoint}).status_code == 200
        eventually(lambda: values(b)["audit_log_forward_endpoint"] == endpoint, "core b reads the endpoint")
        add_user(a.database, "forwarded", PW)
        with httpx.Client(base_url=b.url, timeout=30) as browser:
            assert browser.post("/c/login", data={"principal": "forwarded", "password": PW}).status_code == 200
        received = b""
        deadline = time.monotonic() + DEADLINE_S
        while b'operator="forwarded"' not in received:
            assert time.monotonic() < deadline, f"no login line arrived: {received!r}"
            conn, _ = server.accept()  # core a's and b's connections, in either order
            conn.settimeout(2)
            try:
                while chunk := conn.recv(65536):
                    received += chunk
                    if b'operator="forwarded"' in received:
                        break
            except TimeoutError:
                pass
            finally:
                conn.close()
    assert b'operation="login"' in received


def test_each_change_is_an_audit_entry(cores: tuple[CoreProcess, ...]) -> None:
    a, _ = cores
    assert put(a, {"banner_message": "audited", "storage_per_project": 1024}).status_code == 200
    with a.client(ADMIN) as c:
        entries = c.get("/audit-logs", params={"q": "resource_type=configuration", "page_size": 5}).json()
    assert entries[0]["operation"] == "update" and entries[0]["username"] == "admin"
    assert entries[0]["resource"] == "banner_message,storage_per_project"
    # Setting what is already set changes nothing and records nothing.
    before = len(entries)
    assert put(a, {"banner_message": "audited"}).status_code == 200
    with a.client(ADMIN) as c:
        again = c.get("/audit-logs", params={"q": "resource_type=configuration", "page_size": 5}).json()
    assert len(again) == before


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"no_such_key": 1}, "no_such_key"),
        ({"self_registration": "true"}, "self_registration"),
        ({"self_registration": 1}, "self_registration"),
        ({"session_timeout": True}, "session_timeout"),
        ({"session_timeout": 0}, "session_timeout"),
        ({"read_only": "on"}, "read_only"),
        ({"token_expiration": 0}, "token_expiration"),
        ({"storage_per_project": -2}, "storage_per_project"),
        ({"project_creation_restriction": "nobody"}, "project_creation_restriction"),
        ({"audit_log_forward_endpoint": "syslog://x:514"}, "audit_log_forward_endpoint"),
        ({"skip_audit_log_database": True}, "skip_audit_log_database"),
        ({"banner_message": "ok", "robot_token_duration": 0}, "robot_token_duration"),
    ],
)
def test_bad_input_is_a_400_naming_the_key_and_nothing_is_stored(
    cores: tuple[CoreProcess, ...], body: dict[str, Any], named: str
) -> None:
    a, _ = cores
    r = put(a, body)
    assert r.status_code == 400, r.text
    assert named in r.json()["errors"][0]["message"]
    assert values(a) == DEFAULTS


def test_only_the_sysadmin_reads_and_writes(cores: tuple[CoreProcess, ...]) -> None:
    a, _ = cores
    add_user(a.database, "curious", PW)
    with a.client() as anonymous, a.client(("curious", PW)) as user:
        for client, code in ((anonymous, 401), (user, 403)):
            r = client.get("/configurations")
            assert r.status_code == code and "self_registration" not in r.text
            assert client.put("/configurations", json={"self_registration": True}).status_code == code
    assert values(a)["self_registration"] is False
