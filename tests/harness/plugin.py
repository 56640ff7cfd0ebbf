"""pytest plugin shared by every test: a PostgreSQL database per test (or module), a Redis key prefix,
and a real registry process on a free port.

PostgreSQL is the machine's (127.0.0.1:5432, trust auth) unless BERTH_TEST_PG_* say otherwise; each
database is created fresh and dropped afterwards, so runs never collide.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import yaml

from tests.harness.registry_auth import RegistryTokenAuth, fetch_token
from tests.harness.waiting import eventually

if TYPE_CHECKING:
    from tests.harness.dockerd import DockerDaemon
    from tests.harness.seaweedfs import SeaweedFSProcess
    from tests.harness.token import TokenServiceProcess

PG_HOST = os.environ.get("BERTH_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("BERTH_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("BERTH_TEST_PG_USER", "postgres")
REDIS_URL = os.environ.get("BERTH_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REPO_ROOT = Path(__file__).resolve().parents[2]
ADMIN_CREDENTIALS = ("admin", "Harbor12345")
# The project every test repository lives in (`library` is created by the token service at first start).
TEST_PROJECT = "test"


def _psql(sql: str) -> None:
    subprocess.run(
        [
            "psql",
            "-h",
            PG_HOST,
            "-p",
            str(PG_PORT),
            "-U",
            PG_USER,
            "-d",
            "postgres",
            "-v",
            "ON_ERROR_STOP=1",
            "-qc",
            sql,
        ],
        check=True,
        capture_output=True,
    )


class TestDatabase:
    __test__ = False  # a fixture helper, not a test class

    def __init__(self) -> None:
        self.name = f"berth_t_{uuid.uuid4().hex[:12]}"

    def create(self) -> TestDatabase:
        _psql(f'CREATE DATABASE "{self.name}"')
        return self

    def drop(self) -> None:
        _psql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def settings_dict(self) -> dict[str, object]:
        # A small pool: many test processes share one server's connection limit.
        return {"host": PG_HOST, "port": PG_PORT, "username": PG_USER, "name": self.name, "max_open_conns": 8}

    def dsn(self) -> str:
        return f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{self.name}"


def start_service(module: str, config_path: Path, output: Path, ready: Callable[[], bool]) -> subprocess.Popen[bytes]:
    """`python -m <module>` with only `config_path` as configuration; returns once `ready()` holds."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BERTH_")}
    env["BERTH_CONFIG"] = str(config_path)
    with output.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", module], cwd=REPO_ROOT, env=env, stdout=out, stderr=out)
    deadline = time.monotonic() + 30
    while not ready():
        if proc.poll() is not None:
            raise RuntimeError(f"{module} exited with {proc.returncode}:\n{output.read_text()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"{module} was not ready within 30 s:\n{output.read_text()}")
        time.sleep(0.05)
    return proc


def stop_service(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> int:
    proc.send_signal(sig)
    try:
        return proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_port_block(size: int) -> int:
    """The first of `size` consecutive free ports (replica i of a service listens on port + i), taken
    below the kernel's ephemeral range: a port next to a free_port() answer may be handed to any outgoing
    connection before the service binds it, a port below that range only to an explicit bind."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for _ in range(500):
        base = random.randrange(10_000, low - size)
        if all(_bindable(port) for port in range(base, base + size)):
            return base
    raise RuntimeError(f"no {size} consecutive free ports between 10000 and {low}")


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def http_ready(url: str, *statuses: int) -> Callable[[], bool]:
    def ready() -> bool:
        try:
            return httpx.get(url, timeout=1).status_code in statuses
        except httpx.HTTPError:
            return False

    return ready


class ServiceProcess:
    """One Berth service as a real process, configured by its own berth.yml in `workdir`."""

    module = ""
    output_name = "service.log"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = workdir / "berth.yml"
        self.log_path = workdir / self.output_name
        self._proc: subprocess.Popen[bytes] | None = None

    def write_config(self, config: dict[str, Any]) -> None:
        # Tests read a service's stdout; tests of the log collector turn shipping on themselves.
        config.setdefault("log", {"level": "info", "format": "json", "collector": {"protocol": "none"}})
        self.config_path.write_text(yaml.safe_dump(config))

    def ready(self) -> bool:
        raise NotImplementedError

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    def start(self) -> None:
        self._proc = start_service(self.module, self.config_path, self.log_path, self.ready)

    def stop(self, sig: int | None = None, *, kill: bool = False) -> int:
        if self._proc is None:
            return 0
        code = stop_service(self._proc, sig or (signal.SIGKILL if kill else signal.SIGTERM))
        self._proc = None
        return code

    def restart(self, *, kill: bool = False) -> None:
        self.stop(kill=kill)
        self.start()

    def logs(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def settled_logs(self) -> str:
        """The log once it holds the lines of every request answered so far. A service writes its lines
        after the response has gone (one write to stdout per event-loop iteration), so a client can hold
        its answer before the line is in the file: a marker request is sent, and its line, written after
        theirs, awaited."""
        url = getattr(self, "url", None)
        assert isinstance(url, str), f"{type(self).__name__} has no url to send the log marker to"
        marker = f"log-marker-{uuid.uuid4().hex}"
        httpx.get(f"{url}/log-marker", headers={"X-Request-Id": marker}, timeout=30)
        return eventually(
            lambda: text if marker in (text := self.logs()) else "", f"{self.module}'s log line of {marker}"
        )


class RegistryProcess(ServiceProcess):
    """`python -m services.registry` with its own berth.yml, database and storage directory."""

    module = "services.registry"
    output_name = "registry.log"

    def __init__(
        self,
        workdir: Path,
        database: TestDatabase,
        *,
        token: TokenServiceProcess | None = None,
        log_collector: dict[str, object] | None = None,
        storage: dict[str, object] | None = None,
        settings: dict[str, object] | None = None,
        **registry_overrides: object,
    ) -> None:
        """`storage`: berth.yml's storage section (e.g. `SeaweedFSProcess.storage_config`); default a
        directory of its own. `settings`: more top-level sections (metric, ...)."""
        super().__init__(workdir)
        self.token = token
        self.database = database
        self.storage_root = workdir / "storage"
        # Its own Redis keys (the event stream); a core reading its events is given the same prefix.
        self.redis_prefix = f"berth-test-{uuid.uuid4().hex[:8]}:"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # The registry verifies tokens with the token service's certificate and sends clients to its realm;
        # without one every request is refused (401), as a registry whose token service is missing.
        certificate = token.certificate_path if token is not None else workdir / "no-token-service.crt"
        config = {
            "external_url": token.url if token is not None else "http://127.0.0.1:1",
            "token": {"certificate": str(certificate)},
            "database": database.settings_dict(),
            "redis": {"url": REDIS_URL, "key_prefix": self.redis_prefix},
            "storage": storage or {"filesystem": {"rootdirectory": str(self.storage_root)}},
            "registry": {"host": "127.0.0.1", "port": self.port, **registry_overrides},
        }
        if log_collector is not None:
            config["log"] = {"level": "info", "format": "json", "collector": log_collector}
        config.update(settings or {})
        self.write_config(config)

    def ready(self) -> bool:
        return http_ready(self.url + "/v2/", 200, 401)()

    def client(self, base_url: str | None = None) -> httpx.Client:
        """A client of this registry (or of a proxy in front of it) running the token flow as admin."""
        assert self.token is not None, "this registry has no token service"
        return admin_client(base_url or self.url, self.token)

    def bearer(self, *scopes: str) -> str:
        """An admin token for `scopes`, for requests made without httpx."""
        assert self.token is not None, "this registry has no token service"
        return fetch_token(f"{self.token.url}/service/token", "berth-registry", list(scopes), ADMIN_CREDENTIALS)


@contextlib.contextmanager
def fresh_database() -> Iterator[TestDatabase]:
    """A database of its own, dropped afterwards."""
    db = TestDatabase().create()
    try:
        yield db
    finally:
        db.drop()


@pytest.fixture
def pg_database() -> Iterator[TestDatabase]:
    with fresh_database() as db:
        yield db


@pytest.fixture(scope="module")
def module_database() -> Iterator[TestDatabase]:
    with fresh_database() as db:
        yield db


@pytest.fixture(scope="module")
def token_server(
    module_database: TestDatabase, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TokenServiceProcess]:
    """The token service of the module's registry; it also creates the admin user and `library`."""
    from tests.harness.token import TokenServiceProcess, add_project

    proc = TokenServiceProcess(tmp_path_factory.mktemp("token"), module_database)
    proc.start()
    add_project(module_database, TEST_PROJECT)
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def registry_server(
    module_database: TestDatabase, token_server: TokenServiceProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RegistryProcess]:
    """One registry process per test module; tests keep apart by using their own repository names."""
    proc = RegistryProcess(tmp_path_factory.mktemp("registry"), module_database, token=token_server)
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


def admin_client(base_url: str, token: TokenServiceProcess) -> httpx.Client:
    """An httpx client that runs the Docker token flow as the admin user."""
    auth = RegistryTokenAuth(f"{token.url}/service/token", "berth-registry", ADMIN_CREDENTIALS)
    return httpx.Client(base_url=base_url, timeout=60, auth=auth)


@pytest.fixture
def registry(registry_server: RegistryProcess) -> Iterator[httpx.Client]:
    with registry_server.client() as client:
        yield client


@pytest.fixture
def repo_name() -> str:
    return f"{TEST_PROJECT}/{uuid.uuid4().hex[:10]}"


@dataclass(frozen=True)
class RegistryEndpoint:
    """Where clients reach the registry, as they name it in image references (`<host>/<project>/<repo>`),
    with the token service and database behind it (for accounts and projects)."""

    host: str
    token_url: str  # the token service's /service/token, as the registry's challenge names it
    database: TestDatabase

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def client(self) -> httpx.Client:
        """An httpx client of the registry API running the token flow as the admin."""
        auth = RegistryTokenAuth(self.token_url, "berth-registry", ADMIN_CREDENTIALS)
        return httpx.Client(base_url=self.url, timeout=60, auth=auth)


@pytest.fixture(scope="module")
def registry_endpoint(registry_server: RegistryProcess, module_database: TestDatabase) -> RegistryEndpoint:
    """The one place client e2e tests (docker, podman, oras) learn where the registry is: here the registry
    process itself, whose challenge sends clients to the token service; tests/e2e overrides it with the
    whole stack's proxy address."""
    assert registry_server.token is not None
    return RegistryEndpoint(f"127.0.0.1:{registry_server.port}", registry_server.token.token_url(), module_database)


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFSProcess]:
    """One SeaweedFS S3 endpoint for the session (tests.harness.seaweedfs); tests make their own buckets."""
    from tests.harness.seaweedfs import SeaweedFSProcess

    with SeaweedFSProcess(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server


@pytest.fixture(scope="module")
def s3_bucket(seaweedfs: SeaweedFSProcess) -> str:
    """An empty bucket of the session's SeaweedFS, for the tests of one module."""
    return seaweedfs.make_bucket()


@pytest.fixture(scope="session")
def docker_daemon() -> Iterator[DockerDaemon]:
    """A private dockerd for the session (see tests.harness.dockerd); skipped only without root."""
    from tests.harness.dockerd import DockerDaemon, cannot_run_reason

    reason = cannot_run_reason()
    if reason is not None:
        pytest.skip(reason)
    daemon = DockerDaemon()
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()
