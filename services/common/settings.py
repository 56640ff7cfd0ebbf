"""Typed settings: `berth.yml` plus `BERTH_*` environment overrides → frozen dataclasses.

The file is shaped like Harbor's `harbor.yml`. Every key has a default here and a one-line comment in
`deploy/berth.yml.tmpl`. An override names a key path with double underscores, because keys contain
single ones: `BERTH_DATABASE__MAX_OPEN_CONNS=40`. `BERTH_CONFIG` names the file.

Unknown keys and wrong types are refused with one line naming the key and where it came from, so an
operator can act on it; nothing is started from a half-understood configuration.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from services.common.secret import Secret

ENV_PREFIX = "BERTH_"
CONFIG_ENV = "BERTH_CONFIG"
DEFAULT_CONFIG_PATHS = ("berth.yml", "/etc/berth/berth.yml")


class SettingsError(Exception):
    """A configuration the services cannot understand; the message names the key and the source."""


@dataclass(frozen=True)
class HttpSettings:
    # Port of the proxy (nginx) that fronts every service.
    port: int = 8080


@dataclass(frozen=True)
class HttpsSettings:
    # Port of the proxy's TLS listener; used only when certificate and private_key are set.
    port: int = 443
    # PEM certificate (chain) and its key; both empty: no HTTPS. `berth prepare --self-signed` makes a pair.
    certificate: str = ""
    private_key: str = ""

    @property
    def enabled(self) -> bool:
        return bool(self.certificate or self.private_key)


@dataclass(frozen=True)
class DatabaseSettings:
    host: str = "127.0.0.1"
    port: int = 5432
    username: str = "postgres"
    password: Secret = field(default_factory=lambda: Secret(""))
    name: str = "berth"
    max_open_conns: int = field(default=20, metadata={"min": 1})
    connect_timeout: float = field(default=10.0, metadata={"min": 0.1})
    # A streaming-replication standby ("host:port"; same database, user and password) that core's
    # uncached list APIs (projects, repositories, a project's artifacts) read from; empty: the primary.
    read_replica: str = field(default="", metadata={"endpoint": True})

    def dsn(self) -> str:
        return f"postgresql://{self.username}@{self.host}:{self.port}/{self.name}"


@dataclass(frozen=True)
class RedisSettings:
    url: str = "redis://127.0.0.1:6379/0"
    key_prefix: str = "berth:"
    # Redis Sentinel, as Harbor's external_redis: "host:port,host:port" of the sentinels; the master is
    # the one they name `sentinel_master_set`, found again after a failover. The database number and
    # password still come from `url` (its host is then unused).
    sentinels: str = field(default="", metadata={"endpoints": True})
    sentinel_master_set: str = "mymaster"

    def sentinel_addresses(self) -> list[tuple[str, int]]:
        return [parse_endpoint(part.strip()) for part in self.sentinels.split(",") if part.strip()]


@dataclass(frozen=True)
class FilesystemStorageSettings:
    rootdirectory: str = "/data/berth/registry"


@dataclass(frozen=True)
class S3StorageSettings:
    """An S3 bucket (AWS, MinIO, Ceph RGW, SeaweedFS...), with Distribution's key names where it has them.
    Blobs live in the bucket as soon as `bucket` is set; the filesystem section is then unused."""

    bucket: str = ""
    region: str = "us-east-1"
    # The endpoint of an S3-compatible service, e.g. https://minio.example.com:9000; empty: AWS's own.
    regionendpoint: str = field(default="", metadata={"url": True})
    accesskey: str = ""
    # Or from a file (a mounted secret), read once at start; set one of the two, or neither for the
    # credentials the environment gives botocore (an instance role, AWS_* variables).
    secretkey: Secret = field(default_factory=lambda: Secret(""))
    secretkey_file: str = ""
    # Path-style URLs (endpoint/bucket/key) as most self-hosted S3 services need; false: bucket.endpoint.
    forcepathstyle: bool = True
    # Accept any TLS certificate from the endpoint (a self-signed test setup; never in production).
    skipverify: bool = False
    # Key prefix under which Berth keeps everything, so one bucket can hold several registries.
    rootdirectory: str = ""
    # Server-side encryption of every object Berth writes (Distribution's keys): SSE-S3 (AES256), or SSE-KMS
    # with the KMS key `keyid` (a key id, ARN or alias/name) when it is set; keyid needs encrypt: true.
    encrypt: bool = False
    keyid: str = ""
    # Bytes per part of a multipart write, and the size from which a write becomes one.
    chunksize: int = field(default=16 << 20, metadata={"min": 5 << 20, "max": 5 << 30})
    # Blob GETs answer 307 to a pre-signed URL valid this long, and clients fetch from S3 directly;
    # false: nginx streams the object from S3 (the registry process never carries the bytes).
    redirect: bool = False
    redirect_expiry_seconds: int = field(default=1200, metadata={"min": 60, "max": 7 * 24 * 3600})
    # Concurrent S3 requests of one process (a connection each).
    max_connections: int = field(default=64, metadata={"min": 1})

    @property
    def enabled(self) -> bool:
        return bool(self.bucket)

    def endpoint(self) -> str:
        """The S3 endpoint's URL: the one given, else AWS's of the region (named, so that the URLs it
        pre-signs have a host known in advance: nginx's streaming location connects to it)."""
        return self.regionendpoint.rstrip("/") or f"https://s3.{self.region}.amazonaws.com"

    def download_origin(self) -> tuple[str, str, int]:
        """(scheme, host, port) of the URLs the endpoint's objects are fetched from: the endpoint's own,
        or the bucket's subdomain of it without path style."""
        url = urllib.parse.urlsplit(self.endpoint())
        scheme = url.scheme or "https"
        host = url.hostname or ""
        if not self.forcepathstyle:
            host = f"{self.bucket}.{host}"
        return scheme, host, url.port or (443 if scheme == "https" else 80)


@dataclass(frozen=True)
class StorageSettings:
    filesystem: FilesystemStorageSettings = field(default_factory=FilesystemStorageSettings)
    s3: S3StorageSettings = field(default_factory=S3StorageSettings)


@dataclass(frozen=True)
class RegistrySettings:
    host: str = "127.0.0.1"
    port: int = 5000
    # Processes `make run` starts (the launcher; behind nginx's upstream, kept alive): replica i listens on
    # port + i, and serves its metrics from metric.port + 4 * i.
    replicas: int = field(default=1, metadata={"min": 1, "max": 16})
    # When nginx is in front, blob GETs answer X-Accel-Redirect to this internal location.
    accel_redirect: bool = False
    accel_prefix: str = "/_blobs/"
    max_manifest_bytes: int = field(default=4 * 1024 * 1024, metadata={"min": 1024})
    # Uploads untouched for this long are removed by the janitor (and their files).
    upload_ttl_hours: int = field(default=168, metadata={"min": 1})
    # Memory for cached manifest and blob lookups, kept exact by database notifications; 0 turns it off.
    cache_mb: int = field(default=64, metadata={"min": 0})
    # An event published this long ago and still not in the audit log is checked against the Redis stream,
    # and published again if Redis lost it.
    event_redelivery_seconds: int = field(default=30, metadata={"min": 1})

    @property
    def accel_s3_prefix(self) -> str:
        """The internal location through which nginx streams blobs from S3 (storage.s3 without redirect)."""
        return self.accel_prefix.rstrip("/") + "_s3/"


@dataclass(frozen=True)
class TokenSettings:
    # Address the token service listens on (behind the proxy, at /service/token).
    host: str = "127.0.0.1"
    port: int = 5001
    # Processes `make run` starts (the launcher; behind nginx's upstream, kept alive): replica i listens on
    # port + i, and serves its metrics from metric.port + 4 * i.
    replicas: int = field(default=1, metadata={"min": 1, "max": 16})
    # Lifetime of an issued token.
    expiration_minutes: int = field(default=30, metadata={"min": 1})
    # The `iss` claim, and the `service` (audience) the registry announces in its challenge.
    issuer: str = "berth-token-issuer"
    service: str = "berth-registry"
    # Signing key and certificate; generated at the token service's first start when absent.
    private_key: str = "/data/berth/secret/token/private_key.pem"
    certificate: str = "/data/berth/secret/token/root.crt"


@dataclass(frozen=True)
class LdapSettings:
    """The directory for `auth_mode: ldap_auth` (Harbor's ldap_* keys, without the prefix)."""

    # ldap://host:389 or ldaps://host:636.
    url: str = ""
    # The service account that searches for users and groups; empty: anonymous search.
    search_dn: str = ""
    search_password: Secret = field(default_factory=lambda: Secret(""))
    # Where users are searched.
    base_dn: str = ""
    # Extra filter users must match, e.g. (objectClass=person); empty: none.
    filter: str = ""
    # The attribute that holds the login name.
    uid: str = "uid"
    scope: str = field(default="subtree", metadata={"choices": ("base", "onelevel", "subtree")})
    # Seconds to wait for the directory (connecting, and each answer).
    timeout: float = field(default=5.0, metadata={"min": 0.1})
    # Check the server's certificate (LDAPS and StartTLS).
    verify_cert: bool = True
    # Upgrade an ldap:// connection with StartTLS.
    start_tls: bool = False
    # CA bundle (PEM) to verify the server's certificate with; empty: the system's.
    ca_file: str = ""
    # Where groups are searched; empty: LDAP groups are not used.
    group_base_dn: str = ""
    # Filter groups must match, e.g. (objectClass=groupOfNames); empty: (objectClass=*).
    group_filter: str = ""
    # The attribute that names a group.
    group_gid: str = "cn"
    # The user attribute listing the user's groups; users without it: groups whose `member` is the user.
    group_membership_attribute: str = "memberOf"
    group_scope: str = field(default="subtree", metadata={"choices": ("base", "onelevel", "subtree")})
    # Members of this group (its DN, under group_base_dn) are system administrators; empty: none.
    group_admin_dn: str = ""
    # Seconds a successful directory login is remembered; 0: ask the directory every time.
    cache_seconds: float = field(default=60.0, metadata={"min": 0})


@dataclass(frozen=True)
class CoreSettings:
    # Address the core service (the REST API at /api/v2.0, later the UI) listens on, behind the proxy.
    host: str = "127.0.0.1"
    port: int = 5002
    # Processes `make run` starts (the launcher; behind nginx's upstream, kept alive): replica i listens on
    # port + i, and serves its metrics from metric.port + 4 * i.
    replicas: int = field(default=1, metadata={"min": 1, "max": 16})
    # Minutes a UI session (/c/login cookie) lives without use; every request with it starts them again.
    session_timeout_minutes: int = field(default=60, metadata={"min": 1})
    # Memory for cached artifact list pages, kept exact by database notifications; 0 turns it off.
    cache_mb: int = field(default=64, metadata={"min": 0})
    # Seconds between health checks of the registry endpoints (Harbor's five minutes).
    registry_health_check_seconds: float = field(default=300.0, metadata={"min": 1})


@dataclass(frozen=True)
class JobserviceSettings:
    # Address the jobservice (the worker for GC, retention, replication, webhooks) serves its health on.
    host: str = "127.0.0.1"
    port: int = 5003
    # Jobs one jobservice process runs at once.
    workers: int = field(default=4, metadata={"min": 1, "max": 64})
    # Seconds between a running job's heartbeats; a stop request is seen at the next one.
    heartbeat_seconds: float = field(default=2.0, metadata={"min": 0.1})
    # Seconds without a heartbeat after which a running job's worker counts as dead: the job is retried
    # (or failed, its attempts spent) by any jobservice process.
    heartbeat_timeout_seconds: float = field(default=30.0, metadata={"min": 1})
    # Attempts a job gets before it fails (retries wait 2, 4, 8, ... seconds).
    max_attempts: int = field(default=3, metadata={"min": 1, "max": 20})
    # The process's CPU niceness (0 to 19): jobs are background work, so on a shared machine the registry
    # and core, whom users wait on, run first (on two cores, GC at nice 0 tripled the push p99).
    nice: int = field(default=10, metadata={"min": 0, "max": 19})
    # How the jobservice reaches this Berth's own registry, token service and core, whose addresses it
    # pushes through for pull-mode replication; empty: http://<host>:<port> of their sections (0.0.0.0 as
    # 127.0.0.1). The Compose deployment sets them to the containers' names.
    registry_url: str = ""
    token_url: str = ""
    core_url: str = ""


@dataclass(frozen=True)
class LogLocalSettings:
    # Directory where the log service writes one file per program.
    location: str = "/var/log/berth"
    # Rotated files kept per program (Harbor's log.local.rotate_count).
    rotate_count: int = field(default=50, metadata={"min": 0})
    # Size at which a program's file is rotated: bytes, or with K, M or G (Harbor's log.local.rotate_size).
    rotate_size: str = field(default="200M", metadata={"size": True})


@dataclass(frozen=True)
class LogCollectorSettings:
    # Where every service sends its log lines: the log service's address.
    host: str = "127.0.0.1"
    port: int = 1514
    # tcp, udp, or none (stdout only).
    protocol: str = field(default="tcp", metadata={"choices": ("tcp", "udp", "none")})
    # Address the log service listens on, UDP and TCP.
    bind: str = "127.0.0.1"
    # Longer messages are cut to this length (and counted).
    max_message_bytes: int = field(default=65536, metadata={"min": 480})


@dataclass(frozen=True)
class LogExternalSettings:
    # Forward every message to another syslog server as well (Harbor's log.external_endpoint); empty host: off.
    host: str = ""
    port: int = 5140
    # tcp or udp.
    protocol: str = field(default="tcp", metadata={"choices": ("tcp", "udp")})


@dataclass(frozen=True)
class LogSettings:
    level: str = field(default="info", metadata={"choices": ("debug", "info", "warning", "error")})
    # json for collectors and production; console for a person at a terminal.
    format: str = field(default="json", metadata={"choices": ("json", "console")})
    local: LogLocalSettings = field(default_factory=LogLocalSettings)
    collector: LogCollectorSettings = field(default_factory=LogCollectorSettings)
    external_endpoint: LogExternalSettings = field(default_factory=LogExternalSettings)


# Each service's metrics listener, as an offset from metric.port: on one machine (make run) they cannot share a
# port; in the compose deployment each container has its own address and all may keep the same offsets. The
# proxy (one nginx, never replicated) serves its stub_status below them, so replicas' blocks stay contiguous.
METRIC_PORT_OFFSETS = {"proxy": -1, "registry": 0, "token": 1, "core": 2, "jobservice": 3}
# A further replica of the services shifts its metrics ports by this much (one block of offsets each).
METRIC_REPLICA_STRIDE = 4


@dataclass(frozen=True)
class MetricSettings:
    """Prometheus metrics, as Harbor's harbor.yml has them: each service serves `path` on a port of its own,
    `port` plus the service's offset (proxy -1, registry +0, token +1, core +2, jobservice +3)."""

    enabled: bool = False
    # At least 2: nginx's stub_status is on port - 1.
    port: int = field(default=9090, metadata={"min": 2})
    path: str = "/metrics"
    # How often figures read from the database (projects, queues) are read again; a scrape only reads the
    # last reading, so it never waits on the database.
    refresh_seconds: float = field(default=15.0, metadata={"min": 0.5})

    def replica_base(self, replica: int) -> int:
        """The `port` replica `replica` (0 the first) of the services is given: one block of offsets each."""
        return self.port + METRIC_REPLICA_STRIDE * replica

    def port_of(self, service: str, replica: int = 0) -> int:
        return self.replica_base(replica) + METRIC_PORT_OFFSETS[service]


@dataclass(frozen=True)
class Settings:
    hostname: str = "127.0.0.1"
    # Initial password of the admin user, set at first start only; empty: a random one, printed once.
    admin_password: Secret = field(default_factory=lambda: Secret("Harbor12345"))
    # db_auth (users in the database) or ldap_auth (users in a directory; admin still from the database).
    auth_mode: str = field(default="db_auth", metadata={"choices": ("db_auth", "ldap_auth")})
    # Whether people may create their own accounts (never as administrators).
    self_registration: bool = False
    # Send every audit log entry as a syslog line (RFC 5424, TCP) to this host:port as well; empty: off.
    audit_log_forward_endpoint: str = field(default="", metadata={"endpoint": True})
    # Keep audit log entries only at the forward endpoint, not in the database (needs the endpoint).
    skip_audit_log_database: bool = False
    # The address clients use to reach Berth (through the proxy); empty means http://<hostname>:<http.port>.
    external_url: str = ""
    # Where the launcher keeps what it owns: rendered configurations, the embedded PostgreSQL and Redis.
    data_volume: str = "/data/berth"
    # The key that encrypts what Berth must store and use again (the credentials of registry endpoints);
    # core creates it at its first start when absent; the jobservice reads the same file.
    secret_key_file: str = "/data/berth/secret/keys/secretkey"
    http: HttpSettings = field(default_factory=HttpSettings)
    https: HttpsSettings = field(default_factory=HttpsSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    redis: RedisSettings = field(default_factory=RedisSettings)
    storage: StorageSettings = field(default_factory=StorageSettings)
    registry: RegistrySettings = field(default_factory=RegistrySettings)
    token: TokenSettings = field(default_factory=TokenSettings)
    ldap: LdapSettings = field(default_factory=LdapSettings)
    core: CoreSettings = field(default_factory=CoreSettings)
    jobservice: JobserviceSettings = field(default_factory=JobserviceSettings)
    log: LogSettings = field(default_factory=LogSettings)
    metric: MetricSettings = field(default_factory=MetricSettings)
    # Where the settings came from, for messages; not a key of the file.
    source: str = field(default="<defaults>", compare=False, metadata={"internal": True})

    def internal_urls(self) -> tuple[str, str, str]:
        """(registry, token service, core) as this Berth's own services reach them."""

        def url(given: str, host: str, port: int) -> str:
            if given:
                return given.rstrip("/")
            reach = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "[::1]"}.get(host, host)
            return f"http://{reach}:{port}"

        js = self.jobservice
        return (
            url(js.registry_url, self.registry.host, self.registry.port),
            url(js.token_url, self.token.host, self.token.port),
            url(js.core_url, self.core.host, self.core.port),
        )

    def public_url(self) -> str:
        if self.external_url:
            return self.external_url.rstrip("/")
        if self.https.enabled:
            port = "" if self.https.port == 443 else f":{self.https.port}"
            return f"https://{self.hostname}{port}"
        return f"http://{self.hostname}:{self.http.port}"


T = TypeVar("T")


def load_settings(path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read the configuration once; the only function that touches the file and the environment."""
    env = os.environ if environ is None else environ
    chosen = path if path is not None else env.get(CONFIG_ENV)
    data: dict[str, Any] = {}
    source = "<defaults>"
    if chosen is None:
        for candidate in DEFAULT_CONFIG_PATHS:
            if Path(candidate).is_file():
                chosen = candidate
                break
    if chosen is not None:
        source = str(chosen)
        try:
            text = Path(chosen).read_text()
        except OSError as exc:
            raise SettingsError(f"{source}: cannot read configuration file: {exc.strerror}") from exc
        except UnicodeDecodeError as exc:
            raise SettingsError(f"{source}: not UTF-8 text (byte {exc.start})") from exc
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise SettingsError(f"{source}: not valid YAML: {exc}") from exc
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise SettingsError(f"{source}: the top level must be a mapping of keys")
        data = loaded
    _apply_env(data, env)
    # Taken before build() consumes it, for the message of a check across keys.
    env_names: dict[str, str] = dict(data.get("__env__", {}))
    s3_env_names: dict[str, str] = dict(_section(data, "storage", "s3").get("__env__", {}))
    settings = build(Settings, data, source=source, prefix="")
    if settings.skip_audit_log_database and not settings.audit_log_forward_endpoint:
        # Harbor refuses it too: the entries would be kept nowhere.
        key = "skip_audit_log_database"
        origin = f"environment {env_names[key]}" if key in env_names else source
        raise SettingsError(
            f"{origin}: key '{key}' is true but 'audit_log_forward_endpoint' is empty, so audit entries would be"
            " kept nowhere; set audit_log_forward_endpoint (host:port) or set skip_audit_log_database to false"
        )
    s3 = settings.storage.s3
    if s3.keyid and not s3.encrypt:
        # Distribution ignores keyid then; an operator who named a KMS key means objects to be encrypted with it.
        origin = f"environment {s3_env_names['keyid']}" if "keyid" in s3_env_names else source
        raise SettingsError(
            f"{origin}: key 'storage.s3.keyid' is set but 'storage.s3.encrypt' is not true, so the KMS key would"
            " never be used; set storage.s3.encrypt to true (SSE-KMS with that key) or remove keyid"
        )
    return dataclasses.replace(settings, source=source)


def _section(data: Mapping[str, Any], *path: str) -> Mapping[str, Any]:
    """The mapping at `path` in the raw configuration, or an empty one (build() reports a wrong shape)."""
    node: Any = data
    for part in path:
        node = node.get(part) if isinstance(node, Mapping) else None
    return node if isinstance(node, Mapping) else {}


def _apply_env(data: dict[str, Any], env: Mapping[str, str]) -> None:
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX) or name == CONFIG_ENV:
            continue
        parts = name[len(ENV_PREFIX) :].lower().split("__")
        node = data
        for part in parts[:-1]:
            if node.get(part) is None:  # absent, or a section whose keys are all commented out
                node[part] = {}
            child = node[part]
            if not isinstance(child, dict):
                raise SettingsError(f"environment {name}: {'.'.join(parts[:-1])} is not a section")
            node = child
        # Kept as text: `_convert` reads it by the key's type, so a password "0123" stays "0123".
        node[parts[-1]] = raw
        node.setdefault("__env__", {})[parts[-1]] = name


def build(cls: type[T], data: Any, *, source: str, prefix: str) -> T:
    """Build dataclass `cls` from a mapping, refusing unknown keys and wrong types by name."""
    where = prefix.rstrip(".") or "top level"
    if not isinstance(data, dict):
        raise SettingsError(f"{source}: {where} must be a mapping, got {type(data).__name__}")
    env_names: dict[str, str] = data.pop("__env__", {})
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("internal")}  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        origin = f"environment {env_names[name]}" if name in env_names else source
        if name not in fields:
            known = ", ".join(sorted(fields))
            raise SettingsError(f"{origin}: unknown key '{prefix}{name}' (known here: {known})")
        if name in env_names:
            value = _from_env_text(hints[name], value, source=origin, key=f"{prefix}{name}")
        kwargs[name] = _convert(hints[name], value, source=origin, key=f"{prefix}{name}")
        _check(fields[name], kwargs[name], source=origin, key=f"{prefix}{name}")
    return cls(**kwargs)


def _check(f: dataclasses.Field[Any], value: Any, *, source: str, key: str) -> None:
    if f.name == "port" and not 1 <= value <= 65535:
        raise SettingsError(f"{source}: key '{key}' must be a port number from 1 to 65535, got {value}")
    minimum = f.metadata.get("min")
    if minimum is not None and value < minimum:
        raise SettingsError(f"{source}: key '{key}' must be at least {minimum}, got {value}")
    maximum = f.metadata.get("max")
    if maximum is not None and value > maximum:
        raise SettingsError(f"{source}: key '{key}' must be at most {maximum}, got {value}")
    choices = f.metadata.get("choices")
    if choices is not None and value not in choices:
        raise SettingsError(f"{source}: key '{key}' must be one of {', '.join(choices)}, got {value!r}")
    if f.metadata.get("size"):
        try:
            parse_size(value)
        except ValueError as exc:
            raise SettingsError(f"{source}: key '{key}': {exc}") from None
    if f.metadata.get("url") and value:
        url = urllib.parse.urlsplit(value)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise SettingsError(
                f"{source}: key '{key}' must be an http:// or https:// URL such as https://minio.example.com:9000,"
                f" got {value!r}"
            )
    if f.metadata.get("endpoints") and value:
        for part in value.split(","):
            try:
                parse_endpoint(part.strip())
            except ValueError as exc:
                raise SettingsError(f"{source}: key '{key}': {exc}") from None
    if f.metadata.get("endpoint") and value:
        try:
            parse_endpoint(value)
        except ValueError as exc:
            raise SettingsError(f"{source}: key '{key}': {exc}") from None


_SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def parse_size(value: str) -> int:
    """'200M' → bytes; units K, M, G (powers of 1024), optionally followed by B."""
    text = value.strip().upper().removesuffix("B")
    number, unit = (text[:-1], text[-1]) if text and text[-1] in "KMG" else (text, "")
    if not number.isdigit() or int(number) <= 0:
        raise ValueError(f"{value!r} is not a size such as 200M, 1G, 512K or a number of bytes")
    return int(number) * _SIZE_UNITS[unit]


_ENDPOINT_EXAMPLE = "such as syslog.example.com:514, 10.0.0.5:1514 or [2001:db8::5]:514"


def parse_endpoint(value: str) -> tuple[str, int]:
    """'host:port' → (host, port), as Go's net.SplitHostPort reads Harbor's audit_log_forward_endpoint: an
    IPv6 address in brackets, a port from 1 to 65535, no scheme and no path."""
    if not value or any(c.isspace() or c in "/@?#" for c in value):
        raise ValueError(f"{value!r} is not host:port ({_ENDPOINT_EXAMPLE}; no scheme, no path)")
    if value.startswith("["):
        close = value.find("]")
        host, rest = value[1:close], value[close + 1 :]
        if close < 0 or not host or not rest.startswith(":"):
            raise ValueError(f"{value!r} is not host:port ({_ENDPOINT_EXAMPLE})")
        port = rest[1:]
    else:
        host, colon, port = value.rpartition(":")
        if not colon:
            raise ValueError(f"{value!r} has no port: give host:port ({_ENDPOINT_EXAMPLE})")
        if not host:
            raise ValueError(f"{value!r} has no host: give host:port ({_ENDPOINT_EXAMPLE})")
        if ":" in host or "[" in host or "]" in host:
            raise ValueError(f"{value!r}: put an IPv6 address in brackets, as in [2001:db8::5]:514")
    if not (port.isascii() and port.isdigit()) or not 1 <= int(port) <= 65535:
        raise ValueError(f"the port of {value!r} must be a number from 1 to 65535, got {port!r}")
    return host, int(port)


_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def _from_env_text(hint: Any, raw: str, *, source: str, key: str) -> Any:
    """An environment value is text; read it as the key's type (an int for a port, and so on)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    try:
        if hint is bool:
            lowered = raw.strip().lower()
            if lowered in _TRUE | _FALSE:
                return lowered in _TRUE
            return raw
        if hint is int:
            return int(raw)
        if hint is float:
            return float(raw)
    except ValueError:
        return raw
    if dataclasses.is_dataclass(hint):
        raise SettingsError(f"{source}: '{key}' is a section; set its keys, e.g. {ENV_PREFIX}{key.upper()}__<KEY>")
    return raw


def _convert(hint: Any, value: Any, *, source: str, key: str) -> Any:
    if dataclasses.is_dataclass(hint):
        if value is None:
            value = {}
        return build(typing.cast(type[Any], hint), value, source=source, prefix=f"{key}.")
    if hint is Secret:
        if value is None:
            value = ""
        if not isinstance(value, str | int):
            raise SettingsError(f"{source}: key '{key}' must be a string")
        return Secret(str(value))
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None:
            return None
        hint = args[0]
    if hint is bool:
        if not isinstance(value, bool):
            raise SettingsError(f"{source}: key '{key}' must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SettingsError(f"{source}: key '{key}' must be an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SettingsError(f"{source}: key '{key}' must be a number, got {value!r}")
        return float(value)
    if hint is str:
        if value is None:
            return ""
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise SettingsError(f"{source}: key '{key}' must be a string, got {value!r}")
        return str(value)
    raise SettingsError(f"{source}: key '{key}' has an unsupported type")  # pragma: no cover
