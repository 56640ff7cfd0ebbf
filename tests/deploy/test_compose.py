"""The Compose deployment for real: images built without an image registry, install.sh, docker login, push and
pull through the proxy container, the logs in the log container, replicas (berth.yml's, then `--scale`)
each answering through nginx, `docker-compose down -v`.

It runs against a Docker daemon of its own (tests.harness.dockerd: Debian's dockerd with the vfs
storage driver and no iptables), started and stopped here, so nothing of the machine's Docker is touched.
The images are built from `dist/bundle` (`python -m services.deploy.bundle`, which makes the wheels and reuses
the debootstrap tarball cached under dist/), then install.sh does what an operator's install does.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.harness.dockerd import DockerDaemon, cannot_run_reason, find_docker_cli

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
SERVICES = ("log", "postgresql", "redis", "registry", "token", "core", "jobservice", "proxy")
HEALTHY_TIMEOUT = 240.0
LOG_TIMEOUT = 30.0
# berth.yml's replicas for the test; `--scale registry=3` later adds one more.
REPLICAS = {"registry": 2, "core": 2}
# Long enough for nginx's resolver to see a new container (valid=5s) and for round robin to reach it.
BALANCE_TIMEOUT = 60.0
# Container creation on the vfs storage driver copies the image's files: more than compose's 60 s default.
COMPOSE_HTTP_TIMEOUT = "600"
UPSTREAM = re.compile(r'"path":"(?P<path>[^"]*)".*?"upstream":"(?P<upstream>[^"]*)"')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def dockerd() -> Iterator[DockerDaemon]:
    reason = cannot_run_reason()
    if reason is not None:
        pytest.skip(reason)
    missing = [tool for tool in ("debootstrap", "docker-compose") if shutil.which(tool) is None]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} not installed; .ci/run installs them (apt-get install debootstrap docker-compose)"
        )
    daemon = DockerDaemon()
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()


class Deployment:
    """One compose project in `directory`, driven with the daemon's CLI and Debian's docker-compose."""

    def __init__(self, daemon: DockerDaemon, directory: Path, project: str) -> None:
        self.daemon = daemon
        self.directory = directory
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "COMPOSE_"))}
        env.update(
            DOCKER=find_docker_cli() or "docker",
            DOCKER_HOST=daemon.host,
            DOCKER_CONFIG=str(daemon.config_dir),
            COMPOSE_PROJECT_NAME=project,
            COMPOSE_HTTP_TIMEOUT=COMPOSE_HTTP_TIMEOUT,
        )
        self.env = env

    def run(self, *cmd: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(cmd, cwd=self.directory, env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and done.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done

    def compose(self, *args: str, timeout: float = 180, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("docker-compose", *args, timeout=timeout, check=check)

    def docker(self, *args: str, timeout: float = 120, input: str | None = None) -> subprocess.CompletedProcess[str]:
        done = self.daemon.run(*args, timeout=timeout, input=input)
        if done.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done

    def health(self) -> dict[str, list[str]]:
        """Service name → health status of each of its containers (none listed when compose has none)."""
        ids = self.compose("ps", "-q").stdout.split()
        states: dict[str, list[str]] = {name: [] for name in SERVICES}
        if ids:
            fmt = (
                '{{index .Config.Labels "com.docker.compose.service"}} '
                "{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}"
            )
            for line in self.docker("inspect", "-f", fmt, *ids).stdout.splitlines():
                name, _, status = line.partition(" ")
                states.setdefault(name, []).append(status)
        return states

    def wait_healthy(self, replicas: dict[str, int]) -> None:
        """Until every service has its number of containers (1 unless `replicas` says), each healthy."""
        deadline = time.monotonic() + HEALTHY_TIMEOUT
        while True:
            states = self.health()
            if all(statuses == ["healthy"] * replicas.get(name, 1) for name, statuses in states.items()):
                return
            if time.monotonic() > deadline:
                logs = self.compose("logs", "--no-color", "--tail", "30", "log", check=False).stdout
                raise AssertionError(f"not all healthy after {HEALTHY_TIMEOUT:.0f} s: {states}\n{logs}")
            time.sleep(1)

    def addresses(self, service: str) -> set[str]:
        """The compose-network IP address of each of `service`'s containers, from `docker inspect`."""
        ids = self.compose("ps", "-q", service).stdout.split()
        fmt = "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}"
        return set(self.docker("inspect", "-f", fmt, *ids).stdout.split())

    def upstreams(self, path_prefix: str) -> set[str]:
        """The addresses nginx sent requests under `path_prefix` to, from the `upstream` field of its access
        lines (in the log container's proxy.log); a retried request lists each address it tried."""
        found: set[str] = set()
        for match in UPSTREAM.finditer(self.log_file("proxy")):
            if match["path"].startswith(path_prefix):
                found |= {a.strip().rsplit(":", 1)[0] for a in match["upstream"].split(",") if a.strip()}
        return found

    def wait_balanced(self, url: str, service: str, path_prefix: str, expected: set[str]) -> None:
        """Requests to `url` until nginx's access log shows each address in `expected` answering one."""
        deadline = time.monotonic() + BALANCE_TIMEOUT
        while not expected <= (seen := self.upstreams(path_prefix)):
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{service}: nginx reached {sorted(seen)} in {BALANCE_TIMEOUT:.0f} s, not all of {sorted(expected)}"
                )
            for _ in range(len(expected) * 2):
                try:
                    urllib.request.urlopen(url, timeout=10).close()
                except urllib.error.HTTPError:
                    pass  # the registry's 401 challenge is an answer too
            time.sleep(0.5)

    def log_file(self, program: str) -> str:
        """The log container's file for `program` (empty while it does not exist yet)."""
        done = self.compose("exec", "-T", "log", "sh", "-c", f"cat /var/log/berth/{program}.log 2>/dev/null || true")
        return done.stdout

    def wait_logged(self, program: str, needle: str) -> str:
        deadline = time.monotonic() + LOG_TIMEOUT
        while True:
            text = self.log_file(program)
            if needle in text:
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"{needle!r} not in {program}.log after {LOG_TIMEOUT:.0f} s:\n{text[-3000:]}")
            time.sleep(0.5)


@pytest.fixture(scope="module")
def bundle() -> Path:
    """dist/bundle: the wheels of this tree and the Debian root filesystem (debootstrap once, then cached)."""
    subprocess.run([sys.executable, "-m", "services.deploy.bundle", "--dist", str(REPO / "dist")], check=True, cwd=REPO)
    return REPO / "dist" / "bundle"


def install_directory(bundle: Path, target: Path) -> None:
    """A copy of the bundle as an operator unpacks it (hard links: the rootfs tarball is 300 MB)."""

    def link(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    ignore = shutil.ignore_patterns("config", ".env", "berth.yml", "docker-compose.override.yml")
    shutil.copytree(bundle, target, copy_function=link, ignore=ignore)


def test_compose_deployment(dockerd: DockerDaemon, bundle: Path, tmp_path: Path) -> None:
    run_id = uuid.uuid4().hex[:10]
    directory = tmp_path / "berth"
    install_directory(bundle, directory)
    http_port, log_port = free_port(), free_port()
    config = yaml.safe_load((directory / "berth.yml.tmpl").read_text())
    config["http"]["port"] = http_port
    config["log"]["collector"]["port"] = log_port
    for service, count in REPLICAS.items():
        config[service]["replicas"] = count
    (directory / "berth.yml").write_text(yaml.safe_dump(config))

    project = f"berthtest{run_id}"
    berth = Deployment(dockerd, directory, project)
    failed = True
    try:
        berth.run("./install.sh", timeout=900)
        berth.wait_healthy(REPLICAS)
        # All 10 containers (two registries, two cores), each healthy, and none that compose runs besides them.
        assert {name: len(statuses) for name, statuses in berth.health().items()} == {
            name: REPLICAS.get(name, 1) for name in SERVICES
        }
        # The services run as berth (uid 10000), nginx too: it reads the blob files the registry writes.
        for service in ("log", "registry", "token", "core", "jobservice", "proxy"):
            assert berth.compose("exec", "-T", service, "id", "-u").stdout.strip() == "10000", service

        registry = f"127.0.0.1:{http_port}"
        berth.docker("login", registry, "-u", "admin", "--password-stdin", input="Harbor12345\n")
        image = f"{registry}/library/compose-test:{run_id}"
        context = tmp_path / "image"
        context.mkdir()
        (context / "run.txt").write_text(f"compose test {run_id}\n")  # a layer no earlier run pushed
        (context / "Dockerfile").write_text("FROM scratch\nCOPY run.txt /\n")
        berth.docker("build", "-t", image, str(context))
        berth.docker("push", image)
        berth.docker("rmi", image)
        berth.docker("pull", image)
        pulled = json.loads(berth.docker("image", "inspect", image).stdout)
        assert pulled[0]["RepoDigests"], pulled
        # Garbage collection runs in the jobservice: it sees the blobs the registry wrote and may delete them.
        config_hex = pulled[0]["Id"].split(":", 1)[1]  # the image's config blob, pushed by the registry
        blob = f"/data/registry/blobs/sha256/{config_hex[:2]}/{config_hex}/data"
        berth.compose("exec", "-T", "jobservice", "sh", "-c", f"test -f {blob} && test -w /data/registry")

        # A request through the proxy to core, with an id of this run: it must reach core's log and nginx's.
        request_id = f"compose-{run_id}"
        req = urllib.request.Request(f"http://{registry}/api/v2.0/systeminfo", headers={"X-Request-Id": request_id})
        with urllib.request.urlopen(req, timeout=10) as answer:
            assert answer.status == 200
        berth.wait_logged("core", request_id)
        berth.wait_logged("proxy", request_id)
        # Core sees the registry's volume (mounted read-only) and the token service's certificate.
        admin = {"Authorization": "Basic " + base64.b64encode(b"admin:Harbor12345").decode()}
        req = urllib.request.Request(f"http://{registry}/api/v2.0/systeminfo/volumes", headers=admin)
        with urllib.request.urlopen(req, timeout=10) as answer:
            storage = json.load(answer)["storage"]
        assert len(storage) == 1 and 0 < storage[0]["free"] <= storage[0]["total"], storage
        with urllib.request.urlopen(f"http://{registry}/api/v2.0/systeminfo/getcert", timeout=10) as answer:
            assert answer.read().startswith(b"-----BEGIN CERTIFICATE-----")
        # The push's manifest PUT, as the registry and the proxy logged it.
        manifest_path = f"/v2/library/compose-test/manifests/{run_id}"
        berth.wait_logged("registry", manifest_path)
        berth.wait_logged("proxy", manifest_path)
        # The jobservice's lines, shipped by Docker's syslog driver with its tag: the scheduler's leader at start.
        berth.wait_logged("jobservice", "scheduler_leader")
        # What the README tells an operator to run.
        assert manifest_path in berth.compose("exec", "-T", "log", "berth", "logs", "registry").stdout

        # berth.yml's replicas: nginx sends requests to both registries and both cores (their addresses as
        # `docker inspect` has them, in the `upstream` field of its access lines).
        registries = berth.addresses("registry")
        assert len(registries) == 2, registries
        berth.wait_balanced(f"http://{registry}/v2/", "registry", "/v2/", registries)
        cores = berth.addresses("core")
        assert len(cores) == 2, cores
        berth.wait_balanced(f"http://{registry}/api/v2.0/health", "core", "/api/", cores)
        # --scale on the command line wins over berth.yml's; nginx finds the third one by DNS, unreloaded.
        berth.compose("up", "-d", "--scale", "registry=3", timeout=900)
        berth.wait_healthy({**REPLICAS, "registry": 3})
        third = berth.addresses("registry") - registries
        assert len(third) == 1, (third, registries)
        berth.wait_balanced(f"http://{registry}/v2/", "registry", "/v2/", registries | third)
        failed = False
    except BaseException:
        print(berth.compose("ps", check=False).stdout)
        print(berth.compose("logs", "--no-color", "--tail", "40", check=False).stdout[-20000:])
        raise
    finally:
        # Without .env, install.sh stopped before prepare: there is no compose project to take down.
        if (directory / ".env").exists():
            down = berth.compose("down", "-v", "--remove-orphans", timeout=180, check=False)
            if not failed:
                assert down.returncode == 0, down.stderr
    volumes = berth.docker("volume", "ls", "-q", "--filter", f"label=com.docker.compose.project={project}").stdout
    assert volumes.split() == []
