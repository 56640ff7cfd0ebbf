"""skopeo against a real registry process: a push past the project's storage quota is refused, and Harbor's
message ("adding N of storage resource, which when updated to current usage of U will exceed the
configured upper limit of L.") reaches the client; nothing of it is counted; with a higher limit the same
copy goes through."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness.plugin import RegistryProcess, TestDatabase
from tests.harness.token import add_project, query

from . import ocilayout
from .test_skopeo_immutable import skopeo_copy

pytestmark = pytest.mark.e2e


def used(db: TestDatabase, project_id: int) -> int:
    return int(query(db, "SELECT used FROM quotas WHERE project_id = $1", project_id)[0]["used"])


def test_a_push_past_the_quota_is_refused_with_harbors_message(
    registry_server: RegistryProcess, module_database: TestDatabase, tmp_path: Path
) -> None:
    project = add_project(module_database, "capped")
    dest = f"docker://127.0.0.1:{registry_server.port}/capped/app"
    first = ocilayout.write_image(tmp_path / "one", "v1", seed="quota-one")
    second = ocilayout.write_image(tmp_path / "two", "v2", seed="quota-two")

    pushed = skopeo_copy(tmp_path, first, f"{dest}:v1")
    assert pushed.returncode == 0, pushed.stderr
    usage = used(module_database, project.id)
    assert usage > 0
    query(module_database, "UPDATE quotas SET hard = $2 WHERE project_id = $1", project.id, usage + 10)

    refused = skopeo_copy(tmp_path, second, f"{dest}:v2")
    assert refused.returncode != 0
    assert "of storage resource, which when updated to current usage of" in refused.stderr, refused.stderr
    assert "will exceed the configured upper limit of" in refused.stderr, refused.stderr
    assert used(module_database, project.id) == usage

    query(module_database, "UPDATE quotas SET hard = -1 WHERE project_id = $1", project.id)
    again = skopeo_copy(tmp_path, second, f"{dest}:v2")
    assert again.returncode == 0, again.stderr
    assert used(module_database, project.id) > usage
