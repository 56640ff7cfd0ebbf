"""End-to-end: a project's Webhooks tab in a real headless Chromium against the whole stack (see
test_ui_browser.py), whose jobservice really delivers, to a real HTTP receiver (tests/harness/receiver.py)
that webhook_target_allowlist lets through. The administrator adds a webhook through its dialog: a target at
the metadata address is refused by Test endpoint and by OK with the SSRF guard's words, the receiver's tests
successfully (the receiver gets the test body) and is created; a push into the project reaches the receiver
as Harbor's PUSH_ARTIFACT, with the auth header and the signature; the policy's executions show the delivery
succeeded, its log the receiver's 200, the table when it was last triggered; disabling, editing the
description (the stored secrets kept) and deleting work. A maintainer sees the tab without a control that
changes anything; a developer is not offered it."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.harness.oci import push_image
from tests.harness.plugin import RegistryEndpoint
from tests.harness.receiver import WebhookReceiver
from tests.harness.waiting import eventually

from .test_ui_admin import _patience, admin_page
from .test_ui_browser import PW, Site, add_user, browser, core
from .test_ui_repositories import page, tolerated
from .test_ui_robots_labels import (
    ADMIN,
    DEVELOPER,
    MAINTAINER,
    add_member,
    confirm_next,
    log_in_as,
    new_project,
    unique,
)

# The fixtures this module shares with the other UI tests.
__all__ = ["_patience", "admin_page", "browser", "core", "page", "tolerated"]

pytestmark = pytest.mark.e2e

# A delivery runs as a jobservice job on a loaded 2-core CI machine: it gets this long to succeed.
DELIVERY_MS = 120_000
# Core reads a configuration change within a second or so; this long on a loaded machine.
CONFIG_S = 60
AUTH, SIGNING = "Bearer ui-hook-token", "ui-signing-secret"
METADATA = "http://169.254.169.254/latest/meta-data"
GUARD = (
    "targets[0].address: the host 169.254.169.254 resolves to 169.254.169.254 (link-local, the metadata range "
    "among it): add it to webhook_target_allowlist to allow it"
)


@pytest.fixture(scope="module")
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as proc:
        yield proc


@pytest.fixture(scope="module")
def allowlist(core: Site, receiver: WebhookReceiver) -> Iterator[None]:
    """webhook_target_allowlist lets the receiver (on 127.0.0.1) through for the module, and core has seen it
    (an endpoint test to it answers 200); empty again, the default, after it."""
    probe, _ = new_project(core, unique("probe"))
    body = {"targets": [{"type": "http", "address": receiver.url("/probe")}]}
    with core.client(ADMIN) as admin:
        assert admin.put("/configurations", json={"webhook_target_allowlist": "127.0.0.1"}).status_code == 200
        eventually(
            lambda: admin.post(f"/projects/{probe}/webhook/policies/test", json=body).status_code == 200,
            "core to allow the receiver's address",
            CONFIG_S,
        )
    try:
        yield
    finally:
        with core.client(ADMIN) as admin:
            assert admin.put("/configurations", json={"webhook_target_allowlist": ""}).status_code == 200


def policies_of(core: Site, project: str) -> list[dict[str, Any]]:
    with core.client(ADMIN) as admin:
        r = admin.get(f"/projects/{project}/webhook/policies")
        assert r.status_code == 200, r.text
        listed: list[dict[str, Any]] = r.json()
        return listed


def open_webhooks(page: Page, core: Site, project_id: int) -> None:
    page.goto(f"{core.url}/harbor/projects/{project_id}")
    page.locator("#project-tabs").get_by_role("link", name="Webhooks").click()
    expect(page).to_have_url(re.compile(rf"/harbor/projects/{project_id}/webhook$"))
    expect(page.locator("#project-tabs [aria-current=page]")).to_have_text("Webhooks")


def webhook_row(page: Page, name: str) -> Locator:
    return page.locator(f'#webhooks tbody tr[data-name="{name}"]')


def test_admin_adds_a_webhook_a_push_reaches_and_follows_its_delivery(
    admin_page: Page,
    core: Site,
    receiver: WebhookReceiver,
    allowlist: None,
    registry_endpoint: RegistryEndpoint,
    tolerated: list[str],
) -> None:
    tolerated.append("400")  # the refused test and create, which the browser logs
    page = admin_page
    project, project_id = new_project(core, unique("wh"))
    name = unique("hook")
    path = f"/{name}"
    hook = receiver.url(path)
    open_webhooks(page, core, project_id)
    expect(page.locator("#webhooks tbody")).to_have_text("No webhooks.")
    expect(page.locator("#webhook-executions-hint")).to_be_visible()

    # The dialog's choices are the API's: notify types, each one's payload formats, every event type ticked.
    page.click("#new-webhook")
    dialog = page.locator("#webhook-dialog")
    expect(dialog.locator("h2")).to_have_text("New webhook")
    expect(page.locator("#webhook-notify-type option")).to_have_text(["http", "slack"])
    expect(page.locator("#webhook-payload-format option")).to_have_text(["Default", "CloudEvents"])
    page.select_option("#webhook-notify-type", "slack")
    expect(page.locator("#webhook-payload-format option")).to_have_text(["Default"])
    expect(page.locator("#webhook-auth-header")).to_be_hidden()
    page.select_option("#webhook-notify-type", "http")
    expect(page.locator("#webhook-auth-header")).to_be_visible()
    events = page.locator("#webhook-events input")
    expect(events).to_have_count(10)
    for box in events.all():
        expect(box).to_be_checked()
        box.uncheck()
    dialog.get_by_label("PUSH_ARTIFACT").check()
    expect(page.locator("#webhook-verify")).to_be_checked()
    expect(page.locator("#webhook-enabled")).to_be_checked()
    page.fill("#webhook-name", name)
    page.fill("#webhook-description", "to the receiver")
    page.fill("#webhook-auth-header", AUTH)
    page.fill("#webhook-signing-secret", SIGNING)

    # The metadata address: refused by the SSRF guard, by Test endpoint and by OK, in its words.
    page.fill("#webhook-address", METADATA)
    tested = page.locator("#webhook-test-status")
    page.click("#webhook-test")
    expect(tested).to_have_attribute("role", "alert")
    expect(tested).to_contain_text("Could not reach the endpoint: targets[0].address: ")
    expect(tested).to_contain_text("add it to webhook_target_allowlist")
    refused = page.locator("#webhook-dialog-status")
    page.click("#webhook-dialog-save")
    expect(refused).to_have_text(f"Could not create the webhook: {GUARD}")
    expect(dialog).to_be_visible()

    # The receiver: tested (it gets Berth's test body, with the auth header), then created.
    page.fill("#webhook-address", hook)
    page.click("#webhook-test")
    expect(tested).to_have_text("Endpoint tested successfully")
    expect(refused).to_be_hidden()
    (probe,) = receiver.wait_for(1, path)
    assert json.loads(probe.body)["type"] == "TEST_WEBHOOK"
    assert probe.headers["Authorization"] == AUTH
    page.click("#webhook-dialog-save")
    expect(dialog).to_have_count(0)
    status = page.locator("#webhook-status")
    expect(status).to_have_text("Webhook created.")
    row = webhook_row(page, name)
    expect(row.locator("td")).to_have_text(
        [name, "Enabled", "http", hook, "PUSH_ARTIFACT", "", "admin", re.compile(r"\d"), "ExecutionsEditDisableDelete"]
    )
    (stored,) = policies_of(core, project)
    assert (stored["name"], stored["description"], stored["enabled"]) == (name, "to the receiver", True)
    assert stored["event_types"] == ["PUSH_ARTIFACT"]
    assert stored["targets"] == [
        {
            "type": "http",
            "address": hook,
            "auth_header": "*****",
            "skip_cert_verify": False,
            "payload_format": "Default",
            "signing_secret": "*****",
        }
    ]

    # A push reaches the receiver as Harbor's PUSH_ARTIFACT, with the auth header and Berth's signature.
    with registry_endpoint.client() as registry:
        _, digest = push_image(registry, f"{project}/app", "v1", layers=[b"a layer a webhook announces"])
    pushed = receiver.wait_for(2, path)[1]
    sent = json.loads(pushed.body)
    assert sent["type"] == "PUSH_ARTIFACT" and sent["operator"] == "admin"
    assert sent["event_data"]["repository"]["repo_full_name"] == f"{project}/app"
    assert [(r["digest"], r["tag"]) for r in sent["event_data"]["resources"]] == [(digest, "v1")]
    assert pushed.headers["Authorization"] == AUTH
    stamp = pushed.headers["X-Berth-Timestamp"]
    expected = hmac.new(SIGNING.encode(), stamp.encode() + b"." + pushed.body, hashlib.sha256).hexdigest()
    assert pushed.headers["X-Berth-Signature"] == f"sha256={expected}"

    # Its execution, followed until it has succeeded, and its task's log: the receiver's 200.
    row.get_by_role("button", name="Executions").click()
    expect(row.get_by_role("button", name="Executions")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#webhook-executions-title")).to_have_text(f"Executions of {name}")
    execution = page.locator("#webhook-executions tbody tr[data-id]")
    expect(execution).to_have_count(1, timeout=DELIVERY_MS)
    expect(execution.locator("td.job-status")).to_have_text("Success", timeout=DELIVERY_MS)
    expect(execution.locator("td")).to_have_text(
        [re.compile(r"^\d+$"), "PUSH_ARTIFACT", "Success", re.compile(r"\d"), re.compile(r"\d"), "", "Log"]
    )
    execution_id = execution.get_attribute("data-id")
    execution.get_by_role("button", name="Log").click()
    expect(page.locator("#webhook-log-title")).to_have_text(f"Log of execution {execution_id}")
    log = page.locator("#webhook-log")
    expect(log).to_contain_text(f"POST {hook}: 200")
    page.click("#webhook-log-refresh")
    expect(log).to_contain_text(f"POST {hook}: 200")

    # The table, read again, says when the policy was last triggered.
    page.click("#webhook-refresh")
    expect(row.locator("td.last-trigger")).to_have_text(re.compile(r"\d"))

    # Disable: the policy sent back with only `enabled` changed, its secrets kept.
    row.get_by_role("button", name="Disable").click()
    expect(status).to_have_text(f"Webhook {name} disabled.")
    expect(row.locator("td.state")).to_have_text("Disabled")
    expect(row.get_by_role("button", name="Enable")).to_be_visible()
    (stored,) = policies_of(core, project)
    assert stored["enabled"] is False
    assert (stored["targets"][0]["auth_header"], stored["targets"][0]["signing_secret"]) == ("*****", "*****")

    # Edit: the dialog shows what is stored, the secrets as empty inputs that keep them when left so.
    row.get_by_role("button", name="Edit").click()
    expect(dialog.locator("h2")).to_have_text(f"Edit webhook {name}")
    expect(page.locator("#webhook-name")).to_have_value(name)
    expect(page.locator("#webhook-address")).to_have_value(hook)
    expect(page.locator("#webhook-description")).to_have_value("to the receiver")
    for secret in ("#webhook-auth-header", "#webhook-signing-secret"):
        expect(page.locator(secret)).to_have_value("")
        expect(page.locator(secret)).to_have_attribute("placeholder", "unchanged")
    expect(page.locator("#webhook-enabled")).not_to_be_checked()
    expect(dialog.get_by_label("PUSH_ARTIFACT")).to_be_checked()
    expect(dialog.get_by_label("PULL_ARTIFACT")).not_to_be_checked()
    # Test endpoint while editing: the stored secrets go with it, though the dialog never had them.
    before = len(receiver.received(path))
    page.click("#webhook-test")
    expect(page.locator("#webhook-test-status")).to_have_text("Endpoint tested successfully")
    probe = receiver.wait_for(before + 1, path)[-1]
    assert probe.headers["Authorization"] == AUTH and "X-Berth-Signature" in probe.headers
    page.fill("#webhook-description", "to the UI's receiver")
    # "Remove the stored value" clears the signing secret; the auth header, left empty, is kept.
    page.check("#webhook-signing-secret-remove")
    expect(page.locator("#webhook-signing-secret")).to_be_disabled()
    page.click("#webhook-dialog-save")
    expect(dialog).to_have_count(0)
    expect(status).to_have_text(f"Webhook {name} saved.")
    (stored,) = policies_of(core, project)
    assert (stored["description"], stored["enabled"]) == ("to the UI's receiver", False)
    assert (stored["targets"][0]["auth_header"], stored["targets"][0]["signing_secret"]) == ("*****", "")

    # Delete, after the confirmation: the table is empty and its executions are shown no more.
    confirm_next(page)
    row.get_by_role("button", name="Delete").click()
    expect(status).to_have_text(f"Webhook {name} deleted.")
    expect(page.locator("#webhooks tbody")).to_have_text("No webhooks.")
    expect(page.locator("#webhook-executions-hint")).to_be_visible()
    assert policies_of(core, project) == []


def test_a_maintainer_reads_the_webhooks_and_a_developer_is_not_offered_them(
    page: Page, core: Site, receiver: WebhookReceiver, allowlist: None, tolerated: list[str]
) -> None:
    tolerated.append("status of 403")  # the project page's probe of the Logs tab, which neither may read
    # Nothing the tab asks for is refused: what is offered is decided from the roles.
    refused: list[str] = []
    page.on("response", lambda r: refused.append(r.url) if "/webhook" in r.url and r.status >= 400 else None)
    project, project_id = new_project(core, unique("wh"))
    maintainer, developer = unique("maint"), unique("dev")
    for user, role in ((maintainer, MAINTAINER), (developer, DEVELOPER)):
        add_user(core, user)
        add_member(core, project, user, role)
    name = unique("hook")
    body = {
        "name": name,
        "event_types": ["PUSH_ARTIFACT", "DELETE_ARTIFACT"],
        "targets": [{"type": "http", "address": receiver.url(f"/{name}"), "auth_header": AUTH}],
    }
    with core.client(ADMIN) as admin:
        r = admin.post(f"/projects/{project}/webhook/policies", json=body)
        assert r.status_code == 201, r.text

    # The maintainer: the policy and its (no) executions, and nothing that changes them.
    log_in_as(page, core, maintainer, PW)
    open_webhooks(page, core, project_id)
    row = webhook_row(page, name)
    expect(row.locator("td.name")).to_have_text(name)
    expect(row.locator("td.events")).to_have_text("PUSH_ARTIFACT, DELETE_ARTIFACT")
    expect(row.locator("td.creator")).to_have_text("admin")
    expect(row.locator("td.actions button")).to_have_text(["Executions"])
    expect(page.locator("#new-webhook")).to_have_count(0)
    row.get_by_role("button", name="Executions").click()
    expect(page.locator("#webhook-executions tbody")).to_have_text("No executions yet.")
    page.click("header button.logout")
    expect(page.locator("form.login")).to_be_visible()

    # The developer: no Webhooks tab (the API would refuse the list).
    log_in_as(page, core, developer, PW)
    page.goto(f"{core.url}/harbor/projects/{project_id}")
    tabs = page.locator("#project-tabs")
    expect(tabs.get_by_role("link", name="Robot Accounts")).to_be_visible()
    expect(tabs.get_by_role("link", name="Webhooks")).to_have_count(0)
    with core.client((developer, PW)) as client:
        assert client.get(f"/projects/{project}/webhook/policies").status_code == 403
    assert refused == []
