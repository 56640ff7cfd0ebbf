"""End-to-end: Helm charts with the real `helm` v4 CLI through the whole stack's proxy, as Harbor's users
push them: `helm registry login`, `helm push chart.tgz oci://<host>/<project>`, `helm pull`, `helm show
values` and `helm show chart`; the artifact is a CHART in the REST API; a guest pulls but may not push."""

from __future__ import annotations

import base64
import hashlib
import tarfile
from pathlib import Path

import httpx
import pytest

from tests.harness.helm import Helm
from tests.harness.plugin import RegistryEndpoint
from tests.harness.token import add_member, add_project, add_user

pytestmark = pytest.mark.e2e
PROJECT = "charts"
PW = "Helm-Passw0rd"
VALUES = "replicaCount: 3\nimage:\n  repository: nginx\n"


@pytest.fixture(scope="module")
def accounts(registry_endpoint: RegistryEndpoint) -> None:
    add_project(registry_endpoint.database, PROJECT)
    for user, role in (("helmdev", 2), ("helmguest", 3)):
        add_user(registry_endpoint.database, user, PW)
        add_member(registry_endpoint.database, PROJECT, user, role)


def helm_as(tmp_path: Path, name: str, endpoint: RegistryEndpoint, user: str, password: str) -> Helm:
    helm = Helm(tmp_path / name)
    out = helm.ok(
        "registry", "login", endpoint.host, "--plain-http", "--username", user, "--password-stdin", input=password
    )
    assert "Login Succeeded" in out
    return helm


def make_chart(helm: Helm, workdir: Path, name: str, version: str) -> Path:
    helm.ok("create", name, cwd=workdir)
    chart = workdir / name
    (chart / "values.yaml").write_text(VALUES)
    (chart / "README.md").write_text(f"# {name}\n\nA chart for the tests.\n")
    text = (chart / "Chart.yaml").read_text().replace("version: 0.1.0", f"version: {version}")
    (chart / "Chart.yaml").write_text(text)
    helm.ok("package", name, cwd=workdir)
    return workdir / f"{name}-{version}.tgz"


def test_push_pull_and_show_a_chart(accounts: None, registry_endpoint: RegistryEndpoint, tmp_path: Path) -> None:
    dev = helm_as(tmp_path, "dev", registry_endpoint, "helmdev", PW)
    package = make_chart(dev, tmp_path, "webapp", "1.2.3")
    out = dev.ok("push", str(package), f"oci://{registry_endpoint.host}/{PROJECT}", "--plain-http")
    assert f"{registry_endpoint.host}/{PROJECT}/webapp:1.2.3" in out

    guest = helm_as(tmp_path, "guest", registry_endpoint, "helmguest", PW)
    ref = f"oci://{registry_endpoint.host}/{PROJECT}/webapp"
    pulled = tmp_path / "pulled"
    pulled.mkdir()
    guest.ok("pull", ref, "--version", "1.2.3", "--plain-http", "--destination", str(pulled))
    assert (pulled / "webapp-1.2.3.tgz").read_bytes() == package.read_bytes()
    with tarfile.open(pulled / "webapp-1.2.3.tgz") as tar:
        member = tar.extractfile("webapp/values.yaml")
        assert member is not None and member.read().decode() == VALUES
    assert guest.ok("show", "values", ref, "--version", "1.2.3", "--plain-http").startswith(VALUES.rstrip())
    assert "version: 1.2.3" in guest.ok("show", "chart", ref, "--version", "1.2.3", "--plain-http")

    # The REST API knows it for a chart.
    api = httpx.Client(base_url=f"{registry_endpoint.url}/api/v2.0", auth=("helmdev", PW), timeout=30)
    with api:
        artifact = api.get(f"/projects/{PROJECT}/repositories/webapp/artifacts/1.2.3")
        assert artifact.status_code == 200, artifact.text
        assert artifact.json()["type"] == "CHART"
        assert [t["name"] for t in artifact.json()["tags"]] == ["1.2.3"]
        # Its README, values and dependencies, read from the chart the real helm packaged.
        links = artifact.json()["addition_links"]
        values = api.get(links["values.yaml"]["href"].removeprefix("/api/v2.0"))
        assert values.status_code == 200 and values.text == VALUES
        readme = api.get(links["readme.md"]["href"].removeprefix("/api/v2.0"))
        assert readme.status_code == 200 and readme.text.startswith("# webapp")
        assert readme.headers["Content-Type"].startswith("text/markdown")
        assert api.get(links["dependencies"]["href"].removeprefix("/api/v2.0")).json() == []

    # A guest may not push.
    other = make_chart(guest, tmp_path / "guest", "guestapp", "0.0.1")
    refused = guest("push", str(other), f"oci://{registry_endpoint.host}/{PROJECT}", "--plain-http")
    assert refused.returncode != 0
    assert "denied" in (refused.stderr + refused.stdout).lower() or "unauthorized" in refused.stderr.lower()


# The smallest valid PNG (a 1x1 transparent pixel).
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>'


def set_icon(chart: Path, icon: str) -> None:
    text = (chart / "Chart.yaml").read_text()
    (chart / "Chart.yaml").write_text(f"{text.rstrip()}\nicon: {icon}\n")


def test_chart_icons_come_from_the_chart_never_from_a_url(
    accounts: None, registry_endpoint: RegistryEndpoint, tmp_path: Path
) -> None:
    dev = helm_as(tmp_path, "dev", registry_endpoint, "helmdev", PW)
    charts = {
        # A file of the chart, named relatively; a data: URL; an http URL Berth does not fetch.
        "iconfile": ("icon.png", "image/png", PNG),
        "icondata": ("data:image/svg+xml;base64," + base64.b64encode(SVG).decode(), "image/svg+xml", SVG),
        "iconurl": ("http://127.0.0.1:1/icon.png", None, None),
    }
    for name, (icon, _, _) in charts.items():
        dev.ok("create", name, cwd=tmp_path)
        (tmp_path / name / "icon.png").write_bytes(PNG)
        set_icon(tmp_path / name, icon)
        dev.ok("package", name, cwd=tmp_path)
        dev.ok("push", str(tmp_path / f"{name}-0.1.0.tgz"), f"oci://{registry_endpoint.host}/{PROJECT}", "--plain-http")
    api = httpx.Client(base_url=f"{registry_endpoint.url}/api/v2.0", auth=("helmdev", PW), timeout=30)
    with api, httpx.Client(base_url=f"{registry_endpoint.url}/api/v2.0", timeout=30) as anonymous:
        for name, (_, content_type, content) in charts.items():
            artifact = api.get(f"/projects/{PROJECT}/repositories/{name}/artifacts/0.1.0").json()
            if content is None:
                assert artifact["icon"] == ""
                continue
            assert artifact["icon"] == "sha256:" + hashlib.sha256(content).hexdigest()
            # Harbor's Icon, to anyone who knows the digest (the UI shows it before any login).
            icon = anonymous.get(f"/icons/{artifact['icon']}")
            assert icon.status_code == 200, icon.text
            assert icon.json() == {"content-type": content_type, "content": base64.b64encode(content).decode()}
        missing = anonymous.get("/icons/sha256:" + "0" * 64)
        assert missing.status_code == 404 and missing.json()["errors"][0]["code"] == "NOT_FOUND"
        assert anonymous.get("/icons/not-a-digest").status_code == 400
