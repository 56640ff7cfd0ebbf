"""GET /api/v2.0/swagger.json and the API explorer against a real core process: the spec is served to anyone
(as Harbor serves its own) as the JSON of the checked-in document; the explorer page and the Swagger UI files
it loads are served with their types, and nothing else of Swagger UI's distribution is."""

from __future__ import annotations

import httpx
import pytest

from services.core.api.spec import load_spec
from tests.harness.core import CoreProcess

pytestmark = pytest.mark.integration

ADMIN = ("admin", "Harbor12345")


def test_the_spec_is_served_to_anyone_as_json(core: CoreProcess) -> None:
    for auth in (None, ADMIN):
        with core.client(auth) as c:
            r = c.get("/swagger.json")
            assert r.status_code == 200, r.text
            assert r.headers["Content-Type"].startswith("application/json")
            assert r.json() == load_spec()


def test_the_explorer_page_and_its_swagger_ui_files(core: CoreProcess) -> None:
    with httpx.Client(base_url=core.url, timeout=30) as c:
        page = c.get("/devcenter-api-2.0")
        assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
        assert "/static/swagger-ui/swagger-ui-bundle.js" in page.text and "/static/devcenter.js" in page.text
        assert "script-src" not in page.headers["Content-Security-Policy"]  # scripts: 'self' only
        for name, kind in (
            ("swagger-ui/swagger-ui-bundle.js", "text/javascript"),
            ("swagger-ui/swagger-ui.css", "text/css"),
            ("devcenter.js", "text/javascript"),
        ):
            r = c.get(f"/static/{name}")
            assert r.status_code == 200 and r.headers["Content-Type"].startswith(kind), name
        # The distribution's other files (its petstore index.html, source maps) are not served.
        for name in ("index.html", "swagger-initializer.js", "swagger-ui-bundle.js.map", "..%2Fswagger-ui.css"):
            assert c.get(f"/static/swagger-ui/{name}").status_code == 404, name
