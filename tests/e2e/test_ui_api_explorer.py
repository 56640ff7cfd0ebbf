"""End-to-end: the API explorer (Harbor's /devcenter-api-2.0) in a real headless Chromium against the whole stack
(see test_ui_browser.py). The administrator opens it from the header, sees every operation of Berth's spec
listed by Swagger UI, and runs GET /systeminfo with "Try it out": the answer is the logged-in view (the
browser's session went along), and the page logs no script error (its content security policy holds)."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import Page, expect

from services.core.api.spec import HTTP_METHODS, load_spec

from .test_ui_browser import Site, browser, core, log_in
from .test_ui_repositories import page, tolerated

__all__ = ["browser", "core", "page", "tolerated"]  # the fixtures this module shares with the other UI tests

pytestmark = pytest.mark.e2e

# A loaded 2-core CI machine: every expectation of something asynchronous gets this long.
TIMEOUT_MS = 30_000


@pytest.fixture(autouse=True)
def _patience() -> None:
    expect.set_options(timeout=TIMEOUT_MS)


def test_the_explorer_lists_every_operation_and_runs_one(page: Page, core: Site) -> None:
    spec = load_spec()
    count = sum(1 for item in spec["paths"].values() for method in item if method in HTTP_METHODS)
    log_in(page, core, "admin", "Harbor12345")
    expect(page.locator("header .username")).to_have_text("admin")

    page.locator("header").get_by_role("link", name="API Explorer").click()
    expect(page).to_have_url(re.compile(r"/devcenter-api-2\.0$"))
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Berth API")
    expect(page.locator(".opblock-summary")).to_have_count(count)

    systeminfo = page.locator("#operations-systeminfo-getSystemInfo")
    systeminfo.locator(".opblock-summary").click()
    systeminfo.get_by_role("button", name="Try it out").click()
    systeminfo.get_by_role("button", name="Execute").click()
    response = systeminfo.locator(".live-responses-table .response")
    expect(response.locator(".response-col_status")).to_have_text("200")
    body = json.loads(response.locator(".response-col_description pre.microlight").first.inner_text())
    # Only a logged-in caller gets the version: the page called the API with the browser's session.
    assert body["harbor_version"].startswith("berth-") and body["auth_mode"] == "db_auth"
