"""The whole stack on S3, as `make run` starts it with `storage.s3` set: the launcher, every service behind
nginx, the blobs in a bucket of a real SeaweedFS. Real skopeo and docker push and pull through it (nginx
streams every blob from S3), and garbage collection frees the objects of what was deleted."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e import ocilayout
from tests.e2e.test_docker_cli import Docker
from tests.harness.dockerd import DockerDaemon
from tests.harness.seaweedfs import SeaweedFSProcess
from tests.harness.stack import ADMIN_PASSWORD, StackProcess, fresh_stack

pytestmark = pytest.mark.e2e
SKOPEO_TIMEOUT = 300
MIB = 1 << 20


@pytest.fixture(scope="module")
def stack(
    seaweedfs: SeaweedFSProcess, s3_bucket: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StackProcess]:
    # The smallest part S3 allows, so a layer of a few megabytes is a multipart write.
    storage = seaweedfs.storage_config(s3_bucket, chunksize=5 * MIB)
    with fresh_stack(tmp_path_factory.mktemp("s3stack"), settings={"storage": storage}) as proc:
        yield proc


def api(stack: StackProcess) -> httpx.Client:
    return httpx.Client(base_url=stack.url + "/api/v2.0", auth=("admin", ADMIN_PASSWORD), timeout=60)


def blob_key(digest: str) -> str:
    algorithm, hexpart = digest.split(":")
    return f"blobs/{algorithm}/{hexpart[:2]}/{hexpart}/data"


def assert_only_whole_blobs(seaweedfs: SeaweedFSProcess, bucket: str) -> list[str]:
    """Every finished upload was moved to its digest path as one object: no upload or segment is left."""
    keys = seaweedfs.keys(bucket)
    assert [k for k in keys if "~" in k or k.startswith("uploads/")] == []
    return keys


def skopeo(*args: str) -> None:
    proc = subprocess.run(["skopeo", "--insecure-policy", *args], capture_output=True, timeout=SKOPEO_TIMEOUT)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")


def test_skopeo_copies_an_image_in_and_back_out(
    stack: StackProcess, seaweedfs: SeaweedFSProcess, s3_bucket: str, tmp_path: Path
) -> None:
    layout = ocilayout.write_image(tmp_path / "src", "v1", seed=uuid.uuid4().hex)
    host = stack.url.removeprefix("http://")
    creds = f"admin:{ADMIN_PASSWORD}"
    skopeo("copy", "--dest-tls-verify=false", "--dest-creds", creds, layout.ref(), f"docker://{host}/library/s3img:v1")
    out = tmp_path / "out"
    skopeo("copy", "--src-tls-verify=false", "--src-creds", creds, f"docker://{host}/library/s3img:v1", f"dir:{out}")
    for digest, data in layout.blobs.items():
        if digest != layout.digest:
            assert (out / digest.split(":")[1]).read_bytes() == data
    assert json.loads((out / "manifest.json").read_bytes()) == json.loads(layout.raw())
    keys = assert_only_whole_blobs(seaweedfs, s3_bucket)
    image = layout.images[0]
    assert {blob_key(d.digest) for d in [image.config, *image.layers]} <= set(keys)


def test_docker_pushes_and_pulls_a_layer_larger_than_a_part(
    stack: StackProcess, seaweedfs: SeaweedFSProcess, s3_bucket: str, docker_daemon: DockerDaemon, tmp_path: Path
) -> None:
    docker = Docker(docker_daemon, tmp_path)
    host = stack.url.removeprefix("http://")
    ref = f"{host}/library/big:1"
    context = tmp_path / "context"
    context.mkdir()
    (context / "payload").write_bytes(os.urandom(12 * MIB))  # incompressible: a 12 MiB layer, three parts
    (context / "Dockerfile").write_text("FROM scratch\nCOPY payload /payload\n")
    docker.ok("build", "--quiet", "--tag", ref, str(context))
    image_id = docker.image_id(ref)
    docker.ok("login", "--username", "admin", "--password-stdin", host, input=ADMIN_PASSWORD)
    digest = docker.push(ref)
    docker.remove(ref)
    assert digest in docker.ok("pull", ref)
    assert docker.image_id(ref) == image_id
    docker.ok("rmi", ref)
    assert_only_whole_blobs(seaweedfs, s3_bucket)


def test_gc_frees_the_objects_of_a_deleted_image(
    stack: StackProcess, seaweedfs: SeaweedFSProcess, s3_bucket: str, tmp_path: Path
) -> None:
    layout = ocilayout.write_image(tmp_path / "src", "v1", seed=uuid.uuid4().hex)
    host = stack.url.removeprefix("http://")
    skopeo(
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        f"admin:{ADMIN_PASSWORD}",
        layout.ref(),
        f"docker://{host}/library/doomed:v1",
    )
    layer = blob_key(layout.images[0].layers[0].digest)
    assert seaweedfs.has_object(s3_bucket, layer)
    with api(stack) as c:
        r = c.delete(f"/projects/library/repositories/doomed/artifacts/{layout.digest}")
        assert r.status_code == 200, r.text
        run = run_gc(c, time_window=0, workers=3)
    assert not seaweedfs.has_object(s3_bucket, layer)
    assert "deleted" in run["log"]


def run_gc(c: httpx.Client, **parameters: Any) -> dict[str, Any]:
    r = c.post("/system/gc/schedule", json={"schedule": {"type": "Manual"}, "parameters": parameters})
    assert r.status_code == 201, r.text
    run_id = int(r.headers["Location"].rsplit("/", 1)[1])
    deadline = time.monotonic() + 300
    while (body := c.get(f"/system/gc/{run_id}").json())["job_status"] not in ("Success", "Error", "Stopped"):
        assert time.monotonic() < deadline, f"GC {run_id} did not finish: {body}"
        time.sleep(0.2)
    body["log"] = c.get(f"/system/gc/{run_id}/log").text
    assert body["job_status"] == "Success", body["log"]
    return dict(body)
