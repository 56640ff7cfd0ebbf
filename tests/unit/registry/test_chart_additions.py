"""A Helm chart's additions read from its archive: the chart's own README.md, values.yaml and dependencies
(Chart.yaml's, else requirements.yaml's), never a vendored subchart's; bounded; a broken archive keeps none."""

from __future__ import annotations

import base64
import hashlib

from services.registry.chart_additions import MAX_FILE_BYTES, MAX_ICON_BYTES, parse_chart, read_chart
from tests.harness.oci import gzip_tar as archive

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


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def icon_of(icon: str, files: dict[str, bytes] | None = None) -> tuple[str, bytes] | None:
    chart = {"webapp/Chart.yaml": f"apiVersion: v2\nname: webapp\nversion: 1.0.0\nicon: '{icon}'\n".encode()}
    contents = read_chart(archive({**chart, **(files or {})}))
    assert contents is not None
    return None if contents.icon is None else (contents.icon.content_type, contents.icon.content)


def test_an_icon_the_chart_carries_is_kept_by_digest() -> None:
    assert icon_of("icon.png", {"webapp/icon.png": PNG}) == ("image/png", PNG)
    assert icon_of("./files/logo.png", {"webapp/files/logo.png": PNG}) == ("image/png", PNG)
    svg = b"<svg xmlns='http://www.w3.org/2000/svg'/>"
    assert icon_of("data:image/svg+xml;base64," + base64.b64encode(svg).decode()) == ("image/svg+xml", svg)
    assert icon_of("data:image/svg+xml,%3Csvg%2F%3E") == ("image/svg+xml", b"<svg/>")
    contents = read_chart(archive({"webapp/Chart.yaml": b"name: webapp\nicon: icon.png\n", "webapp/icon.png": PNG}))
    assert contents is not None and contents.icon is not None
    assert contents.icon.digest == "sha256:" + hashlib.sha256(PNG).hexdigest()


def test_no_icon_is_fetched_or_read_outside_the_chart() -> None:
    for icon in ("https://example.com/icon.png", "file:///etc/passwd", "/etc/passwd", "../other/icon.png"):
        assert icon_of(icon, {"webapp/icon.png": PNG, "other/icon.png": PNG}) is None, icon
    # Not what it says it is, too large, or not an image.
    assert icon_of("icon.png", {"webapp/icon.png": b"GIF89a..."}) is None
    assert icon_of("icon.png", {"webapp/icon.png": PNG + b"\x00" * MAX_ICON_BYTES}) is None
    assert icon_of("values.yaml", {"webapp/values.yaml": b"a: 1\n"}) is None
    assert icon_of("data:text/html;base64,PHNjcmlwdD4=") is None
    assert icon_of("data:image/png;base64,@@@") is None
