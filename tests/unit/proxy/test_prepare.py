"""prepare_proxy's checks (each refusal names the key and the file) and the self-signed pair."""

from __future__ import annotations

import ipaddress
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from services.cli.main import main as berth_main
from services.common.settings import FilesystemStorageSettings, HttpsSettings, Settings, SettingsError, StorageSettings
from services.proxy.cli import main as proxy_main
from services.proxy.prepare import generate_self_signed, prepare_proxy


def settings_for(tmp_path: Path, **https: str) -> Settings:
    return Settings(
        data_volume=str(tmp_path / "data"),
        storage=StorageSettings(filesystem=FilesystemStorageSettings(rootdirectory=str(tmp_path / "blobs"))),
        https=HttpsSettings(port=8443, **https),
        source="/etc/berth/berth.yml",
    )


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "tls" / "server.crt", tmp_path / "tls" / "server.key"
    generate_self_signed("registry.example.com", cert, key)
    return cert, key


def test_writes_the_config_in_the_data_volume(tmp_path: Path) -> None:
    files = prepare_proxy(settings_for(tmp_path))
    assert files.directory == (tmp_path / "data" / "proxy").resolve()
    assert files.config == files.directory / "nginx.conf"
    assert "daemon off;" in files.config.read_text()
    assert (files.directory / "client_body_temp").is_dir()
    # Written by rename: no temporary file is left behind.
    assert sorted(p.name for p in files.directory.iterdir() if p.is_file()) == ["nginx.conf"]


def test_https_config_with_a_valid_pair(tmp_path: Path, pair: tuple[Path, Path]) -> None:
    cert, key = pair
    files = prepare_proxy(settings_for(tmp_path, certificate=str(cert), private_key=str(key)))
    assert "listen 8443 ssl http2;" in files.config.read_text()


@pytest.mark.parametrize(
    ("given", "named"),
    [({"certificate": "CERT"}, "https.private_key"), ({"private_key": "KEY"}, "https.certificate")],
)
def test_half_a_pair_is_refused(tmp_path: Path, pair: tuple[Path, Path], given: dict[str, str], named: str) -> None:
    cert, key = pair
    paths = {k: str(cert if v == "CERT" else key) for k, v in given.items()}
    with pytest.raises(SettingsError, match=rf"^/etc/berth/berth.yml: key '{named}' is empty"):
        prepare_proxy(settings_for(tmp_path, **paths))


def test_missing_file_names_the_key(tmp_path: Path, pair: tuple[Path, Path]) -> None:
    cert, _ = pair
    with pytest.raises(SettingsError, match=r"key 'https.private_key': cannot read .*nope.key: No such file"):
        prepare_proxy(settings_for(tmp_path, certificate=str(cert), private_key=str(tmp_path / "nope.key")))


def test_not_pem_names_the_key(tmp_path: Path, pair: tuple[Path, Path]) -> None:
    cert, key = pair
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(SettingsError, match=r"key 'https.certificate': .*junk.pem is not a PEM certificate"):
        prepare_proxy(settings_for(tmp_path, certificate=str(junk), private_key=str(key)))
    with pytest.raises(SettingsError, match=r"key 'https.private_key': .*junk.pem is not a PEM private key"):
        prepare_proxy(settings_for(tmp_path, certificate=str(cert), private_key=str(junk)))
    # A certificate given as the key is not a key either.
    with pytest.raises(SettingsError, match=r"key 'https.private_key'"):
        prepare_proxy(settings_for(tmp_path, certificate=str(cert), private_key=str(cert)))


def test_key_of_another_certificate_is_refused(tmp_path: Path, pair: tuple[Path, Path]) -> None:
    cert, _ = pair
    other_cert, other_key = tmp_path / "other.crt", tmp_path / "other.key"
    generate_self_signed("other.example.com", other_cert, other_key)
    with pytest.raises(SettingsError, match=r"key 'https.private_key': .*other.key does not match the certificate"):
        prepare_proxy(settings_for(tmp_path, certificate=str(cert), private_key=str(other_key)))


def test_nginx_syntax_in_a_path_is_refused(tmp_path: Path) -> None:
    settings = Settings(
        data_volume=str(tmp_path),
        storage=StorageSettings(filesystem=FilesystemStorageSettings(rootdirectory=str(tmp_path / "$blobs"))),
        source="berth.yml",
    )
    with pytest.raises(SettingsError, match=r"^berth.yml: key 'storage.filesystem.rootdirectory' must not contain"):
        prepare_proxy(settings)


def test_self_signed_pair(tmp_path: Path) -> None:
    cert_path, key_path = tmp_path / "c" / "server.crt", tmp_path / "k" / "server.key"
    generate_self_signed("127.0.0.1", cert_path, key_path)
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert san.get_values_for_type(x509.DNSName) == ["127.0.0.1"]
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    assert key.public_key() == cert.public_key()
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600

    generate_self_signed("registry.example.com", cert_path, key_path)
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["registry.example.com"]
    assert san.get_values_for_type(x509.IPAddress) == []


def test_cli_errors_are_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "berth.yml"
    config.write_text(f"data_volume: {tmp_path}\nhttps:\n  certificate: {tmp_path}/missing.crt\n")
    assert proxy_main(["prepare", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"{config}: key 'https.private_key' is empty" in err

    assert proxy_main(["prepare", "--config", str(config), "--self-signed"]) == 2
    assert "set both" in capsys.readouterr().err


def test_cli_self_signed_then_prepare(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "berth.yml"
    config.write_text(
        f"data_volume: {tmp_path}/data\nhostname: registry.example.com\n"
        f"storage: {{filesystem: {{rootdirectory: {tmp_path}/blobs}}}}\n"
        f"https: {{certificate: {tmp_path}/cert/server.crt, private_key: {tmp_path}/cert/server.key}}\n"
    )
    assert proxy_main(["prepare", "--config", str(config), "--self-signed"]) == 0
    out = capsys.readouterr().out
    assert out.strip() == str((tmp_path / "data" / "proxy" / "nginx.conf").resolve())
    first = (tmp_path / "cert" / "server.crt").read_bytes()
    # A second run keeps the existing pair.
    assert proxy_main(["prepare", "--config", str(config), "--self-signed"]) == 0
    assert (tmp_path / "cert" / "server.crt").read_bytes() == first


def test_berth_prepare_is_the_same_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "berth.yml"
    config.write_text(f"data_volume: {tmp_path}/data\nstorage: {{filesystem: {{rootdirectory: {tmp_path}/blobs}}}}\n")
    assert berth_main(["prepare", "--config", str(config)]) == 0
    assert capsys.readouterr().out.strip() == str((tmp_path / "data" / "proxy" / "nginx.conf").resolve())


def test_relative_paths_are_read_from_the_working_directory(
    tmp_path: Path, pair: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings(
        data_volume="data",
        storage=StorageSettings(filesystem=FilesystemStorageSettings(rootdirectory="blobs")),
        https=HttpsSettings(certificate="tls/server.crt", private_key="tls/server.key"),
    )
    text = prepare_proxy(settings).config.read_text()
    assert f'ssl_certificate "{tmp_path}/tls/server.crt";' in text
    assert f'ssl_certificate_key "{tmp_path}/tls/server.key";' in text
    assert f'alias "{tmp_path}/blobs/";' in text
