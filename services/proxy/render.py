"""The nginx configuration of the proxy, rendered from berth.yml: a pure function of the settings.

What goes where (as Harbor's proxy): /v2/ to the registry, /service/token to the token service, /api/, /c/
and everything else to core. Blob downloads come back from the registry as `X-Accel-Redirect` to an
internal location aliased to the storage directory, so nginx streams the file with sendfile.

Two ways to reach the services. `make run` (fixed addresses, one per replica): `upstream` blocks, kept-alive
connections, least connections. Compose (`Upstreams.resolver` set): nginx resolves an `upstream` block's
names once, at start, so it would never see a container added by `--scale` or one that came back on a new
address; there it proxies through a variable, which nginx resolves with `resolver` (Docker's embedded DNS)
when its answer is older than `valid`, and spreads requests over every address of the name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from services.common.settings import Settings

# Temporary directories nginx would otherwise create under its compiled-in prefix (/var/lib/nginx, root's).
TEMP_PATHS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
PID_FILE = "nginx.pid"
ERROR_LOG = "error.log"
ACCESS_LOG = "access.log"
SYSLOG_TAG = "proxy"
# Long pushes and pulls of big layers: nginx must not cut a slow but live transfer (Harbor uses 900 s).
TRANSFER_TIMEOUT = "900s"
# The object store blob downloads are streamed from (storage.s3 without redirect).
S3_UPSTREAM = "berth_s3"
# Compose: how long nginx keeps a DNS answer for a service's name (a scaled-up container gets requests this
# long after it is up at most), and how long it tries to connect to an address before the next one.
RESOLVER_VALID = "5s"
CONNECT_TIMEOUT = "5s"
# nginx's own counters (active connections, accepts, requests), for Prometheus' nginx exporter.
STUB_STATUS_PATH = "/stub_status"

_ANY_ADDRESS = {"0.0.0.0", "::", "[::]", ""}


@dataclass(frozen=True)
class Upstreams:
    """Where nginx connects, each "host:port" (a service bound to every address is reached on 127.0.0.1);
    a service with replicas has one address per replica."""

    registry: str | tuple[str, ...]
    token: str | tuple[str, ...]
    core: str | tuple[str, ...]
    # nginx's syslog access_log and error_log (UDP).
    log_collector: str
    # A DNS server ("host" or "host:port") nginx asks for the services' names at run time, following
    # `docker compose up --scale` and restarted containers; empty: `upstream` blocks, resolved at start.
    resolver: str = ""
    # Where /stub_status listens (with metric.enabled): this machine's loopback only under `make run`;
    # empty: every address of the proxy's container, for a Prometheus in the compose network.
    status_host: str = "127.0.0.1"

    @classmethod
    def from_settings(cls, settings: Settings) -> Upstreams:
        collector = settings.log.collector

        def replicas(host: str, port: int, count: int) -> tuple[str, ...]:
            return tuple(address(host, port + i) for i in range(count))

        return cls(
            registry=replicas(settings.registry.host, settings.registry.port, settings.registry.replicas),
            token=replicas(settings.token.host, settings.token.port, settings.token.replicas),
            core=replicas(settings.core.host, settings.core.port, settings.core.replicas),
            log_collector=address(collector.host, collector.port),
        )


def address(host: str, port: int) -> str:
    """Where to connect, "host:port": a wildcard bind means this machine, an IPv6 literal gets brackets."""
    if host in _ANY_ADDRESS:
        host = "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{host}:{port}"


@dataclass(frozen=True)
class Worker:
    """The account nginx's workers switch to when the master runs as root (`user` directive)."""

    user: str
    group: str


def quote(value: str) -> str:
    """A string as one nginx token. Paths are checked by `prepare` for `$` (nginx would expand it)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_nginx_conf(
    settings: Settings, upstreams: Upstreams, directory: Path, *, worker: Worker | None = None
) -> str:
    """nginx.conf for `settings`, connecting to `upstreams`, keeping its pid, temp files and (without a
    collector) logs in `directory`. `worker`: see `prepare.worker_account` (None: no `user` line)."""
    d = directory
    out: list[str] = [
        "# Rendered by `python -m services.proxy prepare` from " + settings.source + "; edits are overwritten.",
        "daemon off;",
        "worker_processes auto;",
        f"pid {quote(str(d / PID_FILE))};",
    ]
    if worker is not None:
        # The master starts as root; the workers, which open the blob files, run as the owner of the blob
        # store (the registry's account): they need exactly the registry's read access. `nobody`, nginx's
        # default, cannot traverse a private storage directory or data volume.
        out.append(f"user {quote(worker.user)} {quote(worker.group)};")
    out += [
        f"error_log {_log_target(settings, upstreams, d / ERROR_LOG)} warn;",
        "events { worker_connections 4096; }",
        "",
        "http {",
        *_indent(_http_block(settings, upstreams, d), 1),
        "}",
        "",
    ]
    return "\n".join(out)


def _log_target(settings: Settings, upstreams: Upstreams, file: Path) -> str:
    # nginx's syslog client speaks UDP only; the collector listens on UDP and TCP.
    if settings.log.collector.protocol == "none":
        return quote(str(file))
    return f"syslog:server={upstreams.log_collector},tag={SYSLOG_TAG}"


def _http_block(settings: Settings, upstreams: Upstreams, d: Path) -> list[str]:
    lines = [
        # Blob files have no extension; with no types every file is application/octet-stream, as the registry says.
        "types { }",
        "default_type application/octet-stream;",
        "server_tokens off;",
        "sendfile on;",
        "tcp_nopush on;",
        "keepalive_timeout 65s;",
        *(f"{name}_temp_path {quote(str(d / (name + '_temp')))};" for name in TEMP_PATHS),
        "",
        "# The client's request id when it sent one, else nginx's own: passed to every service (which logs it",
        "# and echoes it in its answer, so it is returned once) and written in the access line.",
        "map $http_x_request_id $berth_request_id {",
        "    default $http_x_request_id;",
        '    "" $request_id;',
        "}",
        "# One JSON line per request, with the keys the services use (request_id, method, path, status).",
        "log_format berth escape=json",
        *(f"    '{part}'" for part in _ACCESS_LINE[:-1]),
        f"    '{_ACCESS_LINE[-1]}';",
        f"access_log {_log_target(settings, upstreams, d / ACCESS_LOG)} berth;",
        "",
        *(_resolved(upstreams) if upstreams.resolver else _upstreams(upstreams)),
        *(_upstream(S3_UPSTREAM, _s3_address(settings)) if settings.storage.s3.enabled else []),
        "",
    ]
    https = settings.https
    if https.enabled:
        port = "" if https.port == 443 else f":{https.port}"
        lines += [
            "server {",
            f"    listen {settings.http.port};",
            "    # As Harbor: plain HTTP only sends clients to HTTPS. 308 keeps the method and body of a push.",
            f"    return 308 https://$host{port}$request_uri;",
            "}",
            "server {",
            # `listen … http2` is the form nginx 1.22 (Debian 12) knows; newer ones accept it with a warning.
            f"    listen {https.port} ssl http2;",
            f"    ssl_certificate {quote(https.certificate)};",
            f"    ssl_certificate_key {quote(https.private_key)};",
            "    ssl_protocols TLSv1.2 TLSv1.3;",
            "    ssl_prefer_server_ciphers off;",
            "    ssl_session_cache shared:berth_ssl:10m;",
            "    ssl_session_timeout 1h;",
            *_indent(_locations(settings, upstreams), 1),
            "}",
        ]
    else:
        lines += [
            "server {",
            f"    listen {settings.http.port};",
            *_indent(_locations(settings, upstreams), 1),
            "}",
        ]
    if settings.metric.enabled:
        lines += _stub_status(settings, upstreams)
    return lines


SERVICES = ("registry", "token", "core")


def _upstreams(upstreams: Upstreams) -> list[str]:
    return [
        *_upstream("registry", upstreams.registry),
        *_upstream("token", upstreams.token),
        *_upstream("core", upstreams.core),
    ]


def _resolved(upstreams: Upstreams) -> list[str]:
    """Compose: each service's "name:port" in a variable, which nginx resolves at run time (see the module
    docstring). The price, accepted: no kept-alive connections and no least_conn towards the services (both
    belong to `upstream` blocks); requests go round robin over the name's addresses, one TCP handshake each,
    on the compose network."""
    lines = [
        "# Docker's embedded DNS, asked again once an answer is older than valid=: a container added by",
        "# `--scale` or restarted on a new address gets requests without a reload. No keepalive, no least_conn",
        "# towards the services (those need upstream blocks, resolved once at start): accepted for that.",
        f"resolver {upstreams.resolver} valid={RESOLVER_VALID} ipv6=off;",
        f"resolver_timeout {CONNECT_TIMEOUT};",
    ]
    for service in SERVICES:
        target = getattr(upstreams, service)
        if not isinstance(target, str):
            raise ValueError(f"with a resolver, {service} is one name:port, got {target!r}")
        lines += [f"map $host $berth_{service} {{", f"    default {target};", "}"]
    return lines


def _pass(service: str, upstreams: Upstreams) -> list[str]:
    """proxy_pass to `service`. Neither form has a URI part, so nginx sends the request's URI as the client
    sent it (with a variable too: only a URI part given in the directive would replace it)."""
    if not upstreams.resolver:
        return [f"proxy_pass http://{service};"]
    # A container that is gone (scaled down, restarting) must not hold a request for the default 60 s.
    return [f"proxy_pass http://$berth_{service};", f"proxy_connect_timeout {CONNECT_TIMEOUT};"]


def _stub_status(settings: Settings, upstreams: Upstreams) -> list[str]:
    port = settings.metric.port_of("proxy")
    listen = f"{upstreams.status_host}:{port}" if upstreams.status_host else str(port)
    return [
        "",
        "# nginx's counters for Prometheus (metric.enabled), on metric.port - 1, apart from client traffic.",
        "server {",
        f"    listen {listen};",
        "    access_log off;",
        f"    location = {STUB_STATUS_PATH} {{",
        "        stub_status;",
        "    }",
        "    location / {",
        "        return 404;",
        "    }",
        "}",
    ]


def _upstream(name: str, addresses: str | tuple[str, ...]) -> list[str]:
    # Kept-alive connections to each service: no TCP handshake per request (needs HTTP/1.1, no Connection).
    # Several replicas: each request to the one with the fewest active requests; one that refuses a
    # connection is passed over for a while (nginx's max_fails/fail_timeout defaults) and its request
    # retried on another only if nothing of it was sent yet (proxy_next_upstream's default: an upload is
    # never replayed half-sent).
    servers = (addresses,) if isinstance(addresses, str) else addresses
    balance = ["    least_conn;"] if len(servers) > 1 else []
    return [f"upstream {name} {{", *balance, *(f"    server {a};" for a in servers), "    keepalive 32;", "}"]


_ACCESS_LINE = [
    '{"time":"$time_iso8601","service":"proxy","event":"request","request_id":"$berth_request_id",',
    '"remote_addr":"$remote_addr","method":"$request_method","path":"$uri","protocol":"$server_protocol",',
    '"status":$status,"bytes_sent":$body_bytes_sent,"request_time":$request_time,',
    '"upstream":"$upstream_addr","upstream_time":"$upstream_response_time","user_agent":"$http_user_agent"}',
]

_PROXY_HEADERS = [
    "proxy_http_version 1.1;",
    'proxy_set_header Connection "";',
    "proxy_set_header Host $http_host;",
    "proxy_set_header X-Real-IP $remote_addr;",
    "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
    "proxy_set_header X-Forwarded-Proto $scheme;",
    "proxy_set_header X-Forwarded-Host $http_host;",
    "proxy_set_header X-Forwarded-Port $server_port;",
    "proxy_set_header X-Request-Id $berth_request_id;",
    f"proxy_read_timeout {TRANSFER_TIMEOUT};",
    f"proxy_send_timeout {TRANSFER_TIMEOUT};",
]


def _locations(settings: Settings, upstreams: Upstreams) -> list[str]:
    prefix = settings.registry.accel_prefix
    root = settings.storage.filesystem.rootdirectory.rstrip("/") or "/"
    return [
        "# Layers are any size: no limit, and the body streams to the registry as it arrives.",
        "client_max_body_size 0;",
        "proxy_request_buffering off;",
        *_PROXY_HEADERS,
        "",
        "location /v2/ {",
        *_indent(_pass("registry", upstreams), 1),
        "    # Blob and manifest answers stream to the client; nothing is spooled to disk.",
        "    proxy_buffering off;",
        "}",
        "location /service/token {",
        *_indent(_pass("token", upstreams), 1),
        "    proxy_ignore_headers X-Accel-Redirect;",
        "}",
        "location /api/ {",
        *_indent(_pass("core", upstreams), 1),
        "    proxy_ignore_headers X-Accel-Redirect;",
        "}",
        "location /c/ {",
        *_indent(_pass("core", upstreams), 1),
        "    proxy_ignore_headers X-Accel-Redirect;",
        "}",
        "location / {",
        *_indent(_pass("core", upstreams), 1),
        "    proxy_ignore_headers X-Accel-Redirect;",
        "}",
        "",
        "# Blob downloads: the registry authorized the request and answered X-Accel-Redirect here; nginx",
        "# sends the file (sendfile, Range). `internal`: a client asking for it directly gets 404.",
        f"location {prefix} {{",
        "    internal;",
        f"    alias {quote(root + '/' if root != '/' else '/')};",
        "    sendfile on;",
        "    # The registry's ETag (the digest) replaces nginx's (mtime and size).",
        "    etag off;",
        "    # Of the registry's answer nginx keeps only a few headers (Content-Type, Cache-Control, …) across",
        "    # the internal redirect; these are added back. The request id is the one sent to the registry.",
        "    add_header Docker-Content-Digest $upstream_http_docker_content_digest always;",
        "    add_header Docker-Distribution-API-Version registry/2.0 always;",
        "    add_header ETag $upstream_http_etag always;",
        "    add_header X-Request-Id $berth_request_id always;",
        "}",
        *(_s3_location(settings) if settings.storage.s3.enabled else []),
    ]


def _s3_address(settings: Settings) -> str:
    _scheme, host, port = settings.storage.s3.download_origin()
    return address(host, port)


def _s3_location(settings: Settings) -> list[str]:
    """Blob downloads from S3 (without storage.s3.redirect): the registry answered X-Accel-Redirect to
    <prefix><digest><path of a pre-signed URL>?<its query>; nginx fetches that URL and streams it."""
    s3 = settings.storage.s3
    scheme, host, port = s3.download_origin()
    default_port = 443 if scheme == "https" else 80
    host_header = host if port == default_port else f"{host}:{port}"
    prefix = settings.registry.accel_s3_prefix
    lines = [
        "",
        "# Blob downloads from S3: nginx fetches the pre-signed URL the registry put in the path (its digest",
        "# first) and streams the object; the registry's process never carries the bytes.",
        f"location ~ ^{prefix}(?<berth_blob_digest>[a-z0-9+._-]+:[a-zA-Z0-9=_-]+)(?<berth_s3_path>/.*)$ {{",
        "    internal;",
        f"    proxy_pass {scheme}://{S3_UPSTREAM}$berth_s3_path$is_args$args;",
        "    proxy_http_version 1.1;",
        # A location's own proxy_set_header replaces every inherited one: these are all S3 gets. The
        # client's credentials are the registry's business, never the object store's (and a pre-signed
        # URL with an Authorization header is refused).
        '    proxy_set_header Connection "";',
        f"    proxy_set_header Host {host_header};",
        '    proxy_set_header Authorization "";',
        '    proxy_set_header Cookie "";',
        "    proxy_buffering off;",
        "    proxy_hide_header ETag;",
        "    proxy_hide_header x-amz-request-id;",
        "    proxy_hide_header x-amz-id-2;",
        "    proxy_hide_header Set-Cookie;",
        "    add_header Docker-Content-Digest $berth_blob_digest always;",
        "    add_header Docker-Distribution-API-Version registry/2.0 always;",
        '    add_header ETag "\\"$berth_blob_digest\\"" always;',
        '    add_header Cache-Control "max-age=31536000" always;',
        "    add_header X-Request-Id $berth_request_id always;",
    ]
    if scheme == "https":
        lines += [
            "    proxy_ssl_server_name on;",
            f"    proxy_ssl_name {host};",
            f"    proxy_ssl_verify {'off' if s3.skipverify else 'on'};",
            "    proxy_ssl_trusted_certificate /etc/ssl/certs/ca-certificates.crt;",
        ]
    return [*lines, "}"]


def _indent(lines: list[str], level: int) -> list[str]:
    pad = "    " * level
    return [pad + line if line else "" for line in lines]
