"""The prepare step of the proxy: check what nginx will need, render nginx.conf, write it atomically.

`prepare_proxy` is what the launcher and `python -m services.proxy prepare` call; nothing here starts
nginx. Every refusal is a `SettingsError` of one line naming the key and the file it came from.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import grp
import ipaddress
import os
import pwd
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from services.common.settings import Settings, SettingsError
from services.proxy.render import ERROR_LOG, TEMP_PATHS, Upstreams, Worker, render_nginx_conf

# Characters nginx would read as syntax or as a variable even inside a quoted string.
_UNSAFE_IN_PATH = set('$"\\\n\r;{}')


@dataclass(frozen=True)
class ProxyFiles:
    directory: Path  # <data_volume>/proxy: nginx.conf, pid file, temp dirs (and logs without a collector)
    config: Path  # <directory>/nginx.conf, with `daemon off;`

    @property
    def error_log(self) -> Path:
        return self.directory / ERROR_LOG

    def command(self, nginx: str = "nginx") -> list[str]:
        """The nginx command line. `-e`: where nginx writes errors before it has read the configuration."""
        return [nginx, "-p", str(self.directory), "-c", str(self.config), "-e", str(self.error_log)]


def prepare_proxy(settings: Settings, upstreams: Upstreams | None = None) -> ProxyFiles:
    """Validate, render and write `<data_volume>/proxy/nginx.conf`; return its paths."""
    check_certificate(settings)
    for key, value in (
        ("data_volume", settings.data_volume),
        ("storage.filesystem.rootdirectory", settings.storage.filesystem.rootdirectory),
        ("https.certificate", settings.https.certificate),
        ("https.private_key", settings.https.private_key),
    ):
        bad = sorted(_UNSAFE_IN_PATH & set(value))
        if bad:
            raise SettingsError(f"{settings.source}: key '{key}' must not contain {' '.join(map(repr, bad))}")
    prefix = settings.registry.accel_prefix
    if not (prefix.startswith("/") and prefix.endswith("/")) or set(prefix) & (_UNSAFE_IN_PATH | {" "}):
        raise SettingsError(
            f"{settings.source}: key 'registry.accel_prefix' must be a path that starts and ends with '/', "
            f"got {prefix!r}"
        )
    # nginx reads relative paths from its prefix (the proxy directory); berth.yml means the working directory.
    settings = dataclasses.replace(
        settings,
        https=dataclasses.replace(
            settings.https,
            certificate=os.path.abspath(settings.https.certificate) if settings.https.certificate else "",
            private_key=os.path.abspath(settings.https.private_key) if settings.https.private_key else "",
        ),
        storage=dataclasses.replace(
            settings.storage,
            filesystem=dataclasses.replace(
                settings.storage.filesystem, rootdirectory=os.path.abspath(settings.storage.filesystem.rootdirectory)
            ),
        ),
    )
    directory = Path(settings.data_volume).resolve() / "proxy"
    worker = worker_account(settings)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for name in TEMP_PATHS:
            temp = directory / f"{name}_temp"
            temp.mkdir(exist_ok=True)
            if worker is not None:
                # The workers write request and response spool files here.
                os.chown(temp, pwd.getpwnam(worker.user).pw_uid, grp.getgrnam(worker.group).gr_gid)
    except OSError as exc:
        raise SettingsError(f"{settings.source}: key 'data_volume': cannot create {directory}: {exc.strerror}") from exc
    text = render_nginx_conf(settings, upstreams or Upstreams.from_settings(settings), directory, worker=worker)
    config = directory / "nginx.conf"
    write_atomically(config, text.encode(), mode=0o644)
    return ProxyFiles(directory=directory, config=config)


def worker_account(settings: Settings) -> Worker | None:
    """As root: the owner of the blob store (created if absent), so workers read blobs as the registry
    writes them. Not root: None (nginx cannot switch users, and its workers are this user already)."""
    if os.geteuid() != 0:
        return None
    root = Path(settings.storage.filesystem.rootdirectory)
    try:
        root.mkdir(parents=True, exist_ok=True)
        st = root.stat()
    except OSError as exc:
        raise SettingsError(
            f"{settings.source}: key 'storage.filesystem.rootdirectory': cannot create {root}: {exc.strerror}"
        ) from exc
    try:
        user = pwd.getpwuid(st.st_uid).pw_name
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        raise SettingsError(
            f"{settings.source}: key 'storage.filesystem.rootdirectory': {root} belongs to uid {st.st_uid} or "
            f"gid {st.st_gid}, which has no name here for nginx's `user`"
        ) from None
    return Worker(user=user, group=group)


def check_certificate(settings: Settings) -> None:
    """Both or neither of https.certificate and https.private_key; readable PEM files; a matching pair."""
    https, source = settings.https, settings.source
    if not https.enabled:
        return
    if not https.certificate:
        raise SettingsError(f"{source}: key 'https.certificate' is empty but 'https.private_key' is set; set both")
    if not https.private_key:
        raise SettingsError(f"{source}: key 'https.private_key' is empty but 'https.certificate' is set; set both")
    cert_data = _read(source, "https.certificate", https.certificate)
    key_data = _read(source, "https.private_key", https.private_key)
    try:
        chain = x509.load_pem_x509_certificates(cert_data)
    except ValueError:
        raise SettingsError(
            f"{source}: key 'https.certificate': {https.certificate} is not a PEM certificate"
        ) from None
    try:
        key = serialization.load_pem_private_key(key_data, password=None)
    except TypeError:
        raise SettingsError(
            f"{source}: key 'https.private_key': {https.private_key} is encrypted; nginx needs it unencrypted"
        ) from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise SettingsError(
            f"{source}: key 'https.private_key': {https.private_key} is not a PEM private key ({type(exc).__name__})"
        ) from None
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if chain[0].public_key().public_bytes(*spki) != key.public_key().public_bytes(*spki):
        raise SettingsError(
            f"{source}: key 'https.private_key': {https.private_key} does not match the certificate "
            f"{https.certificate} ('https.certificate'; its first certificate must be the server's)"
        )


def _read(source: str, key: str, path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise SettingsError(f"{source}: key '{key}': cannot read {path}: {exc.strerror}") from exc


def generate_self_signed(hostname: str, certificate: Path, private_key: Path) -> None:
    """A self-signed certificate (P-256, 10 years) for `hostname`, which is also its own trust anchor:
    clients are given the certificate itself (`skopeo --cert-dir`, `/etc/docker/certs.d/<host>/ca.crt`)."""
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName(hostname)]
    try:
        names.append(x509.IPAddress(ipaddress.ip_address(hostname)))
    except ValueError:
        pass
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = dt.datetime.now(dt.UTC)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        # CA and keyCertSign: OpenSSL and Go accept it as the trust anchor that signs itself.
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    write_atomically(private_key, key_pem, mode=0o600)
    write_atomically(certificate, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)


def write_atomically(path: Path, data: bytes, *, mode: int) -> None:
    """Readers (nginx reloading, a second prepare) see the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
