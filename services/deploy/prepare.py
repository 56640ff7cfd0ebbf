"""The prepare step of the Compose deployment, as Harbor's `prepare`: berth.yml in, each container's files out.

`python -m services.deploy.prepare --config berth.yml --out DIR` reads berth.yml once and writes, under DIR:

    docker-compose.yml             copied from deploy/ unless DIR already holds it (the offline bundle does)
    .env                           what the compose file substitutes: image version, published ports, replicas
    docker-compose.override.yml    only with TLS: publishes https.port (compose merges it automatically)
    config/<service>/berth.yml     one per Python service: hosts are compose service names, binds 0.0.0.0
    config/proxy/nginx.conf        rendered by services.proxy with the containers as upstreams
    config/proxy/tls/              the certificate and key from https.certificate/private_key (when set)
    config/secret/token/           the token signing key pair, generated once, kept on later runs
    config/secret/keys/secretkey   the key of stored credentials (core, jobservice, registry, token),
                                   generated once, kept
    config/secret/s3/secretkey     the S3 secret key (registry and jobservice), from berth.yml or its file
    config/db/env                  the database password for the PostgreSQL container (generated once)

so that `cd DIR && docker compose up -d` starts Berth. Running it again after editing berth.yml re-renders
everything but keeps the key pair and the generated password (the database volume was initialised with it).
A berth.yml the services would refuse is refused here, in one line naming the key and the file (exit 2).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.metadata
import os
import secrets
import shutil
import sys
import urllib.parse
from pathlib import Path
from typing import Any

import yaml

from services.common.auth.tokens import load_or_create_keypair
from services.common.secret import Secret
from services.common.secret_key import load_or_create_secret_key
from services.common.settings import Settings, SettingsError, load_settings
from services.deploy.rootfs import BERTH_UID
from services.proxy.prepare import check_certificate
from services.proxy.render import Upstreams, render_nginx_conf

# Paths inside the containers; docker-compose.yml mounts the files prepare writes at these places.
CONFIG = "/etc/berth/berth.yml"
STORAGE = "/data/registry"
LOGS = "/var/log/berth"
TOKEN_KEY = "/etc/berth/secret/token/private_key.pem"
TOKEN_CERT = "/etc/berth/secret/token/root.crt"
SECRET_KEY = "/etc/berth/secret/keys/secretkey"
S3_SECRET = "/etc/berth/secret/s3/secretkey"
# The services that open the storage driver, and so the only ones given the S3 secret key.
STORAGE_SERVICES = ("registry", "jobservice")
PROXY_DIR = Path("/var/lib/berth/proxy")
TLS_CERT = "/etc/berth/tls/server.crt"
TLS_KEY = "/etc/berth/tls/server.key"
# Each service's port inside its own network namespace: fixed, since nothing outside the compose network
# connects to them. The proxy alone listens on berth.yml's http.port/https.port, published one to one, so
# the URLs it writes (the HTTP → HTTPS redirect) name the ports clients use.
PORTS = {
    "registry": 5000,
    "token": 5001,
    "core": 5002,
    "jobservice": 5003,
    "log": 1514,
    "postgresql": 5432,
    "redis": 6379,
}
PYTHON_SERVICES = ("log", "registry", "token", "core", "jobservice")
# Docker's embedded DNS, in every container on a user-defined network: nginx asks it for the services' names
# per request, so it follows `docker compose up --scale` and restarted containers.
DOCKER_DNS = "127.0.0.11"
COMPOSE_FILE = "docker-compose.yml"
OVERRIDE_FILE = "docker-compose.override.yml"


def prepare(
    settings: Settings, out: Path, *, compose_source: Path | None = None, host_root: Path | None = None
) -> None:
    """Render every container's configuration for `settings` into `out` (see the module docstring).

    Everything that can be refused is checked before the first file is written: a refused berth.yml
    leaves an earlier, working rendering as it was."""
    config = out / "config"
    tls = tls_pair(settings, host_root)
    check_accel_prefix(settings)
    if compose_source is None and not (out / COMPOSE_FILE).is_file():
        raise SettingsError(f"{out / COMPOSE_FILE} is missing; pass --compose-file deploy/docker-compose.yml")
    password = database_password(settings, config / "db" / "env")
    s3_secret = s3_secret_key(settings, host_root)

    for sub in (*PYTHON_SERVICES, "proxy/tls", "secret/token", "secret/keys", "secret/s3", "db"):
        (config / sub).mkdir(parents=True, exist_ok=True)
    if compose_source is not None and compose_source.resolve() != (out / COMPOSE_FILE).resolve():
        shutil.copyfile(compose_source, out / COMPOSE_FILE)
    db = settings.database
    _write(
        config / "db" / "env",
        f"POSTGRES_USER={db.username}\nPOSTGRES_PASSWORD={password}\nPOSTGRES_DB={db.name}\n",
        0o600,
    )
    tls_dir = config / "proxy" / "tls"
    if tls is None:
        for name in ("server.crt", "server.key"):
            (tls_dir / name).unlink(missing_ok=True)
    else:
        _write(tls_dir / "server.crt", tls[0].read_text(), 0o644, owner=BERTH_UID)
        _write(tls_dir / "server.key", tls[1].read_text(), 0o600, owner=BERTH_UID)
    s3_file = config / "secret" / "s3" / "secretkey"
    if s3_secret is None:
        s3_file.unlink(missing_ok=True)
    else:
        _write(s3_file, s3_secret + "\n", 0o600, owner=BERTH_UID)
    for service in PYTHON_SERVICES:
        data = service_settings(settings, service, password, s3_secret=s3_secret is not None)
        _write(config / service / "berth.yml", render_yaml(data, settings.source), 0o600, owner=BERTH_UID)

    load_or_create_keypair(
        str(config / "secret" / "token" / "private_key.pem"),
        str(config / "secret" / "token" / "root.crt"),
        settings.token.issuer,
    )
    for name in ("private_key.pem", "root.crt"):
        _chown(config / "secret" / "token" / name, BERTH_UID)
    load_or_create_secret_key(str(config / "secret" / "keys" / "secretkey"))
    _chown(config / "secret" / "keys" / "secretkey", BERTH_UID)

    upstreams = Upstreams(
        registry=f"registry:{PORTS['registry']}",
        token=f"token:{PORTS['token']}",
        core=f"core:{PORTS['core']}",
        log_collector=f"log:{PORTS['log']}",
        resolver=DOCKER_DNS,
        # stub_status on the container's address, for a scraper in the compose network; not published.
        status_host="",
    )
    proxy = proxy_settings(settings, tls is not None)
    _write(config / "proxy" / "nginx.conf", render_nginx_conf(proxy, upstreams, PROXY_DIR), 0o644)

    _write(out / ".env", compose_env(settings), 0o644)
    override = out / OVERRIDE_FILE
    if tls is not None:
        _write(override, https_override(settings), 0o644)
    else:
        override.unlink(missing_ok=True)


def database_password(settings: Settings, env_file: Path) -> str:
    """berth.yml's database.password; else the one generated by an earlier run; else a new random one.
    PostgreSQL takes it at initdb only, so a generated one must survive every later prepare."""
    given = settings.database.password.reveal()
    if given:
        if "\n" in given:
            raise SettingsError(f"{settings.source}: key 'database.password' must be one line")
        return given
    if env_file.is_file():
        for line in env_file.read_text().splitlines():
            if line.startswith("POSTGRES_PASSWORD="):
                return line.split("=", 1)[1]
    return secrets.token_urlsafe(24)


def s3_secret_key(settings: Settings, host_root: Path | None) -> str | None:
    """The S3 secret key the storage services get in a file of their own: berth.yml's secretkey, or what
    its secretkey_file holds on the host (a path there means nothing inside a container). None without
    S3 or without either, when botocore finds credentials itself (AWS_* variables, an instance role)."""
    s3 = settings.storage.s3
    if not s3.enabled:
        return None
    if not s3.secretkey_file:
        return s3.secretkey.reveal() or None
    path = _host_path(s3.secretkey_file, _base(settings), host_root)
    try:
        value = path.read_text().strip()
    except OSError as exc:
        raise SettingsError(
            f"{settings.source}: key 'storage.s3.secretkey_file': cannot read {path}: {exc.strerror}"
        ) from None
    if not value or "\n" in value:
        raise SettingsError(f"{settings.source}: key 'storage.s3.secretkey_file': {path} must hold the key, one line")
    return value


def _base(settings: Settings) -> Path:
    # A relative path is taken from berth.yml's directory, where an operator would look for it.
    return Path(settings.source).parent if settings.source != "<defaults>" else Path.cwd()


def tls_pair(settings: Settings, host_root: Path | None) -> tuple[Path, Path] | None:
    """The certificate and key files to give nginx, checked (one line naming the key when wrong); None
    without TLS."""
    https = settings.https
    if not https.enabled:
        return None
    base = _base(settings)
    readable = dataclasses.replace(
        settings,
        https=dataclasses.replace(
            https,
            certificate=str(_host_path(https.certificate, base, host_root)) if https.certificate else "",
            private_key=str(_host_path(https.private_key, base, host_root)) if https.private_key else "",
        ),
    )
    check_certificate(readable)
    return Path(readable.https.certificate), Path(readable.https.private_key)


def check_accel_prefix(settings: Settings) -> None:
    # It becomes an nginx location: a path, with nothing nginx would read as syntax or a variable.
    prefix = settings.registry.accel_prefix
    if not (prefix.startswith("/") and prefix.endswith("/")) or set(prefix) & set('$"\\;{} \n'):
        raise SettingsError(
            f"{settings.source}: key 'registry.accel_prefix' must be a path that starts and ends with '/', "
            f"got {prefix!r}"
        )


def _host_path(path: str, base: Path, host_root: Path | None) -> Path:
    # Run in a container (install.sh), the host's files are under host_root (/ mounted there read-only);
    # a relative path is taken from `base`.
    p = Path(path)
    if not p.is_absolute():
        return base / p
    return host_root / p.relative_to("/") if host_root is not None else p


def service_settings(settings: Settings, service: str, db_password: str, *, s3_secret: bool = False) -> dict[str, Any]:
    """berth.yml for one Python service's container: the operator's settings, with the addresses, paths
    and listeners of the compose deployment. `s3_secret`: prepare wrote the S3 secret key to its file;
    the storage services read it there, the others never see it."""
    data: dict[str, Any] = to_plain(settings)
    data["storage"]["s3"].update(secretkey="", secretkey_file="")
    if s3_secret and service in STORAGE_SERVICES:
        data["storage"]["s3"]["secretkey_file"] = S3_SECRET
    data["external_url"] = settings.public_url()
    data["data_volume"] = "/var/lib/berth"
    data["secret_key_file"] = SECRET_KEY
    data["https"].update(certificate=TLS_CERT if settings.https.enabled else "", private_key="")
    if settings.https.enabled:
        data["https"]["private_key"] = TLS_KEY
    data["database"].update(host="postgresql", port=PORTS["postgresql"], password=db_password)
    data["redis"]["url"] = redis_url(settings.redis.url)
    data["storage"]["filesystem"]["rootdirectory"] = STORAGE
    # nginx fronts the registry and serves blob bytes from the same volume (mounted read-only there).
    data["registry"].update(host="0.0.0.0", port=PORTS["registry"], accel_redirect=True)
    data["token"].update(host="0.0.0.0", port=PORTS["token"], private_key=TOKEN_KEY, certificate=TOKEN_CERT)
    data["core"].update(host="0.0.0.0", port=PORTS["core"])
    data["jobservice"].update(
        host="0.0.0.0",
        port=PORTS["jobservice"],
        registry_url=f"http://registry:{PORTS['registry']}",
        token_url=f"http://token:{PORTS['token']}",
        core_url=f"http://core:{PORTS['core']}",
    )
    log = data["log"]
    log["local"]["location"] = LOGS
    log["collector"].update(host="log", port=PORTS["log"], bind="0.0.0.0")
    if service != "log":
        # As in Harbor, a container logs to stdout and Docker's syslog logging driver ships it to the log
        # container (docker-compose.yml); the service's own shipper would send every line a second time.
        log["collector"]["protocol"] = "none"
    return data


def proxy_settings(settings: Settings, tls: bool) -> Settings:
    """The settings nginx.conf is rendered from: container paths for storage and certificate; syslog on."""
    log = settings.log
    return dataclasses.replace(
        settings,
        https=dataclasses.replace(
            settings.https, certificate=TLS_CERT if tls else "", private_key=TLS_KEY if tls else ""
        ),
        storage=dataclasses.replace(
            settings.storage, filesystem=dataclasses.replace(settings.storage.filesystem, rootdirectory=STORAGE)
        ),
        # nginx's syslog client speaks UDP; the log container listens on both.
        log=dataclasses.replace(log, collector=dataclasses.replace(log.collector, protocol="udp")),
    )


def redis_url(url: str) -> str:
    """The compose deployment's own Redis, keeping the database number of berth.yml's URL."""
    path = urllib.parse.urlsplit(url).path or "/0"
    return f"redis://redis:{PORTS['redis']}{path}"


def compose_env(settings: Settings) -> str:
    lines = [
        "# Rendered by prepare from berth.yml; docker compose reads it from this directory.",
        f"BERTH_VERSION={version()}",
        f"BERTH_HTTP_PORT={settings.http.port}",
        f"BERTH_HTTPS_PORT={settings.https.port}",
        # Docker's syslog logging driver runs in the daemon, on the host: the log container is published
        # on the host's loopback (Harbor's 127.0.0.1:1514) for it, and for nobody else.
        f"BERTH_LOG_PORT={settings.log.collector.port}",
        # The compose file's `scale:` of each; `docker compose up --scale registry=3` wins over them.
        f"BERTH_REGISTRY_REPLICAS={settings.registry.replicas}",
        f"BERTH_TOKEN_REPLICAS={settings.token.replicas}",
        f"BERTH_CORE_REPLICAS={settings.core.replicas}",
        # Not used by the compose file: what install.sh prints.
        f"BERTH_URL={settings.public_url()}",
    ]
    return "\n".join(lines) + "\n"


def https_override(settings: Settings) -> str:
    return (
        "# Rendered by prepare because berth.yml sets https.certificate; removed when it does not.\n"
        'version: "2.4"\n'
        "services:\n"
        "  proxy:\n"
        "    ports:\n"
        f'      - "{settings.https.port}:{settings.https.port}"\n'
    )


def version() -> str:
    try:
        return importlib.metadata.version("berth")
    except importlib.metadata.PackageNotFoundError:
        return "dev"


def to_plain(value: Any) -> Any:
    """Settings → the mapping berth.yml holds (secrets revealed: these files are the services' own)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: to_plain(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if not f.metadata.get("internal")
        }
    if isinstance(value, Secret):
        return value.reveal()
    return value


def render_yaml(data: dict[str, Any], source: str) -> str:
    header = f"# Rendered by services.deploy.prepare from {source}; edit that file and run prepare again.\n"
    return header + str(yaml.safe_dump(data, sort_keys=False, default_flow_style=False))


def _write(path: Path, text: str, mode: int, *, owner: int | None = None) -> None:
    """Atomically, so a container restarting meanwhile never reads half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, mode)
    if owner is not None:
        _chown(tmp, owner)
    os.replace(tmp, path)


def _chown(path: Path, uid: int) -> None:
    # The services run as uid 10000 in their containers; a key only its owner reads must be theirs. Not
    # root (a developer trying prepare): left as is, and the containers would not read the secrets.
    if os.geteuid() == 0:
        os.chown(path, uid, uid)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m services.deploy.prepare", description=__doc__.split("\n")[0])
    parser.add_argument("--config", required=True, help="berth.yml to read")
    parser.add_argument("--out", required=True, type=Path, help="directory of the compose deployment")
    parser.add_argument("--compose-file", type=Path, help="docker-compose.yml to copy into --out")
    parser.add_argument("--host-root", type=Path, help="where the host's / is mounted (prepare in a container)")
    args = parser.parse_args(argv)
    compose = args.compose_file
    if compose is None:
        repo_copy = Path(__file__).resolve().parents[2] / "deploy" / COMPOSE_FILE
        compose = repo_copy if repo_copy.is_file() else None
    try:
        settings = load_settings(args.config)
        args.out.mkdir(parents=True, exist_ok=True)
        prepare(settings, args.out, compose_source=compose, host_root=args.host_root)
    except SettingsError as exc:
        print(f"berth prepare: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    except OSError as exc:
        print(f"berth prepare: cannot write {exc.filename}: {exc.strerror}", file=sys.stderr)
        raise SystemExit(1) from exc
    print(f"berth prepare: wrote {args.out} (start with: cd {args.out} && docker compose up -d)")


if __name__ == "__main__":
    main()
