"""The proxy as deployed: real nginx configured by `prepare_proxy`, in front of real registry, token, core and
log collector processes, driven by skopeo and httpx over HTTP and HTTPS."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from services.common.settings import (
    FilesystemStorageSettings,
    HttpSettings,
    HttpsSettings,
    LogCollectorSettings,
    LogSettings,
    RegistrySettings,
    Settings,
    StorageSettings,
)
from services.proxy.prepare import ProxyFiles, generate_self_signed, prepare_proxy
from services.proxy.render import Upstreams
from tests.e2e import ocilayout
from tests.harness.core import CoreProcess
from tests.harness.logcollector import LogCollectorProcess
from tests.harness.oci import push_blob
from tests.harness.plugin import (
    ADMIN_CREDENTIALS,
    TEST_PROJECT,
    RegistryProcess,
    TestDatabase,
    free_port,
)
from tests.harness.registry_auth import RegistryTokenAuth
from tests.harness.token import TokenServiceProcess

pytestmark = pytest.mark.integration

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
SKOPEO_TIMEOUT = 180
MIB = 1024 * 1024


class Nginx:
    """nginx started from `prepare_proxy`'s files, stopped with the fixture."""

    def __init__(self, files: ProxyFiles, probe: str) -> None:
        self.files = files
        self.output = files.directory / "nginx.out"
        with self.output.open("ab") as out:
            self.proc = subprocess.Popen(files.command(NGINX), stdout=out, stderr=out)
        deadline = time.monotonic() + 15
        while True:
            try:
                httpx.get(probe, timeout=1, verify=False)
                return
            except httpx.HTTPError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.stop()
                    raise RuntimeError(f"nginx did not start:\n{self.output.read_text()}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: fast shutdown of master and workers
            self.proc.wait(timeout=10)


@dataclass
class Stack:
    registry: RegistryProcess
    token: TokenServiceProcess
    core: CoreProcess
    collector: LogCollectorProcess
    http_url: str  # the HTTP-only proxy
    https_url: str  # the HTTPS proxy (a second nginx, whose plain port redirects)
    https_redirect_url: str
    certificate: Path
    workdir: Path

    def client(self, base_url: str | None = None, **kw: object) -> httpx.Client:
        """The token flow as admin, tokens fetched through the proxy."""
        auth = RegistryTokenAuth(f"{self.http_url}/service/token", "berth-registry", ADMIN_CREDENTIALS)
        return httpx.Client(base_url=base_url or self.http_url, timeout=60, auth=auth, **kw)  # type: ignore[arg-type]


def proxy_settings(workdir: Path, registry: RegistryProcess, collector: LogCollectorProcess, **kw: object) -> Settings:
    return Settings(
        data_volume=str(workdir),
        storage=StorageSettings(filesystem=FilesystemStorageSettings(rootdirectory=str(registry.storage_root))),
        registry=RegistrySettings(accel_redirect=True),
        log=LogSettings(collector=LogCollectorSettings(host="127.0.0.1", port=collector.port, protocol="udp")),
        source=str(workdir / "berth.yml"),
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def stack(
    module_database: TestDatabase, token_server: TokenServiceProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("proxy")
    http_port, https_port, redirect_port = free_port(), free_port(), free_port()
    http_url = f"http://127.0.0.1:{http_port}"
    collector = LogCollectorProcess(workdir / "collector")
    core = CoreProcess(workdir / "core", module_database)
    registry = RegistryProcess(workdir / "registry", module_database, token=token_server, accel_redirect=True)
    # Clients reach everything through the proxy: the registry's challenge sends them to its /service/token.
    config = yaml.safe_load(registry.config_path.read_text())
    config["external_url"] = http_url
    registry.config_path.write_text(yaml.safe_dump(config))
    registry.storage_root.mkdir(parents=True, exist_ok=True)
    started: list[Nginx] = []
    for service in (collector, core, registry):
        service.start()
    try:
        upstreams = Upstreams(
            registry=f"127.0.0.1:{registry.port}",
            token=f"127.0.0.1:{token_server.port}",
            core=f"127.0.0.1:{core.port}",
            log_collector=f"127.0.0.1:{collector.port}",
        )
        plain = prepare_proxy(
            proxy_settings(workdir / "plain", registry, collector, http=HttpSettings(port=http_port)), upstreams
        )
        started.append(Nginx(plain, http_url + "/v2/"))
        cert, key = workdir / "tls" / "server.crt", workdir / "tls" / "server.key"
        generate_self_signed("127.0.0.1", cert, key)
        tls = prepare_proxy(
            proxy_settings(
                workdir / "tls",
                registry,
                collector,
                http=HttpSettings(port=redirect_port),
                https=HttpsSettings(port=https_port, certificate=str(cert), private_key=str(key)),
            ),
            upstreams,
        )
        https_url = f"https://127.0.0.1:{https_port}"
        started.append(Nginx(tls, https_url + "/v2/"))
        yield Stack(
            registry=registry,
            token=token_server,
            core=core,
            collector=collector,
            http_url=http_url,
            https_url=https_url,
            https_redirect_url=f"http://127.0.0.1:{redirect_port}",
            certificate=cert,
            workdir=workdir,
        )
    finally:
        for nginx in started:
            nginx.stop()
        for service in (registry, core, collector):
            service.stop()


@pytest.fixture
def client(stack: Stack) -> Iterator[httpx.Client]:
    with stack.client() as c:
        yield c


@pytest.fixture
def repo_name() -> str:
    return f"{TEST_PROJECT}/proxy-{os.urandom(5).hex()}"


# --- the rendered configuration ----------------------------------------------------------------------


def test_rendered_configs_pass_nginx_t(stack: Stack) -> None:
    for name in ("plain", "tls"):
        directory = stack.workdir / name / "proxy"
        test = subprocess.run(
            [NGINX, "-t", "-p", str(directory), "-c", str(directory / "nginx.conf"), "-e", str(directory / "t.log")],
            capture_output=True,
            text=True,
            check=False,
        )
        assert test.returncode == 0, test.stderr
        assert "test is successful" in test.stderr


# --- registry through the proxy -----------------------------------------------------------------------


@dataclass
class Skopeo:
    binary: str
    policy: Path

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [self.binary, "--policy", str(self.policy), *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=SKOPEO_TIMEOUT, check=False)
        assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stderr}"
        return proc


@pytest.fixture(scope="module")
def skopeo(tmp_path_factory: pytest.TempPathFactory) -> Skopeo:
    binary = shutil.which("skopeo")
    if binary is None:
        pytest.fail("skopeo is not installed: `apt-get install -y skopeo`", pytrace=False)
    policy = tmp_path_factory.mktemp("skopeo") / "policy.json"
    policy.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
    return Skopeo(binary, policy)


def test_skopeo_push_and_pull_through_the_proxy(stack: Stack, skopeo: Skopeo, tmp_path: Path) -> None:
    layout = ocilayout.write_image(tmp_path / "src", "v1", seed="proxy")
    host = stack.http_url.removeprefix("http://")
    dest = f"docker://{host}/{TEST_PROJECT}/skopeo-proxy:v1"
    creds = "--creds=" + ":".join(ADMIN_CREDENTIALS)

    skopeo.run("copy", "--dest-tls-verify=false", "--dest-" + creds[2:], layout.ref(), dest)
    back = tmp_path / "back"
    skopeo.run("copy", "--src-tls-verify=false", "--src-" + creds[2:], dest, f"oci:{back}:v1")

    copied = ocilayout.read_blobs(back)
    for digest, data in layout.blobs.items():
        assert copied[digest] == data
    # skopeo was sent to the token service through the proxy, by the registry's challenge.
    assert stack.collector.wait_for_text("proxy", '"path":"/service/token"') is not None


def test_single_request_upload_above_nginx_default_limit(client: httpx.Client, repo_name: str) -> None:
    data = os.urandom(3 * MIB)  # nginx's default client_max_body_size (1 MiB) would answer 413
    digest = push_blob(client, repo_name, data)

    r = client.get(f"/v2/{repo_name}/blobs/{digest}")

    assert r.status_code == 200
    assert hashlib.sha256(r.content).hexdigest() == digest.split(":")[1]
    assert r.headers["Docker-Content-Digest"] == digest
    assert r.headers["ETag"] == f'"{digest}"'
    assert int(r.headers["Content-Length"]) == len(data)
    assert r.headers["Content-Type"] == "application/octet-stream"
    assert r.headers.get_list("Docker-Distribution-API-Version") == ["registry/2.0"]
    # Served by nginx after the registry's internal redirect, which the client never sees.
    assert "X-Accel-Redirect" not in r.headers
    assert len(r.headers.get_list("X-Request-Id")) == 1


def test_blob_range_through_nginx(client: httpx.Client, repo_name: str) -> None:
    data = os.urandom(200_000)
    digest = push_blob(client, repo_name, data)

    r = client.get(f"/v2/{repo_name}/blobs/{digest}", headers={"Range": "bytes=1000-1999"})

    assert r.status_code == 206
    assert r.headers["Content-Range"] == f"bytes 1000-1999/{len(data)}"
    assert r.content == data[1000:2000]


def test_internal_location_is_not_reachable(stack: Stack, client: httpx.Client, repo_name: str) -> None:
    digest = push_blob(client, repo_name, b"internal only")
    # The file is there (the path the registry would redirect to), but not for a client.
    blobs = list(stack.registry.storage_root.rglob(digest.split(":")[1] + "*"))
    assert blobs, "the blob file should exist"
    relative = blobs[0].relative_to(stack.registry.storage_root)
    assert httpx.get(f"{stack.http_url}/_blobs/{relative}").status_code == 404
    assert httpx.get(f"{stack.http_url}/_blobs/").status_code == 404


# --- core and token ----------------------------------------------------------------------------------


def test_core_serves_the_api_and_the_root(stack: Stack) -> None:
    health = httpx.get(f"{stack.http_url}/api/v2.0/health")
    assert health.status_code == 200
    assert health.json()["status"] == "healthy"

    root = httpx.get(f"{stack.http_url}/", headers={"X-Request-Id": "proxy-root-1"})
    assert root.status_code != 502
    assert _logged(stack.core, "proxy-root-1")["path"] == "/"

    login = httpx.post(f"{stack.http_url}/c/login", data={"principal": "admin", "password": "wrong"})
    assert login.status_code == 401


def test_token_service_behind_the_proxy(stack: Stack) -> None:
    r = httpx.get(
        f"{stack.http_url}/service/token",
        params={"service": "berth-registry", "scope": f"repository:{TEST_PROJECT}/x:pull"},
        auth=ADMIN_CREDENTIALS,
    )
    assert r.status_code == 200
    assert r.json()["token"]


# --- request ids and logs ----------------------------------------------------------------------------


def _logged(service: RegistryProcess | CoreProcess | TokenServiceProcess, request_id: str) -> dict[str, object]:
    deadline = time.monotonic() + 10
    while True:
        for line in service.logs().splitlines():
            if request_id in line:
                entry: dict[str, object] = json.loads(line)
                if entry.get("request_id") == request_id and entry.get("event") == "request":
                    return entry
        if time.monotonic() > deadline:
            raise AssertionError(f"no request line with {request_id} in {service.log_path}")
        time.sleep(0.05)


def test_client_request_id_reaches_the_service_and_returns_once(stack: Stack, client: httpx.Client) -> None:
    rid = "proxy-test-" + os.urandom(6).hex()
    r = client.get("/v2/", headers={"X-Request-Id": rid})

    assert r.status_code == 200
    assert r.headers.get_list("X-Request-Id") == [rid]
    assert _logged(stack.registry, rid)["path"] == "/v2/"
    # nginx's access line carries it too, delivered to the log collector over syslog.
    line = stack.collector.wait_for_text("proxy", rid)
    assert line is not None
    entry = json.loads(line[line.index("{") :])
    assert entry["request_id"] == rid
    assert entry["status"] == 200
    assert entry["path"] == "/v2/"


def test_request_id_is_made_when_absent(stack: Stack) -> None:
    r = httpx.get(f"{stack.http_url}/api/v2.0/health")

    ids = r.headers.get_list("X-Request-Id")
    assert len(ids) == 1
    assert re.fullmatch(r"[0-9a-f]{32}", ids[0]), ids  # nginx's $request_id
    assert _logged(stack.core, ids[0])["path"] == "/api/v2.0/health"


# --- HTTPS -------------------------------------------------------------------------------------------


def test_https_with_a_self_signed_certificate(stack: Stack) -> None:
    r = httpx.get(f"{stack.https_url}/api/v2.0/health", verify=ssl.create_default_context(cafile=stack.certificate))
    assert r.status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{stack.https_url}/api/v2.0/health")  # not trusted without the certificate


def test_https_blob_download(stack: Stack, repo_name: str) -> None:
    data = os.urandom(MIB + 5)
    with stack.client(stack.https_url, verify=ssl.create_default_context(cafile=stack.certificate)) as c:
        digest = push_blob(c, repo_name, data)
        r = c.get(f"/v2/{repo_name}/blobs/{digest}")
    assert r.status_code == 200
    assert r.content == data
    assert r.headers["Docker-Content-Digest"] == digest


def test_skopeo_over_https(stack: Stack, skopeo: Skopeo, tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    certs.mkdir()
    shutil.copy(stack.certificate, certs / "ca.crt")
    layout = ocilayout.write_image(tmp_path / "src", "v1", seed="proxy-tls")
    dest = f"docker://{stack.https_url.removeprefix('https://')}/{TEST_PROJECT}/skopeo-tls:v1"
    creds = ":".join(ADMIN_CREDENTIALS)

    skopeo.run("copy", f"--dest-cert-dir={certs}", f"--dest-creds={creds}", layout.ref(), dest)
    inspected = json.loads(skopeo.run("inspect", f"--cert-dir={certs}", f"--creds={creds}", dest).stdout)

    assert inspected["Digest"] == layout.digest


def test_http_redirects_to_https(stack: Stack) -> None:
    port = stack.https_url.rsplit(":", 1)[1]
    for path in ("/v2/", "/api/v2.0/health?x=1"):
        r = httpx.get(stack.https_redirect_url + path)
        assert r.status_code == 308
        assert r.headers["Location"] == f"https://127.0.0.1:{port}{path}"
    push = httpx.post(stack.https_redirect_url + "/v2/x/blobs/uploads/", content=b"abc")
    assert push.status_code == 308
