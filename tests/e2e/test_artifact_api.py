"""End-to-end through nginx and the whole stack: an image skopeo pushes appears in the REST API with its
tags and type, and once deleted through the API skopeo can no longer pull it."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.harness.plugin import RegistryEndpoint
from tests.harness.stack import StackProcess

from . import ocilayout

pytestmark = pytest.mark.e2e

ADMIN = ("admin", "Harbor12345")


def skopeo(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
    binary = shutil.which("skopeo") or pytest.fail("skopeo is not installed: apt-get install -y skopeo")
    return subprocess.run([binary, "--policy", str(policy), *args], capture_output=True, text=True, timeout=180)


def test_pushed_image_in_the_api_then_deleted_through_it(
    stack: StackProcess, registry_endpoint: RegistryEndpoint, tmp_path: Path
) -> None:
    layout = ocilayout.write_image(tmp_path / "src", "v1", architecture="arm64", seed="api")
    dest = f"docker://{registry_endpoint.host}/library/apps/web:v1"
    creds = "--dest-creds=admin:Harbor12345"
    pushed = skopeo(tmp_path, "copy", "--dest-tls-verify=false", creds, layout.ref(), dest)
    assert pushed.returncode == 0, pushed.stderr
    second = f"docker://{registry_endpoint.host}/library/apps/web:latest"
    pushed = skopeo(tmp_path, "copy", "--dest-tls-verify=false", creds, layout.ref(), second)
    assert pushed.returncode == 0, pushed.stderr

    with httpx.Client(base_url=f"{stack.url}/api/v2.0", auth=ADMIN, timeout=30) as api:
        repos = api.get("/projects/library/repositories", params={"q": "name=~apps"}).json()
        assert [r["name"] for r in repos] == ["library/apps/web"] and repos[0]["artifact_count"] == 1
        r = api.get("/projects/library/repositories/apps%252Fweb/artifacts", params={"with_tag": "true"})
        assert r.status_code == 200, r.text
        (artifact,) = r.json()
        assert artifact["digest"] == layout.digest and artifact["type"] == "IMAGE"
        assert sorted(t["name"] for t in artifact["tags"]) == ["latest", "v1"]
        assert artifact["extra_attrs"]["architecture"] == "arm64"

        deleted = api.delete(f"/projects/library/repositories/apps%252Fweb/artifacts/{layout.digest}")
        assert deleted.status_code == 200, deleted.text
        assert api.get("/projects/library/repositories/apps%252Fweb/artifacts/v1").status_code == 404

    pulled = skopeo(tmp_path, "copy", "--src-tls-verify=false", dest, f"oci:{tmp_path / 'dst'}:v1")
    assert pulled.returncode != 0
    assert "manifest unknown" in pulled.stderr.lower() or "not found" in pulled.stderr.lower(), pulled.stderr
