"""End-to-end: a real `skopeo` (and a raw httpx client for a 200 MiB chunked blob) against a real registry
process speaking plain HTTP on 127.0.0.1.

Images come from OCI image layout directories written by `ocilayout`, so no container daemon is needed.
skopeo is required: if it is missing these tests fail (CI installs it with apt), they are never skipped.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.harness.plugin import RegistryProcess

from . import ocilayout

pytestmark = pytest.mark.e2e

SKOPEO_TIMEOUT = 180  # seconds; a hang is a failure, never a slow pass
MIB = 1024 * 1024


# --------------------------------------------------------------------------------------------- skopeo


ADMIN_CREDENTIALS = "admin:Harbor12345"


@dataclass
class Skopeo:
    binary: str
    policy: Path
    registry: RegistryProcess
    # skopeo runs the token flow itself: 401 challenge, token from the realm, retry.
    creds: str = ADMIN_CREDENTIALS

    def host_ref(self, repo: str, reference: str) -> str:
        """`docker://127.0.0.1:<port>/<repo>:<tag>` or `...@sha256:...`."""
        sep = "@" if ":" in reference else ":"
        return f"docker://127.0.0.1:{self.registry.port}/{repo}{sep}{reference}"

    def run(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        cmd = [self.binary, "--policy", str(self.policy), *args]
        proc = subprocess.run(cmd, capture_output=True, timeout=SKOPEO_TIMEOUT, check=False)
        if proc.returncode != 0:
            log_tail = "\n".join(self.registry.logs().splitlines()[-40:])
            pytest.fail(
                f"skopeo failed (exit {proc.returncode}): {' '.join(cmd)}\n"
                f"--- stderr ---\n{proc.stderr.decode(errors='replace')}\n"
                f"--- stdout ---\n{proc.stdout.decode(errors='replace')[-4000:]}\n"
                f"--- registry log (tail) ---\n{log_tail}",
                pytrace=False,
            )
        return proc

    def copy(self, src: str, dest: str, *extra: str) -> subprocess.CompletedProcess[bytes]:
        tls = []
        if src.startswith("docker://"):
            tls += ["--src-tls-verify=false", f"--src-creds={self.creds}"]
        if dest.startswith("docker://"):
            tls += ["--dest-tls-verify=false", f"--dest-creds={self.creds}"]
        return self.run("copy", *tls, *extra, src, dest)

    def inspect(self, ref: str, *extra: str) -> dict[str, Any]:
        return json.loads(self.run("inspect", "--tls-verify=false", f"--creds={self.creds}", *extra, ref).stdout)

    def inspect_raw(self, ref: str, *extra: str) -> bytes:
        return self.run("inspect", "--tls-verify=false", f"--creds={self.creds}", "--raw", *extra, ref).stdout


@pytest.fixture(scope="module")
def skopeo_bin() -> str:
    path = shutil.which("skopeo")
    if path is None:
        pytest.fail(
            "skopeo is not installed (or not on PATH); the e2e tests need it: `apt-get install -y skopeo`",
            pytrace=False,
        )
    version = subprocess.run([path, "--version"], capture_output=True, text=True, check=False)
    if version.returncode != 0:
        pytest.fail(f"`skopeo --version` failed: {version.stderr}", pytrace=False)
    return path


@pytest.fixture(scope="module")
def skopeo(skopeo_bin: str, registry_server: RegistryProcess, tmp_path_factory: pytest.TempPathFactory) -> Skopeo:
    policy = tmp_path_factory.mktemp("skopeo") / "policy.json"
    policy.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
    return Skopeo(skopeo_bin, policy, registry_server)


def assert_same_blobs(original: ocilayout.Layout, copied_dir: Path) -> None:
    """Every blob of the original layout is present in the copy, with identical bytes and a true digest."""
    copied = ocilayout.read_blobs(copied_dir)
    for digest, data in original.blobs.items():
        assert digest in copied, f"blob {digest} missing from the copied layout ({sorted(copied)})"
        assert ocilayout.sha256_digest(copied[digest]) == digest, f"blob {digest} does not hash to its name"
        assert copied[digest] == data, f"blob {digest} differs"


def assert_index_names(copied_dir: Path, tag: str, digest: str, media_type: str) -> None:
    index = ocilayout.read_index(copied_dir)
    entries = [m for m in index["manifests"] if m.get("annotations", {}).get(ocilayout.REF_NAME) == tag]
    assert len(entries) == 1, index
    assert entries[0]["digest"] == digest
    assert entries[0]["mediaType"] == media_type


# --------------------------------------------------------------------------------------------- skopeo tests


def test_copy_single_image_roundtrip(skopeo: Skopeo, registry: httpx.Client, tmp_path: Path) -> None:
    layout = ocilayout.write_image(tmp_path / "src", "v1", seed="single")
    image = layout.images[0]
    repo = "library/app"
    dest = skopeo.host_ref(repo, "v1")

    skopeo.copy(layout.ref(), dest)

    info = skopeo.inspect(dest)
    assert info["Digest"] == layout.digest
    assert info["Architecture"] == "amd64"
    assert info["Os"] == "linux"
    assert info["Layers"] == [layer.digest for layer in image.layers]
    assert "v1" in info["RepoTags"]
    assert info["Name"] == f"127.0.0.1:{skopeo.registry.port}/{repo}"

    raw = skopeo.inspect_raw(dest)
    assert raw == layout.raw(), "skopeo inspect --raw must return the pushed manifest byte for byte"
    assert skopeo.inspect_raw(skopeo.host_ref(repo, layout.digest)) == layout.raw()
    assert skopeo.inspect_raw(dest, "--config") == layout.raw(image.config.digest)

    # The registry itself agrees on digest and media type.
    r = registry.head(f"/v2/{repo}/manifests/v1", headers={"Accept": ocilayout.OCI_MANIFEST})
    assert r.status_code == 200
    assert r.headers["Docker-Content-Digest"] == layout.digest
    assert r.headers["Content-Type"].split(";")[0].strip() == ocilayout.OCI_MANIFEST

    back = tmp_path / "back"
    skopeo.copy(dest, f"oci:{back}:v1")
    assert_same_blobs(layout, back)
    assert_index_names(back, "v1", layout.digest, ocilayout.OCI_MANIFEST)


def test_copy_multi_arch_index_roundtrip(skopeo: Skopeo, registry: httpx.Client, tmp_path: Path) -> None:
    layout = ocilayout.write_index(tmp_path / "src", "multi", seed="multi")
    repo = "library/team/multi"
    dest = skopeo.host_ref(repo, "multi")

    skopeo.copy(layout.ref(), dest, "--all")

    raw = skopeo.inspect_raw(dest)
    assert raw == layout.raw(), "skopeo inspect --raw must return the pushed index byte for byte"
    assert json.loads(raw)["mediaType"] == ocilayout.OCI_INDEX

    for arch in ("arm64", "amd64"):
        child = layout.image_for(arch)
        info = skopeo.inspect(dest, "--override-arch", arch, "--override-os", "linux")
        assert info["Architecture"] == arch
        assert info["Os"] == "linux"
        assert info["Layers"] == [layer.digest for layer in child.layers]
        config = skopeo.inspect_raw(dest, "--config", "--override-arch", arch, "--override-os", "linux")
        assert config == layout.raw(child.config.digest)
        # The child is addressable by digest in the same (multi-level) repository.
        assert skopeo.inspect_raw(skopeo.host_ref(repo, child.manifest.digest)) == layout.raw(child.manifest.digest)

    r = registry.get(f"/v2/{repo}/tags/list")
    assert r.status_code == 200, r.text
    assert r.json()["name"] == repo
    assert "multi" in r.json()["tags"]

    back = tmp_path / "back"
    skopeo.copy(dest, f"oci:{back}:multi", "--all")
    assert_same_blobs(layout, back)
    assert_index_names(back, "multi", layout.digest, ocilayout.OCI_INDEX)


def test_copy_is_idempotent_and_retag(skopeo: Skopeo, registry: httpx.Client, tmp_path: Path) -> None:
    layout = ocilayout.write_image(tmp_path / "src", "v1", seed="idempotent")
    repo = "library/idem"
    v1 = skopeo.host_ref(repo, "v1")
    v2 = skopeo.host_ref(repo, "v2")

    skopeo.copy(layout.ref(), v1)
    skopeo.copy(layout.ref(), v1)  # everything already exists: must still succeed
    assert skopeo.inspect(v1)["Digest"] == layout.digest
    assert skopeo.inspect_raw(v1) == layout.raw()

    skopeo.copy(v1, v2)  # registry → registry, a second tag for the same image
    info = skopeo.inspect(v2)
    assert info["Digest"] == layout.digest
    assert skopeo.inspect_raw(v2) == layout.raw()
    assert {"v1", "v2"} <= set(info["RepoTags"])

    r = registry.get(f"/v2/{repo}/tags/list")
    assert r.status_code == 200, r.text
    assert sorted(r.json()["tags"]) == ["v1", "v2"]

    back = tmp_path / "back"
    skopeo.copy(v2, f"oci:{back}:v2")
    assert_same_blobs(layout, back)


# --------------------------------------------------------------------------------------------- big blob

BIG_SIZE = 200 * MIB
CHUNK = 16 * MIB
BLOCK = MIB  # generator granularity; never more than one block + one chunk's bookkeeping in memory


def big_block(i: int) -> bytes:
    """Block i (1 MiB) of the deterministic 200 MiB blob; every block differs."""
    return hashlib.shake_256(b"berth-e2e-big-blob/" + i.to_bytes(8, "big")).digest(BLOCK)


def big_stream(start: int, end: int) -> Iterator[bytes]:
    """Bytes [start, end) of the big blob, yielded at most one block at a time."""
    pos = start
    while pos < end:
        i, off = divmod(pos, BLOCK)
        take = min(BLOCK - off, end - pos)
        yield big_block(i)[off : off + take]
        pos += take


def big_bytes(start: int, end: int) -> bytes:
    return b"".join(big_stream(start, end))


def big_digest() -> str:
    h = hashlib.sha256()
    for chunk in big_stream(0, BIG_SIZE):
        h.update(chunk)
    return "sha256:" + h.hexdigest()


def test_big_blob_chunked_push_and_range_pull(registry: httpx.Client, repo_name: str) -> None:
    digest = big_digest()

    r = registry.post(f"/v2/{repo_name}/blobs/uploads/")
    assert r.status_code == 202, r.text
    location = r.headers["Location"]

    offset = 0
    chunks = 0
    while offset < BIG_SIZE:
        end = min(offset + CHUNK, BIG_SIZE)
        r = registry.patch(
            location,
            content=big_stream(offset, end),
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Length": str(end - offset),
                "Content-Range": f"{offset}-{end - 1}",
            },
        )
        assert r.status_code == 202, f"PATCH {offset}-{end - 1}: {r.status_code} {r.text}"
        assert r.headers["Range"] == f"0-{end - 1}"
        location = r.headers["Location"]
        offset = end
        chunks += 1
        if chunks == 3:
            # Upload status mid-way (what a resuming client asks).
            s = registry.get(location)
            assert s.status_code == 204, s.text
            assert s.headers["Range"] == f"0-{end - 1}"
    assert chunks == 13  # 12 x 16 MiB + 8 MiB: the final chunk is a short one

    # Keep whatever query the Location carries (httpx's `params=` would replace it).
    finish = httpx.URL(location).copy_merge_params({"digest": digest})
    r = registry.put(finish, headers={"Content-Length": "0"})
    assert r.status_code == 201, r.text
    assert r.headers["Docker-Content-Digest"] == digest
    blob_url = f"/v2/{repo_name}/blobs/{digest}"

    r = registry.head(blob_url, follow_redirects=True)
    assert r.status_code == 200
    assert int(r.headers["Content-Length"]) == BIG_SIZE
    assert r.headers["Docker-Content-Digest"] == digest

    # Full pull, streamed and hashed.
    h = hashlib.sha256()
    received = 0
    with registry.stream("GET", blob_url, follow_redirects=True) as r:
        assert r.status_code == 200
        for part in r.iter_bytes():
            h.update(part)
            received += len(part)
    assert received == BIG_SIZE
    assert "sha256:" + h.hexdigest() == digest

    # Range pulls: the head, a span across the first 16 MiB chunk boundary (and 1 MiB block boundaries),
    # the tail, and an open-ended range (what a resuming client sends).
    ranges = [
        (0, MIB - 1),
        (CHUNK - MIB - 12345, CHUNK + MIB + 6789),
        (BIG_SIZE - 4096, BIG_SIZE - 1),
    ]
    for first, last in ranges:
        r = registry.get(blob_url, headers={"Range": f"bytes={first}-{last}"}, follow_redirects=True)
        assert r.status_code == 206, f"Range bytes={first}-{last}: {r.status_code}"
        assert r.headers["Content-Range"] == f"bytes {first}-{last}/{BIG_SIZE}"
        assert int(r.headers["Content-Length"]) == last - first + 1
        assert r.content == big_bytes(first, last + 1), f"Range bytes={first}-{last}: wrong bytes"

    first = BIG_SIZE - 3 * MIB - 7
    r = registry.get(blob_url, headers={"Range": f"bytes={first}-"}, follow_redirects=True)
    assert r.status_code == 206
    assert r.headers["Content-Range"] == f"bytes {first}-{BIG_SIZE - 1}/{BIG_SIZE}"
    assert r.content == big_bytes(first, BIG_SIZE)
