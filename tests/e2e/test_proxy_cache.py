"""A proxy-cache project through the whole stack (nginx, token flow): the real docker CLI and skopeo pull an
image that only Debian's CNCF Distribution holds, through a Berth project created with that registry
endpoint; once kept, the image still pulls with the upstream stopped, and docker cannot push into it."""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from services.common.oci import mediatypes as mt
from tests.e2e.test_docker_cli import Docker
from tests.harness.distribution import DistributionProcess
from tests.harness.dockerd import DockerDaemon
from tests.harness.oci import digest_of, gzip_tar, image_manifest, index_manifest, push_blob, push_image, push_manifest
from tests.harness.registry_auth import RegistryTokenAuth
from tests.harness.stack import ADMIN_PASSWORD, StackProcess, fresh_stack
from tests.harness.waiting import eventually

pytestmark = pytest.mark.e2e

ADMIN = ("admin", ADMIN_PASSWORD)
SKOPEO_TIMEOUT_S = 180


@pytest.fixture
def upstream(tmp_path: Path) -> Iterator[DistributionProcess]:
    with DistributionProcess(tmp_path / "upstream") as proc:
        yield proc


@pytest.fixture
def docker(docker_daemon: DockerDaemon, tmp_path: Path) -> Docker:
    return Docker(docker_daemon, tmp_path)


def proxy_project(stack: StackProcess, upstream: DistributionProcess) -> str:
    with httpx.Client(base_url=f"{stack.url}/api/v2.0", auth=ADMIN, timeout=60) as api:
        name = f"hub-{uuid.uuid4().hex[:6]}"
        r = api.post("/registries", json={"name": name, "url": upstream.url, "type": "docker-registry"})
        assert r.status_code == 201, r.text
        registry_id = int(r.headers["Location"].rsplit("/", 1)[1])
        r = api.post("/projects", json={"project_name": name, "registry_id": registry_id})
        assert r.status_code == 201, r.text
    return name


def kept_tags(stack: StackProcess, project: str, repository: str, digest: str) -> list[str]:
    with httpx.Client(base_url=f"{stack.url}/api/v2.0", auth=ADMIN, timeout=60) as api:
        path = repository.replace("/", "%252F")
        r = api.get(f"/projects/{project}/repositories/{path}/artifacts/{digest}?with_tag=true")
        return [t["name"] for t in r.json().get("tags") or []] if r.status_code == 200 else []


def skopeo(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("skopeo")
    assert binary is not None, "skopeo is not installed: `apt-get install -y skopeo`"
    proc = subprocess.run(
        [binary, "--insecure-policy", *args], capture_output=True, text=True, timeout=SKOPEO_TIMEOUT_S, check=False
    )
    assert proc.returncode == 0, f"skopeo {' '.join(args)}: {proc.stderr}"
    return proc


def test_docker_and_skopeo_pull_through_a_proxy_cache_with_and_without_the_upstream(
    stack: StackProcess, upstream: DistributionProcess, docker: Docker, tmp_path: Path
) -> None:
    at_upstream = f"127.0.0.1:{upstream.port}/team/hello:v1"
    image_id = docker.build(at_upstream)
    digest = docker.push(at_upstream)
    docker.remove(at_upstream)

    project = proxy_project(stack, upstream)
    host = stack.url.removeprefix("http://")
    cached = f"{host}/{project}/team/hello:v1"
    docker.login(host, "admin")
    docker.ok("pull", cached)
    assert docker.image_id(cached) == image_id
    assert any(d.endswith(digest) for d in docker.repo_digests(cached))
    eventually(lambda: kept_tags(stack, project, "team/hello", digest) == ["v1"], "the image kept", deadline_s=60)

    creds = f"--src-creds=admin:{ADMIN_PASSWORD}"
    # dir: keeps the manifest as the registry served it (oci: would convert it).
    copied = tmp_path / "copied"
    skopeo("copy", "--src-tls-verify=false", creds, f"docker://{cached}", f"dir:{copied}")
    assert "sha256:" + hashlib.sha256((copied / "manifest.json").read_bytes()).hexdigest() == digest
    for layer in json.loads((copied / "manifest.json").read_text())["layers"]:
        data = (copied / layer["digest"].split(":", 1)[1]).read_bytes()
        assert "sha256:" + hashlib.sha256(data).hexdigest() == layer["digest"]

    # The upstream gone: the kept image still pulls, by tag and by digest.
    upstream.stop()
    docker.remove(cached)
    docker.ok("pull", cached)
    assert docker.image_id(cached) == image_id
    raw = skopeo("inspect", "--tls-verify=false", f"--creds=admin:{ADMIN_PASSWORD}", "--raw", f"docker://{cached}")
    assert raw.stdout.strip()

    # Nothing is pushed into a cache.
    mine = f"{host}/{project}/team/mine:v1"
    docker.build(mine)
    refused = docker("push", mine)
    assert refused.returncode != 0 and "proxy cache" in refused.stderr + refused.stdout, refused.stderr


def platform_image(arch: str) -> tuple[bytes, bytes]:
    """(config, layer) of a one-file image for `arch` that docker can unpack: a real gzipped tar, its
    uncompressed digest in the config's diff_ids."""
    layer = gzip_tar({f"hello-{arch}.txt": f"hello from {arch} {uuid.uuid4()}\n".encode()})
    diff_id = "sha256:" + hashlib.sha256(gzip.decompress(layer)).hexdigest()
    config = {"architecture": arch, "os": "linux", "rootfs": {"type": "layers", "diff_ids": [diff_id]}, "config": {}}
    return json.dumps(config).encode(), layer


def test_docker_pull_platform_fetches_the_child_of_a_cached_index_it_lacks(
    stack: StackProcess, upstream: DistributionProcess, docker: Docker
) -> None:
    children = []
    with httpx.Client(base_url=upstream.url, timeout=60) as client:
        for arch in ("amd64", "arm64"):
            config, layer = platform_image(arch)
            push_blob(client, "multi", config)
            push_blob(client, "multi", layer)
            manifest = image_manifest(config, [layer], media_type=mt.DOCKER_MANIFEST)
            assert push_manifest(client, "multi", digest_of(manifest), manifest, mt.DOCKER_MANIFEST).status_code == 201
            children.append((manifest, mt.DOCKER_MANIFEST, {"architecture": arch, "os": "linux"}))
        index = index_manifest(children, media_type=mt.DOCKER_LIST)
        assert push_manifest(client, "multi", "v1", index, mt.DOCKER_LIST).status_code == 201

    project = proxy_project(stack, upstream)
    host = stack.url.removeprefix("http://")
    cached = f"{host}/{project}/multi:v1"
    docker.login(host, "admin")
    arm64, amd64 = digest_of(children[1][0]), digest_of(children[0][0])
    docker.ok("pull", "--platform", "linux/arm64", cached)
    assert docker.ok("image", "inspect", "--format", "{{.Architecture}}", cached).strip() == "arm64"
    eventually(lambda: kept_tags(stack, project, "multi", digest_of(index)) == ["v1"], "the index kept", deadline_s=60)
    eventually(lambda: kept_tags(stack, project, "multi", arm64) == [] and kept(stack, project, arm64), "arm64 kept")
    assert not kept(stack, project, amd64)
    # The other platform, later: fetched then, from the same cached index.
    docker.remove(cached)
    docker.ok("pull", "--platform", "linux/amd64", cached)
    assert docker.ok("image", "inspect", "--format", "{{.Architecture}}", cached).strip() == "amd64"
    eventually(lambda: kept(stack, project, amd64), "amd64 kept", deadline_s=60)
    docker.remove(cached)


def kept(stack: StackProcess, project: str, digest: str) -> bool:
    with httpx.Client(base_url=f"{stack.url}/api/v2.0", auth=ADMIN, timeout=60) as api:
        return api.get(f"/projects/{project}/repositories/multi/artifacts/{digest}").status_code == 200


@pytest.fixture(scope="module")
def other(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProcess]:
    """A second Berth: the upstream of a Harbor-type endpoint."""
    with fresh_stack(tmp_path_factory.mktemp("other-berth")) as proc:
        yield proc


def test_a_second_berth_with_credentials_is_cached_through_a_harbor_endpoint(
    stack: StackProcess, other: StackProcess, tmp_path: Path
) -> None:
    """The upstream needs credentials (a private project of the other Berth): its token service's challenge
    is answered with the endpoint's user; once kept, the image pulls with the other Berth stopped."""
    source = f"src-{uuid.uuid4().hex[:6]}"
    with httpx.Client(base_url=f"{other.url}/api/v2.0", auth=ADMIN, timeout=60) as api:
        assert api.post("/projects", json={"project_name": source}).status_code == 201
    auth = RegistryTokenAuth(f"{other.url}/service/token", "berth-registry", ADMIN)
    with httpx.Client(base_url=other.url, timeout=60, auth=auth) as client:
        manifest, digest = push_image(client, f"{source}/app", "v1", layers=[uuid.uuid4().bytes * 1000])
    with httpx.Client(base_url=f"{stack.url}/api/v2.0", auth=ADMIN, timeout=60) as api:
        endpoint = {
            "name": f"other-{uuid.uuid4().hex[:6]}",
            "url": other.url,
            "type": "harbor",
            "credential": {"type": "basic", "access_key": "admin", "access_secret": ADMIN_PASSWORD},
        }
        r = api.post("/registries", json=endpoint)
        assert r.status_code == 201, r.text
        registry_id = int(r.headers["Location"].rsplit("/", 1)[1])
        project = f"mirror-{uuid.uuid4().hex[:6]}"
        r = api.post("/projects", json={"project_name": project, "registry_id": registry_id})
        assert r.status_code == 201, r.text
    host = stack.url.removeprefix("http://")
    creds = f"--src-creds=admin:{ADMIN_PASSWORD}"
    reference = f"docker://{host}/{project}/{source}/app:v1"
    skopeo("copy", "--src-tls-verify=false", creds, reference, f"dir:{tmp_path / 'first'}")
    assert (tmp_path / "first" / "manifest.json").read_bytes() == manifest
    eventually(lambda: kept_tags(stack, project, f"{source}/app", digest) == ["v1"], "kept", deadline_s=60)

    other.stop()
    skopeo("copy", "--src-tls-verify=false", creds, reference, f"dir:{tmp_path / 'again'}")
    assert (tmp_path / "again" / "manifest.json").read_bytes() == manifest
