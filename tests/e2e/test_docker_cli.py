"""The real `docker` CLI and daemon against Berth through the token flow: build, login, push, pull, logout.

Images are built `FROM scratch` with one COPY, so nothing is pulled from any other registry. Each test builds
its own image (a file with its own content) and removes it before pulling, so the pull really downloads.
The registry is wherever the `registry_endpoint` fixture says; Docker talks plain HTTP to 127.0.0.0/8.
"""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from pathlib import Path

import httpx
import pytest

from tests.harness.dockerd import DockerDaemon
from tests.harness.plugin import RegistryEndpoint
from tests.harness.token import add_member, add_project, add_user
from tests.harness.waiting import eventually

pytestmark = pytest.mark.e2e
PROJECT = "dockerteam"
PASSWORDS = {"admin": "Harbor12345", "dev": "Passw0rd-1", "visitor": "Passw0rd-1"}
PUSH_DIGEST = re.compile(r"digest: (sha256:[0-9a-f]{64}) size: \d+")


@pytest.fixture(scope="module")
def accounts(registry_endpoint: RegistryEndpoint) -> dict[str, str]:
    """role → user name; the project is private."""
    add_project(registry_endpoint.database, PROJECT)
    for user, role in (("dev", 2), ("visitor", 3)):
        add_user(registry_endpoint.database, user, PASSWORDS[user])
        add_member(registry_endpoint.database, PROJECT, user, role)
    return {"admin": "admin", "developer": "dev", "guest": "visitor"}


class Docker:
    """The CLI of the session's daemon with this test's own DOCKER_CONFIG (its logins stay in the test)."""

    def __init__(self, daemon: DockerDaemon, workdir: Path) -> None:
        self.daemon = daemon
        self.workdir = workdir
        self.config_dir = workdir / "docker-config"
        self.config_dir.mkdir()

    def __call__(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return self.daemon.run(*args, config_dir=self.config_dir, input=input)

    def ok(self, *args: str, input: str | None = None) -> str:
        result = self(*args, input=input)
        assert result.returncode == 0, f"docker {' '.join(args)}: {result.stderr}{result.stdout}"
        return result.stdout

    def login(self, host: str, user: str) -> None:
        out = self.ok("login", "--username", user, "--password-stdin", host, input=PASSWORDS[user])
        assert "Login Succeeded" in out

    def build(self, ref: str) -> str:
        """A one-file image built FROM scratch, unique to this call; returns its image ID."""
        context = self.workdir / f"context-{uuid.uuid4().hex[:8]}"
        context.mkdir()
        (context / "hello.txt").write_text(f"hello from {ref} {uuid.uuid4()}\n")
        (context / "Dockerfile").write_text('FROM scratch\nCOPY hello.txt /hello.txt\nCMD ["/hello.txt"]\n')
        self.ok("build", "--quiet", "--tag", ref, str(context))
        return self.image_id(ref)

    def image_id(self, ref: str) -> str:
        return self.ok("image", "inspect", "--format", "{{.Id}}", ref).strip()

    def repo_digests(self, ref: str) -> list[str]:
        digests: list[str] = json.loads(self.ok("image", "inspect", "--format", "{{json .RepoDigests}}", ref))
        return digests

    def push(self, ref: str) -> str:
        """Pushes `ref`; returns the manifest digest docker reports."""
        out = self.ok("push", ref)
        match = PUSH_DIGEST.search(out)
        assert match is not None, out
        return match.group(1)

    def remove(self, ref: str) -> None:
        image_id = self.image_id(ref)
        self.ok("rmi", ref)
        # Gone for good, not just untagged: a later pull must download it.
        assert self("image", "inspect", image_id).returncode != 0, f"{image_id} is still there"


@pytest.fixture
def docker(docker_daemon: DockerDaemon, tmp_path: Path) -> Docker:
    return Docker(docker_daemon, tmp_path)


def assert_in_registry(endpoint: RegistryEndpoint, repo: str, tag: str, digest: str) -> None:
    with endpoint.client() as api:
        tags = api.get(f"/v2/{repo}/tags/list")
        assert tags.status_code == 200, tags.text
        assert tag in tags.json()["tags"]
        manifest = api.head(f"/v2/{repo}/manifests/{tag}", headers={"Accept": DOCKER_AND_OCI_MANIFESTS})
        assert manifest.status_code == 200
        assert manifest.headers["Docker-Content-Digest"] == digest


DOCKER_AND_OCI_MANIFESTS = ",".join(
    [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    ]
)


def test_docker_talks_plain_http_to_loopback_registries(docker_daemon: DockerDaemon) -> None:
    # No --insecure-registry is given: this default is what lets the tests use http://127.0.0.1:<port>.
    assert "127.0.0.0/8" in docker_daemon.insecure_registry_cidrs()


@pytest.mark.parametrize("account", ["admin", "developer"])
def test_push_remove_pull_round_trip(
    account: str, accounts: dict[str, str], docker: Docker, registry_endpoint: RegistryEndpoint
) -> None:
    repo = f"{PROJECT}/{account}-app"
    ref = f"{registry_endpoint.host}/{repo}:1.0"
    image_id = docker.build(ref)
    docker.login(registry_endpoint.host, accounts[account])

    digest = docker.push(ref)
    assert_in_registry(registry_endpoint, repo, "1.0", digest)

    docker.remove(ref)
    out = docker.ok("pull", ref)
    assert digest in out
    assert docker.image_id(ref) == image_id
    assert f"{registry_endpoint.host}/{repo}@{digest}" in docker.repo_digests(ref)
    docker.ok("rmi", ref)


def test_a_guest_pulls_but_may_not_push(
    accounts: dict[str, str], docker: Docker, registry_endpoint: RegistryEndpoint
) -> None:
    pushed = f"{registry_endpoint.host}/{PROJECT}/guest-app:1.0"
    image_id = docker.build(pushed)
    docker.login(registry_endpoint.host, accounts["admin"])
    digest = docker.push(pushed)
    docker.remove(pushed)

    docker.login(registry_endpoint.host, accounts["guest"])
    own = f"{registry_endpoint.host}/{PROJECT}/guest-own:1.0"
    docker.build(own)
    refused = docker("push", own)
    assert refused.returncode != 0
    message = (refused.stderr + refused.stdout).lower()
    assert "denied" in message or "unauthorized" in message, message
    docker.ok("rmi", own)
    with registry_endpoint.client() as api:
        assert api.get(f"/v2/{PROJECT}/guest-own/tags/list").status_code == 404

    docker.ok("pull", pushed)
    assert docker.image_id(pushed) == image_id
    assert f"{registry_endpoint.host}/{PROJECT}/guest-app@{digest}" in docker.repo_digests(pushed)
    docker.ok("rmi", pushed)


def test_after_logout_public_projects_pull_and_private_ones_refuse(
    accounts: dict[str, str], docker: Docker, registry_endpoint: RegistryEndpoint
) -> None:
    public = f"{registry_endpoint.host}/library/docker-anon:1.0"
    private = f"{registry_endpoint.host}/{PROJECT}/docker-anon:1.0"
    public_id = docker.build(public)
    docker.build(private)
    docker.login(registry_endpoint.host, accounts["admin"])
    docker.push(public)
    docker.push(private)
    docker.remove(public)
    docker.remove(private)

    out = docker.ok("logout", registry_endpoint.host)
    assert "Removing login credentials" in out
    docker.ok("pull", public)
    assert docker.image_id(public) == public_id
    docker.ok("rmi", public)

    refused = docker("pull", private)
    assert refused.returncode != 0
    message = refused.stderr.lower()
    assert "denied" in message or "unauthorized" in message, message
    assert docker("image", "inspect", private).returncode != 0


def test_wrong_password_is_refused_at_login(
    accounts: dict[str, str], docker: Docker, registry_endpoint: RegistryEndpoint
) -> None:
    refused = docker(
        "login", "--username", accounts["developer"], "--password-stdin", registry_endpoint.host, input="x"
    )
    assert refused.returncode != 0
    assert "unauthorized" in refused.stderr.lower() or "401" in refused.stderr, refused.stderr


def test_read_only_mode_refuses_a_push_with_harbors_message_and_pulls_go_on(
    accounts: dict[str, str], docker: Docker, registry_endpoint: RegistryEndpoint
) -> None:
    pushed = f"{registry_endpoint.host}/{PROJECT}/ro-app:1.0"
    image_id = docker.build(pushed)
    docker.login(registry_endpoint.host, accounts["admin"])
    docker.push(pushed)
    docker.remove(pushed)
    later = f"{registry_endpoint.host}/{PROJECT}/ro-later:1.0"
    docker.build(later)
    api = httpx.Client(base_url=f"{registry_endpoint.url}/api/v2.0", auth=("admin", PASSWORDS["admin"]), timeout=30)
    with api, registry_endpoint.client() as registry:

        def uploads_answer(status: int) -> bool:
            return registry.post(f"/v2/{PROJECT}/ro-probe/blobs/uploads/").status_code == status

        assert api.put("/configurations", json={"read_only": True}).status_code == 200
        try:
            eventually(lambda: uploads_answer(405), "the registry is read-only")
            refused = docker("push", later)
            assert refused.returncode != 0
            assert "The system is in read only mode" in refused.stderr + refused.stdout, refused.stderr
            docker.ok("pull", pushed)
            assert docker.image_id(pushed) == image_id
        finally:
            assert api.put("/configurations", json={"read_only": False}).status_code == 200
        eventually(lambda: uploads_answer(202), "the registry takes pushes again")
    docker.push(later)
    docker.ok("rmi", pushed, later)
