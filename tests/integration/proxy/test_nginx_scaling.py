"""Real nginx rendered for the compose deployment follows DNS: its `resolver` points at a test DNS server
(tests.harness.dns), the services' names resolve to small aiohttp backends on 127.0.0.x, and a changed answer
reaches nginx without a reload, as a container added by `docker compose up --scale` or restarted on a new
address does. Also: the same request URIs reach the services under both renderings, and stub_status answers
under the launcher's rendering (loopback only)."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from services.common.settings import (
    FilesystemStorageSettings,
    HttpSettings,
    LogCollectorSettings,
    LogSettings,
    MetricSettings,
    Settings,
    StorageSettings,
)
from services.proxy.prepare import prepare_proxy
from services.proxy.render import ACCESS_LOG, STUB_STATUS_PATH, Upstreams
from tests.harness.dns import DnsServer
from tests.harness.plugin import free_port, free_port_block
from tests.harness.waiting import eventually
from tests.integration.proxy.test_proxy import Nginx

pytestmark = pytest.mark.integration

# Two loopback addresses the backends listen on, on the same port, as two containers of one service would.
FIRST, SECOND = "127.0.0.2", "127.0.0.3"
NAMES = {"registry": "registry.berth.test", "token": "token.berth.test", "core": "core.berth.test"}
# Longer than nginx's resolver valid=5s, with room for a loaded machine.
FOLLOW_DEADLINE_S = 60.0


@dataclass
class Backend:
    """An aiohttp server on `host:port`, in a thread of its own, answering every request with its name and
    the request's URI as it arrived (raw, not decoded)."""

    name: str
    host: str
    port: int
    seen: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._runner: web.AppRunner | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"backend-{self.name}", daemon=True)

    async def _handle(self, request: web.Request) -> web.Response:
        self.seen.append(request.raw_path)
        return web.json_response({"backend": self.name, "uri": request.raw_path})

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", self._handle)
            self._runner = web.AppRunner(app, access_log=None)
            self._loop.run_until_complete(self._runner.setup())
            self._loop.run_until_complete(web.TCPSite(self._runner, self.host, self.port).start())
        except BaseException as exc:
            self._error = exc
            self._started.set()
            return
        self._started.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._runner.cleanup())
        self._loop.close()

    def start(self) -> Backend:
        self._thread.start()
        self._started.wait(timeout=30)
        if self._error is not None:
            raise self._error
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)


def port_free_on(hosts: tuple[str, ...]) -> int:
    """A port that every one of `hosts` can bind now."""
    for _ in range(100):
        port = free_port()
        try:
            for host in hosts:
                with socket.socket() as s:
                    s.bind((host, port))
        except OSError:
            continue
        return port
    raise RuntimeError(f"no port free on all of {hosts}")


def proxy_settings(workdir: Path, **kw: object) -> Settings:
    return Settings(
        data_volume=str(workdir),
        http=HttpSettings(port=free_port()),
        storage=StorageSettings(filesystem=FilesystemStorageSettings(rootdirectory=str(workdir / "registry"))),
        # No collector: nginx's access log is a file here, read for its `upstream` field.
        log=LogSettings(collector=LogCollectorSettings(protocol="none")),
        source=str(workdir / "berth.yml"),
        **kw,  # type: ignore[arg-type]
    )


@dataclass
class Scaled:
    dns: DnsServer
    backends: dict[str, Backend]  # by address
    url: str
    nginx: Nginx

    def answered_by(self, path: str) -> str:
        r = httpx.get(self.url + path, timeout=10)
        assert r.status_code == 200, (r.status_code, r.text)
        return str(r.json()["backend"])


@pytest.fixture
def scaled(tmp_path: Path) -> Iterator[Scaled]:
    port = port_free_on((FIRST, SECOND))
    backends = {host: Backend(host, host, port).start() for host in (FIRST, SECOND)}
    dns = DnsServer({name: [FIRST] for name in NAMES.values()}).start()
    nginx: Nginx | None = None
    try:
        settings = proxy_settings(tmp_path)
        upstreams = Upstreams(
            registry=f"{NAMES['registry']}:{port}",
            token=f"{NAMES['token']}:{port}",
            core=f"{NAMES['core']}:{port}",
            log_collector="127.0.0.1:9",  # unused: the collector is off
            resolver=dns.address,
            status_host="",
        )
        files = prepare_proxy(settings, upstreams)
        url = f"http://127.0.0.1:{settings.http.port}"
        nginx = Nginx(files, url + "/v2/")
        yield Scaled(dns=dns, backends=backends, url=url, nginx=nginx)
    finally:
        if nginx is not None:
            nginx.stop()
        dns.stop()
        for backend in backends.values():
            backend.stop()


def test_a_changed_dns_answer_reaches_nginx_without_a_reload(scaled: Scaled) -> None:
    pid = scaled.nginx.proc.pid
    assert scaled.answered_by("/v2/") == FIRST
    asked = scaled.dns.queries(NAMES["registry"])
    assert asked >= 1
    # The container moved (a restart) or was replaced: the name now has another address only.
    scaled.dns.set(NAMES["registry"], [SECOND])
    eventually(
        lambda: scaled.answered_by("/v2/") == SECOND, "nginx proxying /v2/ to the new address", FOLLOW_DEADLINE_S
    )
    # nginx asked the DNS again and was never reloaded or restarted.
    assert scaled.dns.queries(NAMES["registry"]) > asked
    assert scaled.nginx.proc.poll() is None and scaled.nginx.proc.pid == pid
    # The other services' names were not changed: still the first address.
    assert scaled.answered_by("/api/v2.0/health") == FIRST


def test_a_scaled_up_service_gets_requests_on_every_address(scaled: Scaled) -> None:
    assert {scaled.answered_by("/api/v2.0/health") for _ in range(4)} == {FIRST}
    # `--scale core=2`: Docker's DNS answers both containers' addresses.
    scaled.dns.set(NAMES["core"], [FIRST, SECOND])
    seen: set[str] = set()

    def both() -> bool:
        seen.add(scaled.answered_by("/api/v2.0/health"))
        return seen == {FIRST, SECOND}

    eventually(both, "requests to /api/ reaching both addresses of core", FOLLOW_DEADLINE_S)
    # nginx's access line names the address each request went to.
    access = scaled.nginx.files.directory / ACCESS_LOG
    upstreams = {json.loads(line)["upstream"].rsplit(":", 1)[0] for line in access.read_text().splitlines()}
    assert {FIRST, SECOND} <= upstreams


# What each location sends on: the request's URI exactly as the client sent it (escapes, query), as the
# launcher's `upstream` rendering does.
URIS = (
    "/v2/library/a%2Fb/manifests/sha256:abc?n=1&last=x%20y",
    "/service/token?service=berth-registry&scope=repository%3Alibrary%2Fa%3Apull",
    "/api/v2.0/projects?q=name%3D~lib&page=2",
    "/c/login",
    "/harbor/projects/1/repositories",
)


def test_every_location_passes_the_request_uri_unchanged(scaled: Scaled, tmp_path: Path) -> None:
    def uris(url: str) -> dict[str, str]:
        found = {}
        for uri in URIS:
            r = httpx.get(url + uri, timeout=10)
            assert r.status_code == 200, (uri, r.status_code, r.text)
            found[uri] = r.json()["uri"]
        return found

    resolved = uris(scaled.url)
    assert resolved == {uri: uri for uri in URIS}
    # The launcher's rendering (upstream blocks, fixed addresses) to the same backend sends the same URIs.
    port = scaled.backends[FIRST].port
    static = Upstreams(
        registry=f"{FIRST}:{port}", token=f"{FIRST}:{port}", core=f"{FIRST}:{port}", log_collector="127.0.0.1:9"
    )
    settings = proxy_settings(tmp_path / "static")
    url = f"http://127.0.0.1:{settings.http.port}"
    nginx = Nginx(prepare_proxy(settings, static), url + "/v2/")
    try:
        assert uris(url) == resolved
    finally:
        nginx.stop()


def test_stub_status_answers_on_the_loopback_under_the_launchers_rendering(tmp_path: Path) -> None:
    # metric.port - 1 and the services' offsets after it, reserved together: nothing else gets one of them.
    base = free_port_block(5)
    settings = proxy_settings(tmp_path, metric=MetricSettings(enabled=True, port=base + 1))
    files = prepare_proxy(settings)  # as the launcher does: Upstreams.from_settings
    assert settings.metric.port_of("proxy") == base
    url = f"http://127.0.0.1:{settings.http.port}"
    nginx = Nginx(files, url + "/")
    try:
        r = httpx.get(f"http://127.0.0.1:{base}{STUB_STATUS_PATH}", timeout=10)
        assert r.status_code == 200, r.text
        assert r.text.startswith("Active connections:"), r.text
        assert "server accepts handled requests" in r.text
        assert httpx.get(f"http://127.0.0.1:{base}/metrics", timeout=10).status_code == 404
        # Bound to 127.0.0.1 only: another loopback address of this machine is refused.
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://{FIRST}:{base}{STUB_STATUS_PATH}", timeout=10)
    finally:
        nginx.stop()
