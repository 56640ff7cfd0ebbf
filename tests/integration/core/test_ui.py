"""The web UI as core serves it: pages, assets, deep links, and the systeminfo field behind the
default-password banner (sysadmins only, flipping as soon as the admin's password changes)."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.harness.core import CoreProcess
from tests.harness.token import add_user

pytestmark = pytest.mark.integration

ADMIN = ("admin", "Harbor12345")
PW = "Ui-Passw0rd"
FIELD = "admin_password_is_default"


def web(core: CoreProcess) -> httpx.Client:
    return httpx.Client(base_url=core.url, timeout=30)


def test_root_serves_the_login_page(core: CoreProcess) -> None:
    with web(core) as c:
        r = c.get("/")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "<title>Berth</title>" in r.text
    assert '<script type="module" src="/static/app.js">' in r.text
    assert r.headers["Cache-Control"] == "no-cache"
    assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
    assert r.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/static/app.js", "text/javascript; charset=utf-8"),
        ("/static/login.js", "text/javascript; charset=utf-8"),
        ("/static/app.css", "text/css; charset=utf-8"),
        ("/static/favicon.svg", "image/svg+xml"),
    ],
)
def test_assets_have_their_content_type_and_revalidate(core: CoreProcess, path: str, content_type: str) -> None:
    with web(core) as c:
        r = c.get(path)
        assert r.status_code == 200
        assert r.headers["Content-Type"] == content_type
        assert r.headers["Cache-Control"] == "no-cache"
        # no-cache means "ask again": an unchanged file costs a 304 without a body.
        again = c.get(path, headers={"If-None-Match": r.headers["ETag"]})
        assert again.status_code == 304 and again.content == b""


def test_every_module_the_page_imports_is_served(core: CoreProcess) -> None:
    with web(core) as c:
        seen: set[str] = set()
        todo = ["app.js"]
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            r = c.get(f"/static/{name}")
            assert r.status_code == 200, name
            todo += re.findall(r'from "\./([a-z]+\.js)"', r.text)
    assert {"login.js", "projects.js", "project.js", "users.js", "api.js", "dom.js"} <= seen


@pytest.mark.parametrize(
    "path",
    ["/harbor/projects", "/harbor/projects/1/members", "/harbor/projects/1/repositories/apps/web", "/harbor/users?x=1"],
)
def test_deep_links_get_the_page(core: CoreProcess, path: str) -> None:
    with web(core) as c:
        r = c.get(path)
        assert r.status_code == 200
        assert r.headers["Content-Type"] == "text/html; charset=utf-8"
        assert "<title>Berth</title>" in r.text
        assert c.head(path).status_code == 200


@pytest.mark.parametrize("path", ["/api/v2.0/nope", "/c/nope", "/static/nope.js", "/static/..%2fviews.py", "/v2/x"])
def test_api_paths_and_missing_assets_stay_json_404s(core: CoreProcess, path: str) -> None:
    with web(core) as c:
        r = c.get(path)
    assert r.status_code == 404
    assert r.headers["Content-Type"].startswith("application/json")
    assert set(r.json()) == {"errors"}


def test_unknown_methods_on_ui_paths_are_not_pages(core: CoreProcess) -> None:
    with web(core) as c:
        assert c.post("/harbor/projects").status_code == 404
        assert c.delete("/api/v2.0/nope").status_code == 404


def test_default_password_field_is_for_sysadmins_only(core: CoreProcess, unique: str) -> None:
    add_user(core.database, f"plain-{unique}", PW)
    add_user(core.database, f"boss-{unique}", PW, sysadmin=True)
    with core.client() as anonymous:
        assert FIELD not in anonymous.get("/systeminfo").json()
    with core.client((f"plain-{unique}", PW)) as plain:
        info = plain.get("/systeminfo").json()
        assert "external_url" in info and FIELD not in info
    with core.client((f"boss-{unique}", PW)) as boss:
        assert boss.get("/systeminfo").json()[FIELD] is True
    with core.client(ADMIN) as admin:
        assert admin.get("/systeminfo").json()[FIELD] is True


def test_default_password_field_follows_a_password_change(core: CoreProcess) -> None:
    new = "Changed-Adm1n"
    with core.client(ADMIN) as admin:
        assert admin.get("/systeminfo").json()[FIELD] is True
        r = admin.put("/users/1/password", json={"old_password": ADMIN[1], "new_password": new})
        assert r.status_code == 200, r.text
    try:
        with core.client(("admin", new)) as admin:
            assert admin.get("/systeminfo").json()[FIELD] is False
            assert admin.get("/systeminfo").json()[FIELD] is False
    finally:
        # Back to the default, so the module's other tests find the admin as it was.
        with core.client(("admin", new)) as admin:
            r = admin.put("/users/1/password", json={"old_password": new, "new_password": ADMIN[1]})
            assert r.status_code == 200, r.text
    with core.client(ADMIN) as admin:
        assert admin.get("/systeminfo").json()[FIELD] is True


def test_core_warns_once_at_start_about_the_default_password(core: CoreProcess) -> None:
    with core.client(ADMIN) as admin:
        admin.get("/systeminfo")
    assert core.logs().count('"admin_default_password"') == 1


def test_scripts_get_their_401_without_the_basic_challenge(core: CoreProcess) -> None:
    # A challenge would make the browser show its own password dialog over the UI's login page.
    with web(core) as c:
        script = c.get("/api/v2.0/users/current", headers={"X-Requested-With": "XMLHttpRequest"})
        cli = c.get("/api/v2.0/users/current")
    assert script.status_code == cli.status_code == 401
    assert "WWW-Authenticate" not in script.headers
    assert cli.headers["WWW-Authenticate"] == 'Basic realm="berth"'
