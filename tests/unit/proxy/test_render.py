"""The rendered nginx.conf: routes, upload and download directives, logs, TLS (no nginx, no files)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from services.common.settings import (
    CoreSettings,
    FilesystemStorageSettings,
    HttpSettings,
    HttpsSettings,
    LogCollectorSettings,
    LogSettings,
    MetricSettings,
    RegistrySettings,
    Settings,
    StorageSettings,
)
from services.proxy.prepare import ProxyFiles
from services.proxy.render import Upstreams, Worker, address, render_nginx_conf

UPSTREAMS = Upstreams(
    registry="127.0.0.1:5000", token="127.0.0.1:5001", core="127.0.0.1:5002", log_collector="10.0.0.9:1514"
)
DIR = Path("/data/berth/proxy")


def render(settings: Settings | None = None, **kw: object) -> str:
    return render_nginx_conf(settings or Settings(), UPSTREAMS, DIR, **kw)  # type: ignore[arg-type]


def block(conf: str, opening: str) -> str:
    """The text of the block that starts with `opening` (up to its matching brace)."""
    start = conf.index(opening + " {")
    depth = 0
    for i in range(start, len(conf)):
        if conf[i] == "{":
            depth += 1
        elif conf[i] == "}":
            depth -= 1
            if depth == 0:
                return conf[start : i + 1]
    raise AssertionError(f"unclosed block {opening}")


def test_routes_go_to_their_services() -> None:
    conf = render()
    assert "proxy_pass http://registry;" in block(conf, "location /v2/")
    assert "proxy_pass http://token;" in block(conf, "location /service/token")
    for prefix in ("/api/", "/c/", "/"):
        assert "proxy_pass http://core;" in block(conf, f"location {prefix}")
    assert "server 127.0.0.1:5000;" in block(conf, "upstream registry")
    assert "server 127.0.0.1:5001;" in block(conf, "upstream token")
    assert "server 127.0.0.1:5002;" in block(conf, "upstream core")
    for name in ("registry", "token", "core"):
        assert "keepalive" in block(conf, f"upstream {name}")


def test_uploads_are_unlimited_and_unbuffered() -> None:
    conf = render()
    server = block(conf, "server")
    assert "client_max_body_size 0;" in server
    assert "proxy_request_buffering off;" in server
    assert "proxy_buffering off;" in block(conf, "location /v2/")
    assert "proxy_http_version 1.1;" in server
    assert 'proxy_set_header Connection "";' in server


def test_forwarded_headers_and_request_id() -> None:
    conf = render()
    for header in ("Host", "X-Real-IP", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Forwarded-Port"):
        assert f"proxy_set_header {header} " in conf
    assert "proxy_set_header X-Request-Id $berth_request_id;" in conf
    mapping = block(conf, "map $http_x_request_id $berth_request_id")
    assert "default $http_x_request_id;" in mapping
    assert '"" $request_id;' in mapping
    # The services echo the id; nginx never adds it to their answers (it would appear twice).
    assert conf.count("add_header X-Request-Id") == 1


def test_internal_blob_location() -> None:
    settings = Settings(
        storage=StorageSettings(filesystem=FilesystemStorageSettings(rootdirectory="/srv/blobs/")),
        registry=RegistrySettings(accel_prefix="/_internal_blobs/"),
    )
    location = block(render(settings), "location /_internal_blobs/")
    assert "internal;" in location
    assert 'alias "/srv/blobs/";' in location
    assert "sendfile on;" in location
    assert "add_header Docker-Content-Digest $upstream_http_docker_content_digest always;" in location


def test_only_the_registry_may_redirect_internally() -> None:
    conf = render()
    for prefix in ("/service/token", "/api/", "/c/", "/"):
        assert "proxy_ignore_headers X-Accel-Redirect;" in block(conf, f"location {prefix}")
    assert "proxy_ignore_headers" not in block(conf, "location /v2/")


def test_logs_go_to_the_collector_over_syslog() -> None:
    conf = render()
    assert "access_log syslog:server=10.0.0.9:1514,tag=proxy berth;" in conf
    assert "error_log syslog:server=10.0.0.9:1514,tag=proxy warn;" in conf


def test_logs_go_to_files_without_a_collector() -> None:
    settings = Settings(log=LogSettings(collector=LogCollectorSettings(protocol="none")))
    conf = render(settings)
    assert f'access_log "{DIR}/access.log" berth;' in conf
    assert f'error_log "{DIR}/error.log" warn;' in conf
    assert "syslog:" not in conf


def test_runtime_files_stay_in_the_directory() -> None:
    conf = render()
    assert "daemon off;" in conf
    assert "worker_processes auto;" in conf
    assert f'pid "{DIR}/nginx.pid";' in conf
    for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        assert f'{name}_temp_path "{DIR}/{name}_temp";' in conf


def test_user_line_only_when_a_worker_account_is_given() -> None:
    assert not re.search(r"^user ", render(), re.M)
    assert re.search(r'^user "registry" "berth";$', render(worker=Worker("registry", "berth")), re.M)


def test_http_only_listens_on_the_http_port() -> None:
    conf = render(Settings(http=HttpSettings(port=8081)))
    assert "listen 8081;" in conf
    assert "ssl" not in conf
    assert "return 308" not in conf


def test_https_listener_and_redirect() -> None:
    settings = Settings(
        http=HttpSettings(port=8080),
        https=HttpsSettings(port=8443, certificate="/certs/server.crt", private_key="/certs/server.key"),
    )
    conf = render(settings)
    assert "listen 8443 ssl http2;" in conf
    assert 'ssl_certificate "/certs/server.crt";' in conf
    assert 'ssl_certificate_key "/certs/server.key";' in conf
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in conf
    plain = block(conf, "server")
    assert "listen 8080;" in plain
    assert "return 308 https://$host:8443$request_uri;" in plain
    assert "proxy_pass" not in plain
    # The port is left out of the redirect when it is HTTPS's own.
    default_port = dataclasses.replace(settings, https=dataclasses.replace(settings.https, port=443))
    assert "return 308 https://$host$request_uri;" in render(default_port)


def test_upstream_addresses_from_settings() -> None:
    assert address("0.0.0.0", 5000) == "127.0.0.1:5000"
    assert address("::", 5000) == "127.0.0.1:5000"
    assert address("::1", 5000) == "[::1]:5000"
    assert address("registry.internal", 5000) == "registry.internal:5000"
    settings = Settings(registry=RegistrySettings(host="0.0.0.0", port=6000))
    assert Upstreams.from_settings(settings).registry == ("127.0.0.1:6000",)
    assert Upstreams.from_settings(settings).log_collector == "127.0.0.1:1514"


def test_replicas_are_the_servers_of_one_upstream_balanced_by_least_connections() -> None:
    settings = Settings(registry=RegistrySettings(port=6000, replicas=3))
    upstreams = Upstreams.from_settings(settings)
    assert upstreams.registry == ("127.0.0.1:6000", "127.0.0.1:6001", "127.0.0.1:6002")
    conf = render_nginx_conf(settings, upstreams, DIR)
    block = conf[conf.index("upstream registry {") :].split("}", 1)[0]
    assert block.split("\n")[1:] == [
        "        least_conn;",
        "        server 127.0.0.1:6000;",
        "        server 127.0.0.1:6001;",
        "        server 127.0.0.1:6002;",
        "        keepalive 32;",
        "    ",
    ]
    core = conf[conf.index("upstream core {") :].split("}", 1)[0]
    assert "least_conn" not in core  # one server: nothing to balance


def test_command_line() -> None:
    files = ProxyFiles(directory=DIR, config=DIR / "nginx.conf")
    assert files.command("/usr/sbin/nginx") == [
        "/usr/sbin/nginx",
        "-p",
        str(DIR),
        "-c",
        str(DIR / "nginx.conf"),
        "-e",
        str(DIR / "error.log"),
    ]


COMPOSE = Upstreams(
    registry="registry:5000",
    token="token:5001",
    core="core:5002",
    log_collector="log:1514",
    resolver="127.0.0.11",
    status_host="",
)


def test_with_a_resolver_each_service_is_a_variable_resolved_per_request() -> None:
    conf = render_nginx_conf(Settings(), COMPOSE, DIR)
    http = block(conf, "http")
    assert "    resolver 127.0.0.11 valid=5s ipv6=off;" in http
    for service, target in (("registry", "registry:5000"), ("token", "token:5001"), ("core", "core:5002")):
        assert f"default {target};" in block(conf, f"map $host $berth_{service}")
        # No upstream block: nginx would resolve its names once, at start, and never follow --scale.
        assert f"upstream {service} " not in conf
    assert "keepalive 32;" not in conf and "least_conn;" not in conf
    assert "proxy_pass http://$berth_registry;" in block(conf, "location /v2/")
    assert "proxy_pass http://$berth_token;" in block(conf, "location /service/token")
    for prefix in ("/api/", "/c/", "/"):
        location = block(conf, f"location {prefix}")
        assert "proxy_pass http://$berth_core;" in location
        assert "proxy_connect_timeout 5s;" in location
    # No URI part after the variable: nginx passes the client's URI unchanged, as without a variable.
    targets = re.findall(r"proxy_pass ([^;]*);", conf)
    assert sorted(set(targets)) == ["http://$berth_core", "http://$berth_registry", "http://$berth_token"]
    # Everything else as the launcher's rendering: the same directives once the routing lines are left out.
    routing = re.compile(r"resolver|map \$host|default \w+:\d+;|proxy_pass|proxy_connect_timeout|^\s*}$|^#")

    def rest(text: str) -> list[str]:
        lines = block(text, "server").splitlines()
        return [line for line in lines if not routing.search(line.strip())]

    assert rest(conf) == rest(render())


def test_a_resolver_takes_one_name_per_service() -> None:
    several = dataclasses.replace(COMPOSE, core=("core-1:5002", "core-2:5002"))
    with pytest.raises(ValueError, match="core"):
        render_nginx_conf(Settings(), several, DIR)


def test_the_launchers_rendering_has_no_resolver() -> None:
    settings = Settings(core=CoreSettings(replicas=2))
    conf = render_nginx_conf(settings, Upstreams.from_settings(settings), DIR)
    assert "resolver" not in conf and "$berth_core" not in conf
    assert "least_conn;" in block(conf, "upstream core") and "keepalive 32;" in block(conf, "upstream core")
    assert "proxy_connect_timeout" not in conf


def test_stub_status_only_with_metrics_on_metric_port_minus_one() -> None:
    assert "stub_status" not in render()
    on = Settings(metric=MetricSettings(enabled=True, port=9100))
    launcher = render(on)
    status = block(launcher, "location = /stub_status")
    assert "stub_status;" in status
    # make run: this machine's loopback only; the main server keeps its own port.
    assert "listen 127.0.0.1:9099;" in launcher
    assert "listen 8080;" in launcher
    compose = render_nginx_conf(on, COMPOSE, DIR)
    # Compose: every address of the proxy's container, so a scraper in the compose network reaches it.
    assert "listen 9099;" in compose and "127.0.0.1:9099" not in compose
