"""A Helm chart's additions read from its archive: the chart's own README.md, values.yaml and dependencies
(Chart.yaml's, else requirements.yaml's), never a vendored subchart's; bounded; a broken archive keeps none."""

from __future__ import annotations

import io
import tarfile

from services.registry.chart_additions import MAX_FILE_BYTES, parse_chart

CHART_YAML = """apiVersion: v2
name: webapp
version: 1.2.3
dependencies:
  - name: redis
    version: 17.0.0
    repository: oci://registry.example.com/charts
  - name: common
    version: "2"
"""


def archive(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def test_the_charts_own_files_and_dependencies() -> None:
    data = archive(
        {
            "webapp/charts/redis/values.yaml": b"sub: chart\n",
            "webapp/charts/redis/README.md": b"# not this one\n",
            "webapp/Chart.yaml": CHART_YAML.encode(),
            "webapp/values.yaml": b"replicaCount: 3\n",
            "webapp/README.md": b"# Web app\n",
        }
    )
    assert parse_chart(data) == {
        "readme.md": "# Web app\n",
        "values.yaml": "replicaCount: 3\n",
        "dependencies": [
            {"name": "redis", "version": "17.0.0", "repository": "oci://registry.example.com/charts"},
            {"name": "common", "version": "2", "repository": ""},
        ],
    }


def test_a_v1_chart_lists_requirements_and_missing_files_are_left_out() -> None:
    data = archive(
        {
            "old/Chart.yaml": b"apiVersion: v1\nname: old\nversion: 0.1.0\n",
            "old/requirements.yaml": b"dependencies:\n  - name: mysql\n    version: 1.0.0\n    repository: '@stable'\n",
        }
    )
    assert parse_chart(data) == {"dependencies": [{"name": "mysql", "version": "1.0.0", "repository": "@stable"}]}


def test_an_oversized_file_is_not_kept_and_a_broken_archive_keeps_nothing() -> None:
    data = archive({"big/values.yaml": b"x" * (MAX_FILE_BYTES + 1), "big/Chart.yaml": b"name: big\n"})
    assert parse_chart(data) == {"dependencies": []}
    assert parse_chart(b"not a gzip at all") is None
    assert parse_chart(archive({"x/Chart.yaml": b"dependencies: [\n"})) == {"dependencies": []}
