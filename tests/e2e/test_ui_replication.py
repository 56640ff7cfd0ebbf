"""End-to-end: the Registries and Replications in a real headless Chromium against the whole stack
(see test_ui_browser.py), whose jobservice really replicates, to a real remote: Debian's CNCF Distribution with
an htpasswd user. The administrator adds the endpoint through its dialog (Test connection says a wrong
password's reason, then success; OK with the wrong password is refused with the reason), sees it healthy,
edits its description (the stored password kept); creates a push rule to it with a name filter, edits it,
clicks Replicate and follows the execution until it has succeeded, opens its tasks and a task's log; the image
is then on the Distribution; and deleting the endpoint the rule uses is refused with the API's 412 message.
A pull rule from a Harbor-type endpoint (the stack itself) is made with a label filter offered from the
endpoint's labels, a schedule, copy by chunk and single active replication, shown again by Edit as stored,
and its Replicate brings only the labelled artifact."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from tests.harness.distribution import DistributionProcess
from tests.harness.oci import push_image
from tests.harness.plugin import RegistryEndpoint
from tests.harness.stack import ADMIN_PASSWORD

from .test_replication import manifest_on
from .test_ui_admin import _patience, admin_nav, admin_page
from .test_ui_browser import Site, browser, core
from .test_ui_quotas_policy import ADMIN, new_project, unique
from .test_ui_repositories import page, tolerated

# The fixtures this module shares with the other UI tests.
__all__ = ["_patience", "admin_page", "browser", "core", "page", "tolerated"]

pytestmark = pytest.mark.e2e

USER, PASSWORD = "mirror-user", "Mirror-Pass-1"
# An execution runs as a jobservice job on a loaded 2-core CI machine: it gets this long to succeed.
REPLICATION_MS = 120_000
# What an endpoint supports is read from it when the rule dialog opens or its endpoint changes.
INFO_MS = 120_000
STARTED = re.compile(r"Execution (\d+) of .* started\.")


@pytest.fixture(scope="module")
def distribution(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DistributionProcess]:
    with DistributionProcess(tmp_path_factory.mktemp("distribution"), users={USER: PASSWORD}) as remote:
        yield remote


def open_admin_page(page: Page, name: str, path: str) -> None:
    admin_nav(page).get_by_role("link", name=name, exact=True).click()
    expect(page).to_have_url(re.compile(rf"{path}$"))
    expect(page.locator("h1")).to_have_text(name)


def registry_row(page: Page, name: str) -> Locator:
    return page.locator(f'#registries tbody tr[data-name="{name}"]')


def policy_row(page: Page, name: str) -> Locator:
    return page.locator(f'#policies tbody tr[data-name="{name}"]')


def test_admin_adds_an_endpoint_replicates_to_it_and_follows_the_execution(
    admin_page: Page,
    core: Site,
    distribution: DistributionProcess,
    registry_endpoint: RegistryEndpoint,
    tolerated: list[str],
) -> None:
    tolerated.extend(["400", "412"])  # the refused ping, create and delete, which the browser logs
    page = admin_page
    endpoint, rule = unique("dist"), unique("rule")

    # A new endpoint: a wrong password is refused with the remote's reason, by Test connection and by OK.
    open_admin_page(page, "Registries", "/harbor/registries")
    page.click("#new-registry")
    dialog = page.locator("#registry-dialog")
    expect(dialog.locator("h2")).to_have_text("New endpoint")
    expect(page.locator("#registry-type option")).to_have_text(["Docker Registry", "Harbor"])
    page.select_option("#registry-type", "docker-registry")
    dialog.get_by_label("Name", exact=True).fill(endpoint)
    dialog.get_by_label("Endpoint URL").fill(distribution.url)
    dialog.get_by_label("Access ID").fill(USER)
    dialog.get_by_label("Access Secret").fill("not-the-password")
    expect(page.locator("#registry-verify")).to_be_checked()
    tested = page.locator("#registry-test-status")
    page.click("#registry-test")
    expect(tested).to_have_attribute("role", "alert")
    expect(tested).to_contain_text("credentials")
    page.click("#registry-dialog-save")
    expect(page.locator("#registry-dialog-status")).to_contain_text("unhealthy")
    expect(dialog).to_be_visible()

    dialog.get_by_label("Access Secret").fill(PASSWORD)
    page.click("#registry-test")
    expect(tested).to_have_text("Connection tested successfully")
    page.click("#registry-dialog-save")
    expect(dialog).to_have_count(0)
    expect(page.locator("#registry-status")).to_have_text("Endpoint created.")
    row = registry_row(page, endpoint)
    expect(row.locator("td")).to_have_text(
        [endpoint, "Healthy", distribution.url, "Docker Registry", "Yes", "", re.compile(r"\d"), "EditDelete"]
    )
    with core.client(ADMIN) as admin:
        (stored,) = admin.get("/registries", params={"name": endpoint}).json()
    assert stored["credential"] == {"type": "basic", "access_key": USER, "access_secret": "*****"}
    registry_id = stored["id"]

    # Edit: the secret field starts empty, and left so it keeps the stored password.
    row.get_by_role("button", name="Edit").click()
    expect(dialog.locator("h2")).to_have_text(f"Edit endpoint {endpoint}")
    expect(page.locator("#registry-type")).to_be_disabled()
    expect(dialog.get_by_label("Access Secret")).to_have_value("")
    expect(dialog.get_by_label("Endpoint URL")).to_have_value(distribution.url)
    dialog.get_by_label("Description").fill("the CI mirror")
    page.click("#registry-test")
    expect(tested).to_have_text("Connection tested successfully")
    page.click("#registry-dialog-save")
    expect(page.locator("#registry-status")).to_have_text(f"Endpoint {endpoint} saved.")
    expect(row.locator("td.description")).to_have_text("the CI mirror")
    with core.client(ADMIN) as admin:
        assert admin.post("/registries/ping", json={"id": registry_id}).status_code == 200

    # What the rule's name filter takes (app) and leaves (other).
    project, _ = new_project(core)
    with registry_endpoint.client() as registry:
        _, digest = push_image(registry, f"{project}/app", "v1", layers=[b"replicated layer"])
        push_image(registry, f"{project}/other", "v1", layers=[b"left behind"])

    # A push rule to the endpoint, through the dialog.
    open_admin_page(page, "Replications", "/harbor/replications")
    page.click("#new-policy")
    policy_dialog = page.locator("#policy-dialog")
    expect(policy_dialog.locator("h2")).to_have_text("New replication rule")
    page.fill("#policy-name", rule)
    page.fill("#policy-description", "to the mirror")
    page.select_option("#policy-mode", "push")
    page.select_option("#policy-registry", str(registry_id))
    page.fill("#policy-filter-name", f"{project}/app")
    page.fill("#policy-dest-namespace", "mirror")
    expect(page.locator("#policy-copy-by-chunk")).to_be_hidden()  # a Distribution cannot copy by chunk
    expect(page.locator("#policy-cron")).to_be_hidden()
    page.select_option("#policy-trigger", "scheduled")
    expect(page.locator("#policy-cron")).to_be_visible()
    page.select_option("#policy-trigger", "manual")
    expect(page.locator("#policy-enabled")).to_be_checked()
    page.click("#policy-dialog-save")
    expect(policy_dialog).to_have_count(0)
    expect(page.locator("#policy-status")).to_have_text("Replication rule created.")
    row = policy_row(page, rule)
    expect(row.locator("td:not(.actions):not(:first-child)")).to_have_text(
        [rule, "Enabled", "Local", endpoint, "Manual", "to the mirror"]
    )
    with core.client(ADMIN) as admin:
        (policy,) = admin.get("/replication/policies", params={"name": rule}).json()
    assert policy["dest_registry"]["id"] == registry_id and policy["src_registry"]["id"] == 0
    assert policy["filters"] == [{"type": "name", "value": f"{project}/app", "decoration": "matches"}]
    assert (policy["dest_namespace"], policy["trigger"]["type"], policy["override"]) == ("mirror", "manual", True)

    # Edit: the dialog shows what is stored.
    row.get_by_role("button", name="Edit").click()
    expect(page.locator("#policy-filter-name")).to_have_value(f"{project}/app")
    expect(page.locator("#policy-registry")).to_have_value(str(registry_id))
    page.fill("#policy-description", "to the CI mirror")
    page.click("#policy-dialog-save")
    expect(page.locator("#policy-status")).to_have_text(f"Replication rule {rule} saved.")
    expect(row.locator("td.description")).to_have_text("to the CI mirror")

    # Replicate, and the execution is followed until it has succeeded.
    row.get_by_role("button", name="Replicate").click()
    status = page.locator("#policy-status")
    expect(status).to_have_text(STARTED)
    found = STARTED.fullmatch(status.inner_text())
    assert found is not None
    execution_id = int(found.group(1))
    expect(page.locator("#executions-title")).to_have_text(f"Executions of {rule}")
    execution = page.locator(f"#executions tbody tr[data-id='{execution_id}']")
    expect(execution.locator("td").nth(1)).to_have_text("Succeed", timeout=REPLICATION_MS)
    expect(execution.locator("td")).to_have_text(
        [str(execution_id), "Succeed", "Manual", re.compile(r"\d"), re.compile(r"\d+s"), "1/1", "Tasks", ""]
    )

    # Its one task, and the task's log.
    execution.get_by_role("button", name="Tasks").click()
    task = page.locator(f"#execution-tasks-{execution_id} tbody tr")
    expect(task).to_have_count(1)
    expect(task.locator("td.src")).to_have_text(f"{project}/app:[v1]")
    expect(task.locator("td.dst")).to_have_text("mirror/app:[v1]")
    expect(task.locator("td.job-status")).to_have_text("Succeed")
    task.get_by_role("button", name="Log").click()
    log_dialog = page.locator("#task-log-dialog")
    expect(log_dialog.locator("#task-log")).to_contain_text("done:")
    log_dialog.get_by_role("button", name="Close").click()
    expect(log_dialog).to_have_count(0)

    # The image is on the Distribution, by the same digest.
    with httpx.Client(base_url=distribution.url, auth=(USER, PASSWORD), timeout=30) as remote:
        r = manifest_on(remote, "mirror/app", "v1")
    assert r.status_code == 200, r.text
    assert r.headers["Docker-Content-Digest"] == digest

    # The rule uses the endpoint: its delete is refused with the API's words, and the endpoint stays.
    open_admin_page(page, "Registries", "/harbor/registries")
    page.once("dialog", lambda confirm: confirm.accept())
    registry_row(page, endpoint).get_by_role("button", name="Delete").click()
    refused = page.locator("#registry-status")
    expect(refused).to_have_attribute("role", "alert")
    expect(refused).to_have_text(
        f"Could not delete the endpoint {endpoint}: "
        f"the registry {registry_id} is referenced by replication policies, cannot delete it"
    )
    expect(registry_row(page, endpoint)).to_have_count(1)


def test_a_pull_rule_from_a_harbor_endpoint_filters_by_label_on_a_schedule(
    admin_page: Page, core: Site, registry_endpoint: RegistryEndpoint
) -> None:
    page = admin_page
    endpoint, rule, label = unique("self"), unique("pull"), unique("released")
    project, _ = new_project(core)
    with registry_endpoint.client() as registry:
        _, wanted = push_image(registry, f"{project}/tool", "v1", layers=[b"labelled layer"])
        push_image(registry, f"{project}/tool", "v2", layers=[b"unlabelled layer"])
    with core.client(ADMIN) as admin:
        r = admin.post("/labels", json={"name": label, "scope": "g"})
        assert r.status_code == 201, r.text
        label_id = int(r.headers["Location"].rsplit("/", 1)[1])
        r = admin.post(f"/projects/{project}/repositories/tool/artifacts/{wanted}/labels", json={"id": label_id})
        assert r.status_code == 200, r.text
        r = admin.post(
            "/registries",
            json={
                "name": endpoint,
                "type": "harbor",
                "url": core.url,
                "credential": {"type": "basic", "access_key": "admin", "access_secret": ADMIN_PASSWORD},
            },
        )
        assert r.status_code == 201, r.text
        registry_id = int(r.headers["Location"].rsplit("/", 1)[1])

    # Pull mode from the Harbor endpoint: its labels are offered, and both sides copy by chunk.
    open_admin_page(page, "Replications", "/harbor/replications")
    page.click("#new-policy")
    page.fill("#policy-name", rule)
    page.select_option("#policy-mode", "pull")
    page.select_option("#policy-registry", str(registry_id))
    labels = page.locator("#policy-filter-labels")
    offered = labels.get_by_label(label, exact=True)
    # The dialog asks the endpoint (a login and a label list on the remote's API): slow on a loaded machine.
    expect(offered).to_be_visible(timeout=INFO_MS)
    offered.check()
    page.select_option("#policy-filter-label-decoration", "matches")
    page.fill("#policy-filter-name", f"{project}/**")
    page.fill("#policy-dest-namespace", f"{project}-copy")
    page.select_option("#policy-replace-count", "1")
    page.select_option("#policy-trigger", "scheduled")
    page.fill("#policy-cron", "0 0 3 * * *")
    expect(page.locator("#policy-copy-by-chunk")).to_be_visible()
    page.check("#policy-copy-by-chunk")
    page.check("#policy-single-active")
    page.click("#policy-dialog-save")
    expect(page.locator("#policy-status")).to_have_text("Replication rule created.")
    row = policy_row(page, rule)
    expect(row.locator("td:not(.actions):not(:first-child)")).to_have_text(
        [rule, "Enabled", endpoint, "Local", "Scheduled (0 0 3 * * *)", ""]
    )
    with core.client(ADMIN) as admin:
        (policy,) = admin.get("/replication/policies", params={"name": rule}).json()
        schedules = admin.get("/schedules", params={"page_size": 100}).json()
    assert ("REPLICATION", policy["id"], "0 0 3 * * *") in [
        (s["vendor_type"], s["vendor_id"], s["cron"]) for s in schedules
    ]
    assert policy["src_registry"]["id"] == registry_id and policy["dest_registry"]["id"] == 0
    assert {"type": "label", "value": [label], "decoration": "matches"} in policy["filters"]
    assert policy["trigger"] == {"type": "scheduled", "trigger_settings": {"cron": "0 0 3 * * *"}}
    assert (policy["copy_by_chunk"], policy["single_active_replication"]) == (True, True)

    # Edit shows it as stored, the label checked.
    row.get_by_role("button", name="Edit").click()
    expect(page.locator("#policy-mode")).to_have_value("pull")
    expect(page.locator("#policy-cron")).to_have_value("0 0 3 * * *")
    expect(labels.get_by_label(label, exact=True)).to_be_checked(timeout=INFO_MS)
    expect(page.locator("#policy-copy-by-chunk")).to_be_checked()
    expect(page.locator("#policy-single-active")).to_be_checked()
    page.locator("#policy-dialog").get_by_role("button", name="Cancel").click()

    # Replicate now: only the labelled artifact comes over.
    row.get_by_role("button", name="Replicate").click()
    status = page.locator("#policy-status")
    expect(status).to_have_text(STARTED)
    found = STARTED.fullmatch(status.inner_text())
    assert found is not None
    execution = page.locator(f"#executions tbody tr[data-id='{found.group(1)}']")
    expect(execution.locator("td").nth(1)).to_have_text("Succeed", timeout=REPLICATION_MS)
    expect(execution.locator("td").nth(5)).to_have_text("1/1")
    with registry_endpoint.client() as registry:
        assert manifest_on(registry, f"{project}-copy/tool", "v1").headers["Docker-Content-Digest"] == wanted
        assert manifest_on(registry, f"{project}-copy/tool", "v2").status_code == 404


def test_admin_creates_a_proxy_cache_project_of_an_endpoint_and_sees_it_marked(
    admin_page: Page, core: Site, distribution: DistributionProcess
) -> None:
    page = admin_page
    endpoint = unique("cache-ep")
    with core.client(ADMIN) as admin:
        r = admin.post(
            "/registries",
            json={
                "name": endpoint,
                "url": distribution.url,
                "type": "docker-registry",
                "credential": {"type": "basic", "access_key": USER, "access_secret": PASSWORD},
            },
        )
        assert r.status_code == 201, r.text
        registry_id = int(r.headers["Location"].rsplit("/", 1)[1])
    name = unique("cache")
    page.goto(f"{core.url}/harbor/projects")
    page.fill("#new-project-name", name)
    expect(page.locator("#new-project-registry")).to_be_disabled()
    page.check("#new-project-proxy")
    page.select_option("#new-project-registry", str(registry_id))
    page.click("#new-project button[type=submit]")
    row = page.locator(f'#projects tbody tr[data-name="{name}"]')
    expect(row.locator(".proxy-cache")).to_have_text("Proxy cache")
    with core.client(ADMIN) as admin:
        assert admin.get(f"/projects/{name}").json()["registry_id"] == registry_id
    row.get_by_role("link", name=name).click()
    expect(page.locator("#project-proxy-cache")).to_have_text(f"Proxy cache of {endpoint} ({distribution.url}).")
