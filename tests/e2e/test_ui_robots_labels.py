"""End-to-end: robot accounts, labels and pull commands in a real headless Chromium against the whole stack (see
test_ui_browser.py). A project robot and a system robot are created through their pages; the secret, shown once
in a dialog and copied to the clipboard, really authenticates (a push through the registry, the token service,
the REST API), and after a refresh from the page only the new one does; disabling, enabling and deleting work.
Labels are created, refused as duplicates with the API's message, changed and deleted, globally by the
administrator and in a project by a maintainer. Each artifact's and tag's copied pull command is Harbor's for
what was pushed (docker by digest and tag, helm by version for a chart). A user who is no administrator has none
of the Administration pages, and a developer sees the project's robots without managing them."""

from __future__ import annotations

import base64
import json
import re
import uuid
from typing import Any

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from tests.harness.oci import push_image
from tests.harness.plugin import RegistryEndpoint
from tests.harness.registry_auth import RegistryTokenAuth
from tests.harness.waiting import eventually

from .test_ui_browser import PW, Site, add_user, browser, core, log_in
from .test_ui_repositories import page, tolerated

__all__ = ["browser", "core", "page", "tolerated"]  # the fixtures this module shares with the other UI tests

pytestmark = pytest.mark.e2e

ADMIN = ("admin", "Harbor12345")
# A loaded 2-core CI machine: every expectation of something asynchronous gets this long.
TIMEOUT_MS = 30_000
SERVICE = "berth-registry"
HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
MAINTAINER, DEVELOPER = 4, 2


@pytest.fixture(autouse=True)
def _patience() -> None:
    expect.set_options(timeout=TIMEOUT_MS)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def new_project(core: Site, name: str | None = None) -> tuple[str, int]:
    name = name or unique("rl")
    with core.client(ADMIN) as admin:
        r = admin.post("/projects", json={"project_name": name, "metadata": {"public": "false"}})
        assert r.status_code == 201, r.text
        return name, admin.get(f"/projects/{name}").json()["project_id"]


def add_member(core: Site, project: str, name: str, role_id: int) -> None:
    with core.client(ADMIN) as admin:
        r = admin.post(f"/projects/{project}/members", json={"role_id": role_id, "member_user": {"username": name}})
        assert r.status_code == 201, r.text


def log_in_as(page: Page, core: Site, name: str, password: str) -> None:
    log_in(page, core, name, password)
    expect(page.locator("header .username")).to_have_text(name)
    # The clipboard of this page's context is the test's to read (127.0.0.1 is a secure context).
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=core.url)


def clipboard(page: Page) -> str:
    text = page.evaluate("navigator.clipboard.readText()")
    assert isinstance(text, str)
    return text


def token(core: Site, credentials: tuple[str, str], scope: str) -> httpx.Response:
    return httpx.get(
        f"{core.url}/service/token", params={"service": SERVICE, "scope": scope}, auth=credentials, timeout=30
    )


def granted(core: Site, credentials: tuple[str, str], scope: str) -> list[str]:
    """The actions the token service grants these credentials on `scope` (a 200 is required)."""
    r = token(core, credentials, scope)
    assert r.status_code == 200, r.text
    payload = r.json()["token"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return [action for entry in claims["access"] for action in entry["actions"]]


def refused(core: Site, credentials: tuple[str, str], scope: str) -> bool:
    return token(core, credentials, scope).status_code == 401


def robot_client(registry: RegistryEndpoint, credentials: tuple[str, str]) -> httpx.Client:
    auth = RegistryTokenAuth(registry.token_url, SERVICE, credentials)
    return httpx.Client(base_url=registry.url, timeout=60, auth=auth)


def robots_of(core: Site, q: str) -> list[dict[str, Any]]:
    with core.client(ADMIN) as admin:
        r = admin.get("/robots", params={"q": q, "page_size": 100})
        assert r.status_code == 200, r.text
        robots: list[dict[str, Any]] = r.json()
        return robots


def read_secret_dialog(page: Page, name: str) -> str:
    """The secret the dialog shows for robot `name`, copied with its button, checked against the clipboard;
    the dialog closed, the secret is nowhere in the page any more."""
    dialog = page.locator("#robot-secret-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#robot-secret-name")).to_have_value(name)
    secret = dialog.locator("#robot-secret").input_value()
    assert len(secret) >= 8, secret
    dialog.get_by_role("button", name="Copy secret").click()
    expect(dialog.locator("#robot-secret-copied")).to_have_text("Secret copied.")
    assert clipboard(page) == secret
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_have_count(0)
    assert secret not in page.content()
    return secret


def robot_row(page: Page, name: str) -> Locator:
    return page.locator(f'#robots tbody tr[data-name="{name}"]')


def confirm_next(page: Page) -> None:
    page.once("dialog", lambda dialog: dialog.accept())


def test_a_project_robot_created_on_its_page_pushes_and_a_refresh_revokes_its_old_secret(
    page: Page, core: Site, registry_endpoint: RegistryEndpoint, tolerated: list[str]
) -> None:
    tolerated.append("400")  # the refused create's answer, which the browser logs
    project, project_id = new_project(core)
    full = f"robot${project}+ci"
    log_in_as(page, core, "admin", "Harbor12345")
    page.goto(f"{core.url}/harbor/projects/{project_id}")
    page.locator("#project-tabs").get_by_role("link", name="Robot Accounts").click()
    expect(page).to_have_url(re.compile(rf"/harbor/projects/{project_id}/robot-account$"))
    expect(page.locator("#robots tbody")).to_have_text("No robot accounts.")

    # A name the API refuses: its message, and nothing created.
    page.get_by_role("button", name="New robot account").click()
    expect(page.get_by_label("pull repository")).to_be_checked()
    page.fill("#robot-name", "Not Valid")
    page.get_by_role("button", name="Create").click()
    expect(page.locator("#robot-status")).to_contain_text("Could not create the robot account: name must be")
    assert robots_of(core, f"Level=project,ProjectID={project_id}") == []

    page.fill("#robot-name", "ci")
    page.fill("#robot-description", "pushes the builds")
    page.fill("#robot-duration", "7")
    for permission in ["push repository", "read artifact", "list artifact", "delete artifact", "create tag"]:
        page.get_by_label(permission, exact=True).check()
    page.get_by_role("button", name="Create").click()
    secret = read_secret_dialog(page, full)
    expect(page.locator("#robot-status")).to_have_text(f"Robot account {full} created.")

    row = robot_row(page, full)
    expect(row.locator("td.state")).to_have_text("Enabled")
    expect(row.locator("td.description")).to_have_text("pushes the builds")
    expect(row.locator("td.expires")).not_to_have_text("Never")
    expect(row).to_contain_text("6 permissions")
    (robot,) = robots_of(core, f"Level=project,ProjectID={project_id}")
    assert robot["name"] == full and robot["duration"] == 7 and robot["disable"] is False
    assert [(p["kind"], p["namespace"]) for p in robot["permissions"]] == [("project", project)]
    assert {(a["resource"], a["action"]) for a in robot["permissions"][0]["access"]} == {
        ("repository", "pull"),
        ("repository", "push"),
        ("artifact", "read"),
        ("artifact", "list"),
        ("artifact", "delete"),
        ("tag", "create"),
    }

    # The secret works: the robot pushes an image into its project.
    with robot_client(registry_endpoint, (full, secret)) as registry:
        push_image(registry, f"{project}/built", "v1")
    assert sorted(granted(core, (full, secret), f"repository:{project}/built:pull,push")) == ["pull", "push"]

    # A new secret from the page: shown once too; the old one stops working, the new one works.
    confirm_next(page)
    row.get_by_role("button", name="Refresh secret").click()
    fresh = read_secret_dialog(page, full)
    assert fresh != secret
    expect(page.locator("#robot-status")).to_have_text(f"{full} has a new secret.")
    eventually(lambda: refused(core, (full, secret), f"repository:{project}/built:pull"), "the old secret refused")
    with robot_client(registry_endpoint, (full, fresh)) as registry:
        push_image(registry, f"{project}/built", "v2")

    # Disabled, it cannot log in; enabled again, it can.
    row.get_by_role("button", name="Disable").click()
    expect(row.locator("td.state")).to_have_text("Disabled")
    expect(page.locator("#robot-status")).to_have_text(f"{full} disabled.")
    eventually(lambda: refused(core, (full, fresh), f"repository:{project}/built:pull"), "a disabled robot refused")
    row.get_by_role("button", name="Enable").click()
    expect(row.locator("td.state")).to_have_text("Enabled")
    eventually(lambda: granted(core, (full, fresh), f"repository:{project}/built:pull"), "the enabled robot pulls")

    confirm_next(page)
    row.get_by_role("button", name="Delete").click()
    expect(page.locator("#robot-status")).to_have_text(f"{full} deleted.")
    expect(row).to_have_count(0)
    assert robots_of(core, f"Level=project,ProjectID={project_id}") == []
    eventually(lambda: refused(core, (full, fresh), f"repository:{project}/built:pull"), "a deleted robot refused")


def test_a_system_robot_gets_system_and_chosen_project_permissions_and_a_refresh_revokes_its_old_secret(
    page: Page, core: Site
) -> None:
    chosen, _ = new_project(core)
    other, _ = new_project(core)
    name = unique("sys")
    full = f"robot${name}"
    log_in_as(page, core, "admin", "Harbor12345")
    page.get_by_role("group", name="Administration").get_by_role("link", name="Robot Accounts").click()
    expect(page).to_have_url(re.compile(r"/harbor/robot-accounts$"))
    expect(page.locator("h1")).to_have_text("Robot Accounts")

    page.get_by_role("button", name="New robot account").click()
    page.fill("#robot-name", name)
    page.fill("#robot-description", "reads the configuration")
    page.get_by_label("Never expires").check()
    expect(page.locator("#robot-duration")).to_be_disabled()
    page.get_by_label("read configuration", exact=True).check()
    # Project permissions for one chosen project, not all of them.
    page.get_by_label("Cover all projects").uncheck()
    page.fill("#robot-project-filter", chosen)
    page.get_by_label(f"project {chosen}", exact=True).check()
    expect(page.locator("#robot-projects-chosen")).to_have_text(f"Chosen: {chosen}")
    expect(page.locator("#perms-project").get_by_label("pull repository")).to_be_checked()
    page.get_by_role("button", name="Create").click()
    secret = read_secret_dialog(page, full)

    row = robot_row(page, full)
    expect(row.locator("td.expires")).to_have_text("Never")
    expect(row).to_contain_text(f"1 system permissions; projects: {chosen}")
    (robot,) = [r for r in robots_of(core, "Level=system") if r["name"] == full]
    assert robot["expires_at"] == -1
    assert sorted((p["kind"], p["namespace"], [a["action"] for a in p["access"]]) for p in robot["permissions"]) == [
        ("project", chosen, ["pull"]),
        ("system", "/", ["read"]),
    ]

    # The secret works, for what was given: the configuration, pulls from the chosen project only.
    with httpx.Client(base_url=core.url + "/api/v2.0", auth=(full, secret), timeout=30) as api:
        assert api.get("/configurations").status_code == 200
        assert api.put("/configurations", json={"banner_message": "no"}).status_code == 403
    assert granted(core, (full, secret), f"repository:{chosen}/x:pull") == ["pull"]
    assert granted(core, (full, secret), f"repository:{other}/x:pull") == []

    confirm_next(page)
    row.get_by_role("button", name="Refresh secret").click()
    fresh = read_secret_dialog(page, full)
    assert fresh != secret

    def configuration_answers(secret: str) -> int:
        with httpx.Client(base_url=core.url + "/api/v2.0", auth=(full, secret), timeout=30) as api:
            return api.get("/configurations").status_code

    eventually(lambda: configuration_answers(secret) == 401, "the old secret refused by the API")
    eventually(lambda: refused(core, (full, secret), f"repository:{chosen}/x:pull"), "the old secret refused")
    assert configuration_answers(fresh) == 200
    assert granted(core, (full, fresh), f"repository:{chosen}/x:pull") == ["pull"]

    confirm_next(page)
    row.get_by_role("button", name="Delete").click()
    expect(row).to_have_count(0)
    assert [r for r in robots_of(core, "Level=system") if r["name"] == full] == []


def labels_named(core: Site, params: dict[str, Any], name: str) -> list[dict[str, Any]]:
    with core.client(ADMIN) as admin:
        r = admin.get("/labels", params={**params, "name": name, "page_size": 100})
        assert r.status_code == 200, r.text
        return [label for label in r.json() if label["name"] == name]


def label_row(page: Page, name: str) -> Locator:
    return page.locator(f'#labels tbody tr[data-name="{name}"]')


def create_edit_and_delete_labels(page: Page, core: Site, params: dict[str, Any]) -> None:
    """On the labels page shown (global or a project's): the whole life of one label, checked in the API."""
    name, renamed = unique("lbl"), unique("lbl")
    status = page.locator("#label-status")
    page.fill("#label-name", name)
    page.fill("#label-color", "#ff0000")
    page.fill("#label-description", "<b>needs review</b>")
    page.get_by_role("button", name="Create").click()
    expect(status).to_have_text(f"Label {name} created.")
    row = label_row(page, name)
    expect(row.locator("td.description")).to_have_text("<b>needs review</b>")
    expect(row.locator(".label-chip")).to_have_css("background-color", "rgb(255, 0, 0)")
    (label,) = labels_named(core, params, name)
    assert (label["color"], label["description"], label["scope"]) == ("#ff0000", "<b>needs review</b>", params["scope"])

    # The same name again: the API's refusal, in its words; still one label.
    page.fill("#label-name", name)
    page.get_by_role("button", name="Create").click()
    expect(status).to_have_attribute("role", "alert")
    expect(status).to_have_text(f"Could not create the label: a label named '{name}' already exists in this scope")
    expect(page.locator("#label-name")).to_have_value(name)
    assert len(labels_named(core, params, name)) == 1

    row.get_by_role("button", name="Edit").click()
    expect(page.locator("#label-form h2")).to_have_text(f"Edit label {name}")
    expect(page.locator("#label-color")).to_have_value("#ff0000")
    expect(page.locator("#label-description")).to_have_value("<b>needs review</b>")
    page.fill("#label-name", renamed)
    page.fill("#label-color", "#00aa00")
    page.fill("#label-description", "reviewed")
    page.get_by_role("button", name="Save").click()
    expect(status).to_have_text(f"Label {renamed} saved.")
    expect(row).to_have_count(0)
    expect(label_row(page, renamed).locator("td.description")).to_have_text("reviewed")
    expect(page.locator("#label-form h2")).to_have_text("New label")
    assert labels_named(core, params, name) == []
    (changed,) = labels_named(core, params, renamed)
    assert (changed["id"], changed["color"], changed["description"]) == (label["id"], "#00aa00", "reviewed")

    confirm_next(page)
    label_row(page, renamed).get_by_role("button", name="Delete").click()
    expect(status).to_have_text(f"Label {renamed} deleted.")
    expect(label_row(page, renamed)).to_have_count(0)
    assert labels_named(core, params, renamed) == []


def test_the_administrator_creates_edits_and_deletes_global_labels(
    page: Page, core: Site, tolerated: list[str]
) -> None:
    tolerated.append("409")  # the refused duplicate's answer, which the browser logs
    log_in_as(page, core, "admin", "Harbor12345")
    page.get_by_role("group", name="Administration").get_by_role("link", name="Labels").click()
    expect(page).to_have_url(re.compile(r"/harbor/labels$"))
    expect(page.locator("h1")).to_have_text("Labels")
    create_edit_and_delete_labels(page, core, {"scope": "g"})


def test_a_maintainer_creates_edits_and_deletes_the_projects_labels(
    page: Page, core: Site, tolerated: list[str]
) -> None:
    # The refused duplicate; and the project page's probe of the Logs tab, which a maintainer may not read.
    tolerated.extend(["409", "status of 403"])
    project, project_id = new_project(core)
    name = unique("mnt")
    add_user(core, name)
    add_member(core, project, name, MAINTAINER)
    log_in_as(page, core, name, PW)
    page.goto(f"{core.url}/harbor/projects/{project_id}")
    page.locator("#project-tabs").get_by_role("link", name="Labels").click()
    expect(page).to_have_url(re.compile(rf"/harbor/projects/{project_id}/labels$"))
    create_edit_and_delete_labels(page, core, {"scope": "p", "project_id": project_id})


def test_the_copied_pull_commands_are_harbors_for_images_tags_and_charts(
    page: Page, core: Site, registry_endpoint: RegistryEndpoint
) -> None:
    project, project_id = new_project(core)
    chart_config = json.dumps({"name": "demo", "version": "0.1.0", "apiVersion": "v2"}).encode()
    with registry_endpoint.client() as registry:
        _, image = push_image(registry, f"{project}/apps/web", "v1")
        _, chart = push_image(
            registry, f"{project}/charts/demo", "0.1.0", config=chart_config, config_media_type=HELM_CONFIG
        )
    host = core.url.removeprefix("http://")
    with core.client(ADMIN) as admin:
        # The UI names the registry as systeminfo does, which here is the address the browser uses.
        assert admin.get("/systeminfo").json()["registry_url"] == host

    log_in_as(page, core, "admin", "Harbor12345")
    page.goto(f"{core.url}/harbor/projects/{project_id}/repositories/apps/web")
    row = page.locator(f'#artifacts tr[data-digest="{image}"]')
    by_digest = f"docker pull {host}/{project}/apps/web@{image}"
    row.get_by_role("button", name=f"Copy the pull command of {image[:19]}").click()
    expect(page.get_by_role("status")).to_have_text(f"Copied: {by_digest}")
    assert clipboard(page) == by_digest
    row.get_by_role("button", name="Copy the pull command of tag v1").click()
    expect(page.get_by_role("status")).to_have_text(f"Copied: docker pull {host}/{project}/apps/web:v1")
    assert clipboard(page) == f"docker pull {host}/{project}/apps/web:v1"

    # A chart is pulled by its version, with helm.
    page.goto(f"{core.url}/harbor/projects/{project_id}/repositories/charts/demo")
    row = page.locator(f'#artifacts tr[data-digest="{chart}"]')
    expect(row).to_contain_text("CHART")
    helm = f"helm pull oci://{host}/{project}/charts/demo --version 0.1.0"
    row.get_by_role("button", name="Copy the pull command of tag 0.1.0").click()
    expect(page.get_by_role("status")).to_have_text(f"Copied: {helm}")
    assert clipboard(page) == helm
    expect(row.get_by_role("button", name=f"Copy the pull command of {chart[:19]}")).to_have_attribute(
        "data-command", helm
    )


def test_a_user_who_is_not_an_administrator_has_no_robot_or_label_administration(
    page: Page, core: Site, tolerated: list[str]
) -> None:
    tolerated.append("status of 403")  # the project page's probe of the Logs tab, which a developer may not read
    project, project_id = new_project(core)
    name = unique("dev")
    add_user(core, name)
    add_member(core, project, name, DEVELOPER)
    with core.client(ADMIN) as admin:
        robot = {
            "name": "reader",
            "level": "project",
            "duration": -1,
            "permissions": [
                {"kind": "project", "namespace": project, "access": [{"resource": "repository", "action": "pull"}]}
            ],
        }
        assert admin.post("/robots", json=robot).status_code == 201, "the robot the developer sees"

    log_in_as(page, core, name, PW)
    expect(page.locator("#projects")).to_contain_text(project)
    expect(page.get_by_role("group", name="Administration")).to_have_count(0)
    for path in ("/harbor/robot-accounts", "/harbor/labels"):
        page.goto(core.url + path)
        expect(page).to_have_url(re.compile(r"/harbor/projects$"))
        expect(page.locator("#projects")).to_contain_text(project)
    expect(page.locator("#robots, #labels")).to_have_count(0)

    # In the project a developer lists its robots but manages none, and has no Labels tab.
    page.goto(f"{core.url}/harbor/projects/{project_id}")
    tabs = page.locator("#project-tabs")
    expect(tabs.get_by_role("link", name="Repositories")).to_be_visible()
    expect(tabs.get_by_role("link", name="Labels")).to_have_count(0)
    tabs.get_by_role("link", name="Robot Accounts").click()
    row = robot_row(page, f"robot${project}+reader")
    expect(row.locator("td.state")).to_have_text("Enabled")
    expect(row.locator("td.expires")).to_have_text("Never")
    expect(row.get_by_role("button")).to_have_count(0)
    expect(page.get_by_role("button", name="New robot account")).to_have_count(0)
