"""`podman` against Berth through the token flow: login, push, pull, logout, as users of each role and as
a robot account. Images are made with `podman import` of a small tar, so no other registry is involved;
each test makes its own (unique content) and removes it before pulling, so the pull really downloads.
The registry is wherever the `registry_endpoint` fixture says, marked insecure (plain HTTP) for podman.
"""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.plugin import RegistryEndpoint
from tests.harness.podman import Podman
from tests.harness.token import add_member, add_project, add_robot, add_user

pytestmark = pytest.mark.e2e
PROJECT = "podteam"
ROBOT = f"robot${PROJECT}+ci"
PASSWORDS = {"admin": "Harbor12345", "dev": "Passw0rd-1", "visitor": "Passw0rd-1", ROBOT: "robot-secret-1"}


@pytest.fixture(scope="module")
def accounts(registry_endpoint: RegistryEndpoint) -> dict[str, str]:
    """role → account name; the project is private."""
    db = registry_endpoint.database
    add_project(db, PROJECT)
    for user, role in (("dev", 2), ("visitor", 3)):
        add_user(db, user, PASSWORDS[user])
        add_member(db, PROJECT, user, role)
    add_robot(db, "ci", PASSWORDS[ROBOT], project=PROJECT, access=[("repository", "pull"), ("repository", "push")])
    return {"admin": "admin", "developer": "dev", "guest": "visitor", "robot": ROBOT}


@pytest.fixture(scope="module")
def podman_store(registry_endpoint: RegistryEndpoint, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Podman]:
    podman = Podman(tmp_path_factory.mktemp("podman"), insecure=[registry_endpoint.host])
    try:
        yield podman
    finally:
        podman.close()


class Client:
    """podman with this test's own credentials file."""

    def __init__(self, podman: Podman, workdir: Path) -> None:
        self.podman = podman
        self.workdir = workdir
        self.auth_file = workdir / "auth.json"

    def __call__(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return self.podman.run(*args, auth_file=self.auth_file, input=input)

    def ok(self, *args: str, input: str | None = None) -> str:
        result = self(*args, input=input)
        assert result.returncode == 0, f"podman {' '.join(args)}: {result.stderr}{result.stdout}"
        return result.stdout

    def login(self, host: str, account: str) -> None:
        out = self.ok("login", "--username", account, "--password-stdin", host, input=PASSWORDS[account])
        assert "Login Succeeded" in out

    def make_image(self, ref: str) -> str:
        """A one-file image (`podman import` of a tar), unique to this call; returns its image ID."""
        data = f"hello from {ref} {uuid.uuid4()}\n".encode()
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            info = tarfile.TarInfo("hello.txt")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        rootfs = self.workdir / f"rootfs-{uuid.uuid4().hex[:8]}.tar"
        rootfs.write_bytes(buffer.getvalue())
        self.ok("import", "--quiet", "--change", 'CMD ["/hello.txt"]', str(rootfs), ref)
        return self.image_id(ref)

    def image_id(self, ref: str) -> str:
        return self.ok("image", "inspect", "--format", "{{.Id}}", ref).strip()

    def push(self, ref: str) -> str:
        """Pushes `ref`; returns the manifest digest podman wrote."""
        digest_file = self.workdir / f"digest-{uuid.uuid4().hex[:8]}"
        self.ok("push", "--digestfile", str(digest_file), ref)
        return digest_file.read_text().strip()

    def remove(self, ref: str) -> None:
        image_id = self.image_id(ref)
        self.ok("rmi", ref)
        # Gone for good, not just untagged: a later pull must download it.
        assert self("image", "exists", image_id).returncode != 0, f"{image_id} is still there"


@pytest.fixture
def podman(podman_store: Podman, tmp_path: Path) -> Client:
    return Client(podman_store, tmp_path)


def registry_digest(endpoint: RegistryEndpoint, repo: str, tag: str) -> str:
    with endpoint.client() as api:
        tags = api.get(f"/v2/{repo}/tags/list")
        assert tags.status_code == 200, tags.text
        assert tag in tags.json()["tags"]
        manifest = api.get(
            f"/v2/{repo}/manifests/{tag}",
            headers={
                "Accept": "application/vnd.oci.image.manifest.v1+json,"
                "application/vnd.docker.distribution.manifest.v2+json"
            },
        )
        assert manifest.status_code == 200, manifest.text
        json.loads(manifest.content)  # a manifest, not an error page
        return manifest.headers["Docker-Content-Digest"]


def assert_refused(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode != 0, result.stdout
    message = result.stderr.lower()
    assert "denied" in message or "unauthorized" in message, result.stderr


@pytest.mark.parametrize("account", ["admin", "developer", "robot"])
def test_push_remove_pull_round_trip(
    account: str, accounts: dict[str, str], podman: Client, registry_endpoint: RegistryEndpoint
) -> None:
    repo = f"{PROJECT}/{account}-app"
    ref = f"{registry_endpoint.host}/{repo}:1.0"
    image_id = podman.make_image(ref)
    podman.login(registry_endpoint.host, accounts[account])

    digest = podman.push(ref)
    assert registry_digest(registry_endpoint, repo, "1.0") == digest

    podman.remove(ref)
    podman.ok("pull", ref)
    assert podman.image_id(ref) == image_id
    assert podman.ok("image", "inspect", "--format", "{{.Digest}}", ref).strip() == digest
    podman.ok("rmi", ref)


def test_a_guest_pulls_but_may_not_push(
    accounts: dict[str, str], podman: Client, registry_endpoint: RegistryEndpoint
) -> None:
    pushed = f"{registry_endpoint.host}/{PROJECT}/guest-app:1.0"
    image_id = podman.make_image(pushed)
    podman.login(registry_endpoint.host, accounts["admin"])
    podman.push(pushed)
    podman.remove(pushed)

    podman.login(registry_endpoint.host, accounts["guest"])
    own = f"{registry_endpoint.host}/{PROJECT}/guest-own:1.0"
    podman.make_image(own)
    assert_refused(podman("push", own))
    podman.ok("rmi", own)

    podman.ok("pull", pushed)
    assert podman.image_id(pushed) == image_id
    podman.ok("rmi", pushed)


def test_a_robot_pushes_to_its_project_only(
    accounts: dict[str, str], podman: Client, registry_endpoint: RegistryEndpoint
) -> None:
    podman.login(registry_endpoint.host, accounts["robot"])
    other = f"{registry_endpoint.host}/library/podman-robot:1.0"
    podman.make_image(other)
    assert_refused(podman("push", other))
    podman.ok("rmi", other)
    with registry_endpoint.client() as api:
        assert api.get("/v2/library/podman-robot/tags/list").status_code == 404


def test_after_logout_public_projects_pull_and_private_ones_refuse(
    accounts: dict[str, str], podman: Client, registry_endpoint: RegistryEndpoint
) -> None:
    public = f"{registry_endpoint.host}/library/podman-anon:1.0"
    private = f"{registry_endpoint.host}/{PROJECT}/podman-anon:1.0"
    public_id = podman.make_image(public)
    podman.make_image(private)
    podman.login(registry_endpoint.host, accounts["admin"])
    podman.push(public)
    podman.push(private)
    podman.remove(public)
    podman.remove(private)

    podman.ok("logout", registry_endpoint.host)
    podman.ok("pull", public)
    assert podman.image_id(public) == public_id
    podman.ok("rmi", public)

    assert_refused(podman("pull", private))
    assert podman("image", "exists", private).returncode != 0
