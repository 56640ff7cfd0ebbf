"""skopeo through the token flow as each kind of account: admin, developer, guest, robot, anonymous."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.harness.plugin import RegistryProcess, TestDatabase
from tests.harness.token import add_member, add_project, add_robot, add_user

from . import ocilayout

pytestmark = pytest.mark.e2e
PROJECT = "team"


@pytest.fixture(scope="module")
def accounts(registry_server: RegistryProcess, module_database: TestDatabase) -> dict[str, str]:
    add_project(module_database, PROJECT)
    for user, role in (("dev", 2), ("visitor", 3)):
        add_user(module_database, user, "Passw0rd-1")
        add_member(module_database, PROJECT, user, role)
    add_robot(
        module_database,
        "ci",
        "robot-secret-1",
        project=PROJECT,
        access=[("repository", "pull"), ("repository", "push")],
    )
    return {
        "admin": "admin:Harbor12345",
        "developer": "dev:Passw0rd-1",
        "guest": "visitor:Passw0rd-1",
        "robot": f"robot${PROJECT}+ci:robot-secret-1",
    }


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> ocilayout.Layout:
    return ocilayout.write_image(tmp_path_factory.mktemp("roles") / "src", "v1", seed="roles")


def skopeo(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
    binary = shutil.which("skopeo") or pytest.fail("skopeo is not installed: apt-get install -y skopeo")
    return subprocess.run([binary, "--policy", str(policy), *args], capture_output=True, text=True, timeout=180)


def push(
    tmp_path: Path, layout: ocilayout.Layout, server: RegistryProcess, repo: str, creds: str
) -> subprocess.CompletedProcess[str]:
    dest = f"docker://127.0.0.1:{server.port}/{repo}:v1"
    return skopeo(tmp_path, "copy", "--dest-tls-verify=false", f"--dest-creds={creds}", layout.ref(), dest)


def inspect(tmp_path: Path, server: RegistryProcess, repo: str, creds: str | None) -> subprocess.CompletedProcess[str]:
    auth = [f"--creds={creds}"] if creds else ["--no-creds"]
    return skopeo(tmp_path, "inspect", "--tls-verify=false", *auth, f"docker://127.0.0.1:{server.port}/{repo}:v1")


@pytest.mark.parametrize("account", ["admin", "developer", "robot"])
def test_accounts_that_may_push_push_and_pull(
    account: str, accounts: dict[str, str], layout: ocilayout.Layout, registry_server: RegistryProcess, tmp_path: Path
) -> None:
    repo = f"{PROJECT}/{account}-app"
    pushed = push(tmp_path, layout, registry_server, repo, accounts[account])
    assert pushed.returncode == 0, pushed.stderr

    pulled = inspect(tmp_path, registry_server, repo, accounts[account])
    assert pulled.returncode == 0, pulled.stderr
    assert json.loads(pulled.stdout)["Digest"] == layout.digest


def test_a_guest_pulls_but_may_not_push(
    accounts: dict[str, str], layout: ocilayout.Layout, registry_server: RegistryProcess, tmp_path: Path
) -> None:
    repo = f"{PROJECT}/guest-app"
    assert push(tmp_path, layout, registry_server, repo, accounts["admin"]).returncode == 0

    refused = push(tmp_path, layout, registry_server, f"{PROJECT}/guest-own", accounts["guest"])
    assert refused.returncode != 0
    assert "unauthorized" in refused.stderr.lower() or "denied" in refused.stderr.lower(), refused.stderr
    assert inspect(tmp_path, registry_server, repo, accounts["guest"]).returncode == 0


def test_anonymous_pulls_library_but_not_private_projects(
    accounts: dict[str, str], layout: ocilayout.Layout, registry_server: RegistryProcess, tmp_path: Path
) -> None:
    assert push(tmp_path, layout, registry_server, "library/anon-app", accounts["admin"]).returncode == 0
    assert push(tmp_path, layout, registry_server, f"{PROJECT}/anon-app", accounts["admin"]).returncode == 0

    assert inspect(tmp_path, registry_server, "library/anon-app", None).returncode == 0
    private = inspect(tmp_path, registry_server, f"{PROJECT}/anon-app", None)
    assert private.returncode != 0


def test_wrong_credentials_are_refused(
    layout: ocilayout.Layout, registry_server: RegistryProcess, tmp_path: Path
) -> None:
    refused = push(tmp_path, layout, registry_server, f"{PROJECT}/nope", "dev:wrong-password")
    assert refused.returncode != 0
    assert "401" in refused.stderr or "unauthorized" in refused.stderr.lower(), refused.stderr


def test_a_robot_of_one_project_cannot_touch_another(
    accounts: dict[str, str], layout: ocilayout.Layout, registry_server: RegistryProcess, tmp_path: Path
) -> None:
    refused = push(tmp_path, layout, registry_server, "library/robot-app", accounts["robot"])
    assert refused.returncode != 0
