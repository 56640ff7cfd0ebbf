"""UI sessions (/c/login, /c/log_out) and their CSRF check against a real core and a real Redis: what a
login gives, what it refuses, and that a session ends when it should (logout, deleted user, expiry)."""

from __future__ import annotations

import time

import httpx
import pytest
import redis

from tests.harness.core import CoreProcess
from tests.harness.plugin import REDIS_URL
from tests.harness.token import add_user

pytestmark = pytest.mark.integration

ADMIN = ("admin", "Harbor12345")
PW = "Sess-Passw0rd"
CSRF = "X-Harbor-CSRF-Token"


def browser(core: CoreProcess) -> httpx.Client:
    """A cookie-keeping client at the server's root (/c/login, /api/v2.0/...)."""
    return httpx.Client(base_url=core.url, timeout=30)


def login(c: httpx.Client, name: str, password: str = PW, *, as_json: bool = False) -> httpx.Response:
    fields = {"principal": name, "password": password}
    return c.post("/c/login", json=fields) if as_json else c.post("/c/login", data=fields)


def user(core: CoreProcess, name: str) -> int:
    return add_user(core.database, name, PW).id


def message(r: httpx.Response) -> str:
    body = r.json()
    assert set(body) == {"errors"}
    return str(body["errors"][0]["message"])


def session_key(core: CoreProcess, c: httpx.Client) -> str:
    return f"{core.redis_prefix}session:{c.cookies['sid']}"


def test_login_sets_an_http_only_cookie_that_authenticates(core: CoreProcess, unique: str) -> None:
    name = f"s-{unique}"
    user(core, name)
    with browser(core) as c:
        assert c.get("/api/v2.0/users/current").status_code == 401
        r = login(c, name)
        assert r.status_code == 200, r.text
        sid = next(h for h in r.headers.get_list("Set-Cookie") if h.startswith("sid="))
        assert "httponly" in sid.lower() and "samesite=lax" in sid.lower() and "path=/" in sid.lower()
        assert "secure" not in sid.lower().replace("samesite", "")
        r = c.get("/api/v2.0/users/current")
        assert r.status_code == 200 and r.json()["username"] == name
    with browser(core) as c:
        assert login(c, name, as_json=True).status_code == 200
        assert c.get("/api/v2.0/users/current").json()["username"] == name


def test_cookie_is_secure_behind_an_https_proxy(core: CoreProcess, unique: str) -> None:
    name = f"s-{unique}"
    user(core, name)
    with browser(core) as c:
        r = c.post("/c/login", data={"principal": name, "password": PW}, headers={"X-Forwarded-Proto": "https"})
        sid = next(h for h in r.headers.get_list("Set-Cookie") if h.startswith("sid="))
        assert "; secure" in sid.lower()


def test_wrong_password_and_unknown_user_get_the_same_401(core: CoreProcess, unique: str) -> None:
    name = f"s-{unique}"
    user(core, name)
    with browser(core) as c:
        wrong = login(c, name, "nope")
        unknown = login(c, f"nobody-{unique}")
        empty = c.post("/c/login", data={})
        assert wrong.status_code == unknown.status_code == empty.status_code == 401
        assert message(wrong) == message(unknown) == message(empty)
        assert wrong.json()["errors"][0]["code"] == "UNAUTHORIZED"
        assert "WWW-Authenticate" not in wrong.headers and "sid" not in c.cookies


def test_robots_cannot_log_in(core: CoreProcess, unique: str) -> None:
    with core.client(ADMIN) as admin:
        assert admin.post("/projects", json={"project_name": f"sr-{unique}"}).status_code == 201
        access = [{"resource": "repository", "action": "pull"}]
        body = {
            "name": f"bot-{unique}",
            "level": "project",
            "duration": -1,
            "permissions": [{"kind": "project", "namespace": f"sr-{unique}", "access": access}],
        }
        robot = admin.post("/robots", json=body).json()
    with browser(core) as c:
        r = login(c, robot["name"], robot["secret"])
        assert r.status_code == 401 and "sid" not in c.cookies


def test_logout_ends_the_session_even_for_a_replayed_cookie(core: CoreProcess, unique: str) -> None:
    name = f"s-{unique}"
    user(core, name)
    with browser(core) as c:
        assert login(c, name).status_code == 200
        sid = c.cookies["sid"]
        r = c.get("/c/log_out")
        assert r.status_code == 200 and "sid" not in c.cookies
        assert c.get("/api/v2.0/users/current").status_code == 401
    with browser(core) as replay:
        replay.cookies.set("sid", sid, domain="127.0.0.1")
        assert replay.get("/api/v2.0/users/current").status_code == 401


def test_a_session_id_planted_before_login_is_not_the_session(core: CoreProcess, unique: str) -> None:
    name = f"s-{unique}"
    user(core, name)
    planted = "A" * 43
    with browser(core) as c:
        c.cookies.set("sid", planted, domain="127.0.0.1")
        assert c.get("/api/v2.0/users/current").status_code == 401  # unknown sid: anonymous, not an error
        assert login(c, name).status_code == 200
        assert c.cookies["sid"] != planted
        assert c.get("/api/v2.0/users/current").status_code == 200
    with browser(core) as attacker:
        attacker.cookies.set("sid", planted, domain="127.0.0.1")
        assert attacker.get("/api/v2.0/users/current").status_code == 401


def test_unsafe_requests_by_session_need_the_csrf_header(core: CoreProcess, unique: str) -> None:
    name = f"s-{unique}"
    user(core, name)
    with browser(core) as c:
        assert login(c, name).status_code == 200
        r = c.post("/api/v2.0/projects", json={"project_name": f"sc-{unique}"})
        assert r.status_code == 403 and r.json()["errors"][0]["code"] == "FORBIDDEN" and "CSRF" in message(r)
        r = c.post("/api/v2.0/projects", json={"project_name": f"sc-{unique}"}, headers={CSRF: "x" * 43})
        assert r.status_code == 403
        token = c.get("/api/v2.0/users/current").headers[CSRF]
        r = c.post("/api/v2.0/projects", json={"project_name": f"sc-{unique}"}, headers={CSRF: token})
        assert r.status_code == 201, r.text


def test_basic_authenticated_requests_need_no_csrf_header(core: CoreProcess, unique: str) -> None:
    name = f"s-{unique}"
    user(core, name)
    with core.client((name, PW)) as c:
        r = c.get("/users/current")
        assert r.headers[CSRF] and "__csrf=" in r.headers["Set-Cookie"]
        assert c.post("/projects", json={"project_name": f"sb-{unique}"}).status_code == 201


def test_a_deleted_users_session_stops_working(core: CoreProcess, unique: str) -> None:
    name = f"s-{unique}"
    uid = user(core, name)
    with browser(core) as c:
        assert login(c, name).status_code == 200
        assert c.get("/api/v2.0/users/current").status_code == 200
        with core.client(ADMIN) as admin:
            assert admin.delete(f"/users/{uid}").status_code == 200
        assert c.get("/api/v2.0/users/current").status_code == 401


def test_a_session_expires_and_use_extends_it(core: CoreProcess, unique: str) -> None:
    name = f"s-{unique}"
    user(core, name)
    r = redis.Redis.from_url(REDIS_URL)
    try:
        with browser(core) as c:
            assert login(c, name).status_code == 200
            key = session_key(core, c)
            r.expire(key, 30)
            assert c.get("/api/v2.0/users/current").status_code == 200
            assert r.ttl(key) > 30  # sliding: use started the full timeout again
            r.pexpire(key, 1)
            deadline = time.monotonic() + 10
            while r.exists(key) and time.monotonic() < deadline:
                time.sleep(0.01)
            assert not r.exists(key)
            assert c.get("/api/v2.0/users/current").status_code == 401
    finally:
        r.close()
