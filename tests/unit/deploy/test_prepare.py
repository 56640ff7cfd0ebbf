"""The Compose deployment's prepare step: what each container gets from one berth.yml (no Docker needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from services.common.auth.tokens import generate_key_and_certificate
from services.deploy.prepare import main

REPO = Path(__file__).resolve().parents[3]


def write_config(directory: Path, **changes: object) -> Path:
    config = yaml.safe_load((REPO / "deploy" / "berth.yml.tmpl").read_text())
    for dotted, value in changes.items():
        node = config
        *parents, last = dotted.split("__")
        for part in parents:
            node = node[part]
        node[last] = value
    path = directory / "berth.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def read_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def test_each_container_gets_compose_addresses(tmp_path: Path) -> None:
    config = write_config(tmp_path, http__port=8081, hostname="registry.example")
    out = tmp_path / "out"
    main(["--config", str(config), "--out", str(out)])

    registry = read_yaml(out / "config" / "registry" / "berth.yml")
    assert registry["external_url"] == "http://registry.example:8081"
    assert registry["database"]["host"] == "postgresql"
    assert registry["database"]["password"]  # generated: the database container gets it too
    assert registry["redis"]["url"] == "redis://redis:6379/0"
    assert (registry["registry"]["host"], registry["registry"]["accel_redirect"]) == ("0.0.0.0", True)
    assert registry["storage"]["filesystem"]["rootdirectory"] == "/data/registry"
    # Docker's syslog logging driver ships stdout; the service itself must not send every line again.
    assert registry["log"]["collector"]["protocol"] == "none"
    # The jobservice: database and Redis as compose services, the registry's volume for GC; its health on
    # 0.0.0.0 for the health check.
    jobservice = read_yaml(out / "config" / "jobservice" / "berth.yml")
    assert jobservice["storage"]["filesystem"]["rootdirectory"] == "/data/registry"
    assert (jobservice["jobservice"]["host"], jobservice["jobservice"]["port"]) == ("0.0.0.0", 5003)
    assert (jobservice["database"]["host"], jobservice["database"]["port"]) == ("postgresql", 5432)
    assert jobservice["database"]["password"] == registry["database"]["password"]
    assert jobservice["redis"]["url"] == "redis://redis:6379/0"
    assert jobservice["log"]["collector"]["protocol"] == "none"
    assert jobservice["external_url"] == "http://registry.example:8081"
    log = read_yaml(out / "config" / "log" / "berth.yml")
    assert (log["log"]["collector"]["bind"], log["log"]["collector"]["protocol"]) == ("0.0.0.0", "tcp")
    env = (out / "config" / "db" / "env").read_text()
    assert f"POSTGRES_PASSWORD={registry['database']['password']}\n" in env
    assert "POSTGRES_USER=postgres\n" in env and "POSTGRES_DB=berth\n" in env

    nginx = (out / "config" / "proxy" / "nginx.conf").read_text()
    # The services' names, resolved per request by Docker's DNS (so `--scale` is followed), no upstream blocks.
    assert "resolver 127.0.0.11 valid=5s ipv6=off;" in nginx
    for service, port in (("registry", 5000), ("token", 5001), ("core", 5002)):
        assert f"default {service}:{port};" in nginx
        assert f"proxy_pass http://$berth_{service};" in nginx
        assert f"upstream {service} " not in nginx
    assert "listen 8081;" in nginx
    assert 'alias "/data/registry/";' in nginx
    assert "syslog:server=log:1514,tag=proxy" in nginx
    dotenv = (out / ".env").read_text()
    assert "BERTH_HTTP_PORT=8081\n" in dotenv and "BERTH_LOG_PORT=1514\n" in dotenv
    assert "BERTH_REGISTRY_REPLICAS=1\n" in dotenv and "BERTH_CORE_REPLICAS=1\n" in dotenv
    assert (out / "docker-compose.yml").read_text() == (REPO / "deploy" / "docker-compose.yml").read_text()
    assert not (out / "docker-compose.override.yml").exists()


def test_a_second_run_keeps_the_key_pair_and_the_password(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    out = tmp_path / "out"
    main(["--config", str(config), "--out", str(out)])
    secret = out / "config" / "secret" / "token"
    first = ((secret / "private_key.pem").read_bytes(), (out / "config" / "db" / "env").read_text())
    main(["--config", str(config), "--out", str(out)])
    assert ((secret / "private_key.pem").read_bytes(), (out / "config" / "db" / "env").read_text()) == first


def test_tls_publishes_https_and_gives_nginx_the_pair(tmp_path: Path) -> None:
    key, cert = generate_key_and_certificate("registry.example")
    (tmp_path / "tls").mkdir()
    (tmp_path / "tls" / "server.key").write_bytes(key)
    (tmp_path / "tls" / "server.crt").write_bytes(cert)
    # Relative paths are taken from berth.yml's directory.
    config = write_config(
        tmp_path, https__port=8443, https__certificate="tls/server.crt", https__private_key="tls/server.key"
    )
    out = tmp_path / "out"
    main(["--config", str(config), "--out", str(out)])

    assert (out / "config" / "proxy" / "tls" / "server.key").read_bytes() == key
    nginx = (out / "config" / "proxy" / "nginx.conf").read_text()
    assert "listen 8443 ssl http2;" in nginx
    assert 'ssl_certificate "/etc/berth/tls/server.crt";' in nginx
    assert "return 308 https://$host:8443$request_uri;" in nginx
    assert '"8443:8443"' in (out / "docker-compose.override.yml").read_text()
    assert read_yaml(out / "config" / "core" / "berth.yml")["external_url"] == "https://127.0.0.1:8443"

    # TLS turned off again: the override goes, so compose stops publishing the port.
    config = write_config(tmp_path)
    main(["--config", str(config), "--out", str(out)])
    assert not (out / "docker-compose.override.yml").exists()


def test_a_broken_berth_yml_is_one_line_naming_key_and_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, registry__port="five thousand")
    with pytest.raises(SystemExit) as exited:
        main(["--config", str(config), "--out", str(tmp_path / "out")])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert str(config) in err and "'registry.port'" in err


def test_a_certificate_without_its_key_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, https__certificate=str(tmp_path / "server.crt"))
    with pytest.raises(SystemExit) as exited:
        main(["--config", str(config), "--out", str(tmp_path / "out")])
    assert exited.value.code == 2
    assert "'https.private_key'" in capsys.readouterr().err
    # Refused before anything is written: a working rendering there would have been left as it was.
    assert list((tmp_path / "out").iterdir()) == []


def test_replicas_become_the_compose_scale_of_each_service(tmp_path: Path) -> None:
    config = write_config(tmp_path, registry__replicas=3, token__replicas=2, core__replicas=4)
    out = tmp_path / "out"
    main(["--config", str(config), "--out", str(out)])
    dotenv = dict(
        line.split("=", 1) for line in (out / ".env").read_text().splitlines() if line and not line.startswith("#")
    )
    assert (dotenv["BERTH_REGISTRY_REPLICAS"], dotenv["BERTH_TOKEN_REPLICAS"], dotenv["BERTH_CORE_REPLICAS"]) == (
        "3",
        "2",
        "4",
    )
    compose = read_yaml(out / "docker-compose.yml")["services"]
    for service in ("registry", "token", "core"):
        assert compose[service]["scale"] == f"${{BERTH_{service.upper()}_REPLICAS:-1}}"
        # Nothing that gives two containers of the service the same name or host port.
        assert "container_name" not in compose[service] and "ports" not in compose[service]
    # One nginx, whichever the count: it follows the containers by DNS, its stub_status unpublished.
    assert "scale" not in compose["proxy"] and "container_name" not in compose["proxy"]
    assert compose["proxy"]["ports"] == ["${BERTH_HTTP_PORT}:${BERTH_HTTP_PORT}"]


def test_stub_status_listens_on_the_containers_address_when_metrics_are_on(tmp_path: Path) -> None:
    config = write_config(tmp_path, metric__enabled=True, metric__port=9300)
    out = tmp_path / "out"
    main(["--config", str(config), "--out", str(out)])
    nginx = (out / "config" / "proxy" / "nginx.conf").read_text()
    assert "listen 9299;" in nginx and "stub_status;" in nginx


def test_the_s3_secret_key_goes_to_a_file_only_the_storage_services_mount(tmp_path: Path) -> None:
    """A secretkey_file names a host path, which means nothing inside a container: prepare copies the key
    to config/secret/s3/secretkey, which docker-compose.yml mounts on the registry and the jobservice,
    and their berth.yml points there; no other service's berth.yml holds the key or its path."""
    (tmp_path / "s3-secret").write_text("the-s3-secret\n")
    config = write_config(
        tmp_path,
        storage__s3={"bucket": "berth", "accesskey": "AKIA1", "secretkey_file": "s3-secret"},
    )
    out = tmp_path / "out"
    main(["--config", str(config), "--out", str(out)])

    secret = out / "config" / "secret" / "s3" / "secretkey"
    assert secret.read_text() == "the-s3-secret\n" and secret.stat().st_mode & 0o777 == 0o600
    for service in ("registry", "jobservice"):
        s3 = read_yaml(out / "config" / service / "berth.yml")["storage"]["s3"]
        assert (s3["secretkey_file"], s3["secretkey"], s3["bucket"]) == ("/etc/berth/secret/s3/secretkey", "", "berth")
    for service in ("core", "token", "log"):
        text = (out / "config" / service / "berth.yml").read_text()
        assert "the-s3-secret" not in text and "/secret/s3/" not in text and "s3-secret" not in text
    compose = read_yaml(out / "docker-compose.yml")["services"]
    mounted = {
        name
        for name, spec in compose.items()
        if "./config/secret/s3:/etc/berth/secret/s3:ro" in spec.get("volumes", [])
    }
    assert mounted == {"registry", "jobservice"}

    # An inline key goes the same way; back to the filesystem, the file goes.
    config = write_config(tmp_path, storage__s3={"bucket": "berth", "secretkey": "inline-secret"})
    main(["--config", str(config), "--out", str(out)])
    assert secret.read_text() == "inline-secret\n"
    assert "inline-secret" not in (out / "config" / "registry" / "berth.yml").read_text()
    main(["--config", str(write_config(tmp_path)), "--out", str(out)])
    assert not secret.exists()
    assert read_yaml(out / "config" / "registry" / "berth.yml")["storage"]["s3"]["secretkey_file"] == ""


def test_an_s3_secret_file_that_cannot_be_read_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, storage__s3={"bucket": "berth", "secretkey_file": str(tmp_path / "absent")})
    with pytest.raises(SystemExit) as exited:
        main(["--config", str(config), "--out", str(tmp_path / "out")])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'storage.s3.secretkey_file'" in err and "absent" in err
    assert list((tmp_path / "out").iterdir()) == []
