"""Every request leaves one JSON line with its request id, which the client gets back."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.harness.plugin import RegistryProcess

pytestmark = pytest.mark.integration


def logged(server: RegistryProcess, request_id: str) -> dict[str, object]:
    lines = (json.loads(line) for line in server.settled_logs().splitlines() if line.startswith("{"))
    found: dict[str, object] | None = next((entry for entry in lines if entry.get("request_id") == request_id), None)
    assert found is not None, f"no log line carries request id {request_id}"
    return found


def test_request_id_is_echoed_and_logged(
    registry: httpx.Client, registry_server: RegistryProcess, repo_name: str
) -> None:
    r = registry.get(f"/v2/{repo_name}/tags/list", headers={"X-Request-Id": "req-from-nginx-1"})

    assert r.status_code == 404
    assert r.headers["X-Request-Id"] == "req-from-nginx-1"
    line = logged(registry_server, "req-from-nginx-1")
    assert line["event"] == "request"
    assert line["service"] == "registry"
    assert line["method"] == "GET"
    assert line["path"] == f"/v2/{repo_name}/tags/list"
    assert line["status"] == 404
    assert isinstance(line["duration_ms"], float | int)
    assert line["level"] == "info"
    assert "time" in line


def test_a_request_id_is_made_when_none_is_sent(registry: httpx.Client, registry_server: RegistryProcess) -> None:
    r = registry.get("/v2/")

    request_id = r.headers["X-Request-Id"]
    assert len(request_id) >= 16
    assert logged(registry_server, request_id)["event"] == "request"
