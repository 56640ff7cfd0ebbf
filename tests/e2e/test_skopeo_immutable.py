"""skopeo against a real registry process: a push that would move an immutable tag is refused, and the
refusal's message (Harbor's, naming the rule) reaches the client; the same image again is accepted."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.harness.plugin import RegistryProcess, TestDatabase
from tests.harness.token import add_project, query

from . import ocilayout

pytestmark = pytest.mark.e2e


def skopeo_copy(tmp_path: Path, layout: ocilayout.Layout, dest: str) -> subprocess.CompletedProcess[str]:
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
    binary = shutil.which("skopeo") or pytest.fail("skopeo is not installed: apt-get install -y skopeo")
    creds = ["--dest-tls-verify=false", "--dest-creds=admin:Harbor12345"]
    return subprocess.run(
        [binary, "--policy", str(policy), "copy", *creds, layout.ref(), dest],
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_moving_an_immutable_tag_is_refused_with_harbors_message(
    registry_server: RegistryProcess, module_database: TestDatabase, tmp_path: Path
) -> None:
    project = add_project(module_database, "frozen")
    [row] = query(
        module_database,
        "INSERT INTO immutable_tag_rules (project_id, action, template, tag_selectors, scope_selectors)"
        " VALUES ($1, 'immutable', 'immutable_template', $2, $3) RETURNING id",
        project.id,
        json.dumps([{"kind": "doublestar", "decoration": "matches", "pattern": "v*"}]),
        json.dumps({"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]}),
    )
    dest = f"docker://127.0.0.1:{registry_server.port}/frozen/team/app:v1"
    first = ocilayout.write_image(tmp_path / "one", "v1", seed="immutable-one")
    second = ocilayout.write_image(tmp_path / "two", "v1", seed="immutable-two")

    pushed = skopeo_copy(tmp_path, first, dest)
    assert pushed.returncode == 0, pushed.stderr
    again = skopeo_copy(tmp_path, first, dest)
    assert again.returncode == 0, again.stderr

    refused = skopeo_copy(tmp_path, second, dest)
    assert refused.returncode != 0
    assert (
        f"Failed to process request due to 'team/app:v1' configured as immutable. (immutable tag rule {row['id']})"
        in refused.stderr
    ), refused.stderr
