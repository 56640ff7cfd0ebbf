"""services.common.remote against real registries: CNCF Distribution (open, htpasswd, TLS), a Berth registry
with its token service (the Bearer flow), a server that is no registry, and a port nobody listens on."""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from services.common.oci import mediatypes as mt
from services.common.remote.client import RemoteEndpoint, RemoteError, RemoteRegistry, RemoteUnauthorized
from services.common.secret import Secret
from tests.harness.distribution import DistributionProcess
from tests.harness.oci import digest_of, image_manifest
from tests.harness.plugin import ADMIN_CREDENTIALS, TEST_PROJECT, RegistryProcess, free_port

pytestmark = pytest.mark.integration

USERS = {"replicator": "s3cret-Passw0rd"}
TIMEOUT_S = 20.0


@pytest.fixture(scope="module")
def open_distribution(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DistributionProcess]:
    with DistributionProcess(tmp_path_factory.mktemp("open-distribution")) as proc:
        yield proc


@pytest.fixture(scope="module")
def htpasswd_distribution(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DistributionProcess]:
    with DistributionProcess(tmp_path_factory.mktemp("htpasswd-distribution"), users=USERS) as proc:
        yield proc


@pytest.fixture(scope="module")
def tls_distribution(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DistributionProcess]:
    with DistributionProcess(tmp_path_factory.mktemp("tls-distribution"), tls=True) as proc:
        yield proc


@pytest.fixture
async def web_page() -> AsyncIterator[str]:
    """A web server that is no registry: an HTML 404 on /v2/, an HTML page with 200 on /page/v2/."""

    async def not_found(request: web.Request) -> web.Response:
        return web.Response(status=404, text="<html><body>Not Found</body></html>", content_type="text/html")

    async def page(request: web.Request) -> web.Response:
        return web.Response(text="<html><body>Welcome</body></html>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/page/v2/", page)
    app.router.add_route("*", "/{tail:.*}", not_found)
    async with TestServer(app, host="127.0.0.1") as server:
        yield str(server.make_url("")).rstrip("/")


def _admin(url: str, password: str = ADMIN_CREDENTIALS[1]) -> RemoteEndpoint:
    return RemoteEndpoint(url, username=ADMIN_CREDENTIALS[0], password=Secret(password))


async def _ping(endpoint: RemoteEndpoint) -> None:
    async with RemoteRegistry(endpoint, timeout=TIMEOUT_S) as remote:
        await remote.ping()


async def _ping_fails(endpoint: RemoteEndpoint, error: type[RemoteError] = RemoteError) -> str:
    with pytest.raises(error) as caught:
        await _ping(endpoint)
    message = str(caught.value)
    assert "\n" not in message and endpoint.url in message, message
    return message


def _token_requests(registry: RegistryProcess) -> int:
    assert registry.token is not None
    lines = (json.loads(line) for line in registry.token.settled_logs().splitlines() if line.startswith("{"))
    return sum(1 for entry in lines if entry.get("event") == "request" and entry.get("path") == "/service/token")


async def test_an_open_distribution_answers_the_ping(open_distribution: DistributionProcess) -> None:
    await _ping(RemoteEndpoint(open_distribution.url + "/"))  # a trailing slash is no matter


async def test_htpasswd_users_are_checked_with_basic_credentials(htpasswd_distribution: DistributionProcess) -> None:
    url = htpasswd_distribution.url
    ((user, password),) = USERS.items()
    await _ping(RemoteEndpoint(url, username=user, password=Secret(password)))
    message = await _ping_fails(RemoteEndpoint(url, username=user, password=Secret("wrong")), RemoteUnauthorized)
    assert "credentials were refused" in message and "401 on GET /v2/" in message, message
    # Without a username only reachability is checked, as Harbor's PingSimple.
    await _ping(RemoteEndpoint(url))


async def test_tls_is_verified_against_the_endpoints_ca(tls_distribution: DistributionProcess) -> None:
    url = tls_distribution.url
    await _ping(RemoteEndpoint(url, ca_certificate=tls_distribution.ca_pem))
    message = await _ping_fails(RemoteEndpoint(url))
    assert "TLS error" in message and "certificate verify failed" in message, message
    await _ping(RemoteEndpoint(url, insecure=True))


async def test_a_ca_that_does_not_parse_is_named() -> None:
    with pytest.raises(RemoteError, match="the CA certificate does not parse: "):
        await _ping(RemoteEndpoint("https://127.0.0.1:1", ca_certificate="-----BEGIN CERTIFICATE-----\nno\n"))


async def test_a_port_nobody_listens_on_is_named() -> None:
    message = await _ping_fails(RemoteEndpoint(f"http://127.0.0.1:{free_port()}"))
    assert message.startswith("cannot connect to http://127.0.0.1:") and "refused" in message, message


async def test_a_server_that_never_answers_times_out() -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # the kernel accepts; nobody ever answers
        endpoint = RemoteEndpoint(f"http://127.0.0.1:{silent.getsockname()[1]}")
        with pytest.raises(RemoteError) as caught:
            async with RemoteRegistry(endpoint, timeout=1) as remote:
                await remote.ping()
    assert str(caught.value) == f"timed out after 1 s talking to {endpoint.url} (GET /v2/)"


@pytest.mark.parametrize(("path", "status"), [("", 404), ("/page", 200)])
async def test_a_web_server_is_not_a_registry(web_page: str, path: str, status: int) -> None:
    message = await _ping_fails(RemoteEndpoint(web_page + path))
    assert f"is not a registry: GET /v2/ answered {status} (text/html" in message, message


async def test_distribution_has_no_harbor_api(open_distribution: DistributionProcess) -> None:
    async with RemoteRegistry(RemoteEndpoint(open_distribution.url), timeout=TIMEOUT_S) as remote:
        with pytest.raises(RemoteError, match=r"has no Harbor API: GET /api/v2\.0/ping answered 404"):
            await remote.ping_harbor()


async def test_bearer_tokens_push_an_image_and_list_its_tags(registry_server: RegistryProcess) -> None:
    name = f"{TEST_PROJECT}/remote-{uuid.uuid4().hex[:8]}"
    config, layer = b'{"architecture": "amd64", "os": "linux"}', b"a small layer"
    manifest = image_manifest(config, [layer])
    push = f"repository:{name}:pull,push"
    async with RemoteRegistry(_admin(registry_server.url), timeout=TIMEOUT_S) as remote:
        await remote.ping()
        for blob in (config, layer):
            async with await remote.request(
                "POST", f"/v2/{name}/blobs/uploads/?digest={digest_of(blob)}", scope=push, data=blob
            ) as r:
                assert r.status == 201, await r.text()
        headers = {"Content-Type": mt.OCI_MANIFEST}
        async with await remote.request(
            "PUT", f"/v2/{name}/manifests/v1", scope=push, headers=headers, data=manifest
        ) as r:
            assert r.status == 201, await r.text()
        before = _token_requests(registry_server)
        for _ in range(2):  # the second is sent with the cached token
            async with await remote.request("GET", f"/v2/{name}/tags/list", scope=f"repository:{name}:pull") as r:
                assert r.status == 200, await r.text()
                assert await r.json() == {"name": name, "tags": ["v1"]}
        assert _token_requests(registry_server) - before == 1


async def test_a_streamed_body_goes_with_a_token_fetched_beforehand(registry_server: RegistryProcess) -> None:
    name = f"{TEST_PROJECT}/remote-{uuid.uuid4().hex[:8]}"
    chunks = [b"streamed ", b"once ", b"only"]

    async def body() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    digest = digest_of(b"".join(chunks))
    async with (
        RemoteRegistry(_admin(registry_server.url), timeout=TIMEOUT_S) as remote,
        await remote.request(
            "POST", f"/v2/{name}/blobs/uploads/?digest={digest}", scope=f"repository:{name}:pull,push", data=body()
        ) as r,
    ):
        assert r.status == 201, await r.text()
        assert r.headers["Docker-Content-Digest"] == digest


async def test_a_token_service_refusing_the_password_is_unauthorized(registry_server: RegistryProcess) -> None:
    assert registry_server.token is not None
    with pytest.raises(RemoteUnauthorized) as caught:
        await _ping(_admin(registry_server.url, "not-the-password"))
    # The token service refused them, and it is the one named.
    assert (
        str(caught.value) == f"the credentials were refused by {registry_server.token.url} (401 on GET /service/token)"
    )
