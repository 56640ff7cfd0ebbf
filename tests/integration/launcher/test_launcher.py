"""`python -m services.launcher` as a real process: refusals before anything starts, the whole stack behind
real nginx, a crashed child restarted, embedded PostgreSQL and Redis, and a clean stop."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e import ocilayout
from tests.harness.plugin import TestDatabase
from tests.harness.registry_auth import RegistryTokenAuth
from tests.harness.stack import ADMIN_PASSWORD, StackProcess, alive, descendants

pytestmark = pytest.mark.integration

EXIT_TIMEOUT = 60


def refusal(stack: StackProcess) -> tuple[int, list[str]]:
    """Run the launcher to its exit; its exit code and the lines it printed."""
    code = stack.launch().wait(timeout=EXIT_TIMEOUT)
    return code, stack.output().strip().splitlines()


def assert_nothing_started(stack: StackProcess) -> None:
    # The supervisor makes <data_volume>/run when it starts its first child; and no service port is bound.
    assert not (stack.data_volume / "run").exists()
    for port in stack.ports.values():
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))


def own_name() -> str:
    return Path(f"/proc/{os.getpid()}/comm").read_text().strip()


# --------------------------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("service", ["core", "jobservice"])
def test_a_taken_port_is_one_line_naming_port_key_and_holder(tmp_path: Path, service: str) -> None:
    stack = StackProcess(tmp_path, database=TestDatabase())
    port = stack.ports[service]
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        code, lines = refusal(stack)
    assert code == 2
    assert len(lines) == 1, lines
    line = lines[0]
    assert f"port {port} " in line
    assert f"{service}.port" in line
    assert f"{own_name()} (pid {os.getpid()})" in line
    assert str(stack.config_path) in line
    assert_nothing_started(stack)


def test_a_taken_syslog_udp_port_names_the_collector_key(tmp_path: Path) -> None:
    stack = StackProcess(tmp_path, database=TestDatabase())
    port = stack.ports["collector"]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.bind(("127.0.0.1", port))
        code, lines = refusal(stack)
    assert code == 2
    assert len(lines) == 1, lines
    assert f"UDP port {port} " in lines[0]
    assert "log.collector.port" in lines[0]
    assert f"(pid {os.getpid()})" in lines[0]
    assert_nothing_started(stack)


def test_two_keys_on_one_port_are_refused(tmp_path: Path) -> None:
    stack = StackProcess(tmp_path, database=TestDatabase())
    stack.config["core"]["port"] = stack.ports["token"]
    code, lines = refusal(stack)
    assert code == 2
    assert len(lines) == 1, lines
    assert "token.port" in lines[0]
    assert "core.port" in lines[0]
    assert_nothing_started(stack)


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({"registry": {"colour": "blue"}}, "registry.colour"),
        ({"http": {"port": "eighty"}}, "http.port"),
        ({"https": {"certificate": "{dir}/missing.crt", "private_key": "{dir}/missing.key"}}, "https.certificate"),
    ],
    ids=["unknown-key", "wrong-type", "missing-certificate"],
)
def test_a_broken_configuration_is_one_line_naming_key_and_file(
    tmp_path: Path, settings: dict[str, dict[str, str]], key: str
) -> None:
    formatted = {s: {k: v.format(dir=tmp_path) for k, v in kv.items()} for s, kv in settings.items()}
    stack = StackProcess(tmp_path, database=TestDatabase(), settings=formatted)
    code, lines = refusal(stack)
    assert code != 0
    assert len(lines) == 1, lines
    assert key in lines[0]
    assert str(stack.config_path) in lines[0]
    if key == "https.certificate":
        assert f"{tmp_path}/missing.crt" in lines[0]
    assert_nothing_started(stack)


# --------------------------------------------------------------------------------------------- the stack


def skopeo_push(stack: StackProcess, layout_dir: Path, repo: str, tag: str) -> None:
    skopeo = shutil.which("skopeo")
    assert skopeo is not None, "skopeo is not installed: apt-get install -y skopeo"
    policy = layout_dir.parent / "policy.json"
    policy.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
    dest = f"docker://127.0.0.1:{stack.http_port}/{repo}:{tag}"
    cmd = [skopeo, "--policy", str(policy), "copy", "--dest-tls-verify=false"]
    cmd += [f"--dest-creds=admin:{ADMIN_PASSWORD}", f"oci:{layout_dir}:{tag}", dest]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=False)
    assert result.returncode == 0, f"{result.stderr}\n{stack.diagnostics()}"


@pytest.fixture
def stack(pg_database: TestDatabase, tmp_path: Path) -> Iterator[StackProcess]:
    proc = StackProcess(tmp_path / "stack", database=pg_database)
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


def test_the_stack_serves_through_the_proxy_restarts_a_crash_and_stops_cleanly(
    stack: StackProcess, tmp_path: Path
) -> None:
    health = httpx.get(stack.url + "/api/v2.0/health", timeout=10)
    assert health.status_code == 200
    assert health.json()["status"] == "healthy"
    token = httpx.get(
        stack.url + "/service/token",
        params={"service": "berth-registry", "scope": "repository:library/app:pull,push"},
        auth=("admin", ADMIN_PASSWORD),
        timeout=30,
    )
    assert token.status_code == 200, token.text
    assert token.json()["token"]

    # The jobservice starts with token, core and registry (up before the proxy starts), answers its health
    # on jobservice.port, and its log lines reach the collector like every service's.
    jobservice = stack.status()["jobservice"]
    assert jobservice["state"] == "up"
    lines = stack.output().splitlines()
    up = next(i for i, line in enumerate(lines) if line.startswith("jobservice ") and " up " in line)
    proxy_starting = next(i for i, line in enumerate(lines) if line.startswith("proxy ") and " starting " in line)
    assert up < proxy_starting, lines
    assert f"http://127.0.0.1:{stack.ports['jobservice']}" in lines[up]
    jobs_health = httpx.get(f"http://127.0.0.1:{stack.ports['jobservice']}/healthz", timeout=10)
    assert jobs_health.status_code == 200
    assert jobs_health.json()["status"] == "ok"
    stack.wait_logged("jobservice", "scheduler_leader")

    before = stack.status()["registry"]
    assert before["state"] == "up"
    assert before["restarts"] == "0"
    os.kill(int(before["pid"]), signal.SIGKILL)
    after = stack.wait_status("registry", state="up", restarts="1")
    assert after["pid"] != before["pid"]

    layout = ocilayout.write_image(tmp_path / "layout", "v1", seed="launcher")
    skopeo_push(stack, tmp_path / "layout", "library/launched", "v1")
    # library is public: an anonymous pull, through the challenge and the token service, via the proxy.
    auth = RegistryTokenAuth(stack.url + "/service/token", "berth-registry", None)
    with httpx.Client(base_url=stack.url, auth=auth, timeout=30) as client:
        manifest = client.get("/v2/library/launched/manifests/v1", headers={"Accept": ocilayout.OCI_MANIFEST})
        assert manifest.status_code == 200
        assert manifest.headers["Docker-Content-Digest"] == layout.digest
        layer = layout.images[0].layers[0].digest
        blob = client.get(f"/v2/library/launched/blobs/{layer}")  # streamed by nginx (X-Accel-Redirect)
        assert blob.status_code == 200
        assert blob.content == layout.blobs[layer]

    children = descendants(stack.pid)
    assert children
    assert stack.stop(signal.SIGINT) == 0  # Ctrl-C
    assert [pid for pid in children if alive(pid)] == []
    # Every child stopped by the signal it was sent, the jobservice too (no exit code or SIGKILL noted).
    final = stack.status()
    assert {name: s["state"] for name, s in final.items()} == dict.fromkeys(final, "stopped"), stack.output()
    last = [line for line in stack.output().splitlines() if line.startswith("jobservice ")][-1]
    assert "exit code" not in last and "killed by" not in last, last


# --------------------------------------------------------------------------------------------- embedded


@pytest.fixture
def traversable_dir() -> Iterator[Path]:
    """PostgreSQL runs as another user than root: its data_volume's parents must be searchable, which
    pytest's private temp directories are not."""
    path = Path(tempfile.mkdtemp(prefix="berth-embedded-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def test_embedded_postgresql_and_redis_start_and_stop_with_the_stack(traversable_dir: Path) -> None:
    stack = StackProcess(traversable_dir, database=None, redis_url=None)
    database_port = stack.config["database"]["port"]
    redis_port = int(stack.config["redis"]["url"].rsplit(":", 1)[1].split("/")[0])
    stack.start()
    try:
        status = stack.status()
        assert status["postgres"]["state"] == "up"
        assert status["redis"]["state"] == "up"
        assert status["jobservice"]["state"] == "up"
        assert (stack.data_volume / "postgresql" / "PG_VERSION").is_file()
        assert (stack.data_volume / "redis").is_dir()
        health = httpx.get(stack.url + "/api/v2.0/health", timeout=10).json()
        assert health["status"] == "healthy", health
        children = descendants(stack.pid)
    finally:
        code = stack.stop()
    assert code == 0
    assert [pid for pid in children if alive(pid)] == []
    for port in (database_port, redis_port):
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0, f"something still answers on {port}"
