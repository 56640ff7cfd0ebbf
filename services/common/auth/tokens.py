"""Registry tokens (Docker token authentication spec): signed JWTs, the key pair and certificate.

ES256 (ECDSA P-256) rather than Harbor's RS256: a P-256 signature costs tens of microseconds where a
2048-bit RSA one costs about a millisecond, and the token service signs on every docker operation. The
registry verifies once per distinct token (it caches verified claims until they expire), so verification
cost does not matter on its hot path.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
import uuid
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import jwt
import orjson
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from jwt.api_jws import PyJWS

from services.common.auth.scopes import REPOSITORY, Access, InvalidScope, from_claim

ALGORITHM = "ES256"


class InvalidToken(Exception):
    """The token cannot be trusted; the message says why (expired, wrong signature, ...)."""


class Refusal(StrEnum):
    """Why a verified token does not cover one access (what the registry logs)."""

    NOT_GRANTED = "not_granted"  # no entry for the resource holds the action
    NO_PROJECT_ID = "token_without_project_id"  # a repository entry without its project's id (an older token)
    PROJECT_GONE = "project_gone"  # the project named by the repository no longer exists
    PROJECT_REPLACED = "project_replaced"  # it exists under another id: deleted and re-created since


@dataclass(frozen=True, slots=True)
class Claims:
    issuer: str
    subject: str  # the account name; empty for anonymous
    audience: str
    issued_at: int
    not_before: int
    expires_at: int
    jwt_id: str
    access: tuple[Access, ...]

    def entry(self, kind: str, name: str, action: str) -> Access | None:
        """The access entry granting `action` on `kind:name` by name alone; None if there is none."""
        for a in self.access:
            if a.type == kind and a.name == name and (action in a.actions or "*" in a.actions):
                return a
        return None

    def refusal(self, kind: str, name: str, action: str, project_id: int | None) -> Refusal | None:
        """Why the token does not cover `action` on `kind:name`; None when it does.

        `project_id` is the id the project named by a repository has now (None: there is no such project).
        A repository entry covers only the project it was granted in, so a token outlives neither its
        project's deletion nor a re-creation under the same name; one without the id is refused. Other
        types (`registry:catalog`) belong to no project and `project_id` is ignored for them."""
        entry = self.entry(kind, name, action)
        if entry is None:
            return Refusal.NOT_GRANTED
        if kind != REPOSITORY:
            return None
        if entry.project_id is None:
            return Refusal.NO_PROJECT_ID
        if project_id is None:
            return Refusal.PROJECT_GONE
        if entry.project_id != project_id:
            return Refusal.PROJECT_REPLACED
        return None

    def allows(self, kind: str, name: str, action: str, *, project_id: int | None) -> bool:
        """Whether the token covers `action` on `kind:name` in the project that now has `project_id`."""
        return self.refusal(kind, name, action, project_id) is None


def key_id(public_key: ec.EllipticCurvePublicKey) -> str:
    """libtrust's key id (what Docker's distribution expects in `kid`): the first 240 bits of the SHA-256
    of the DER public key, base32, in groups of four separated by colons."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    digest = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode()
    return ":".join(digest[i : i + 4] for i in range(0, len(digest), 4))


def generate_key_and_certificate(common_name: str, *, days: int = 3650) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)


def load_or_create_keypair(key_path: str, cert_path: str, common_name: str) -> tuple[bytes, bytes]:
    """The configured key and certificate; both generated (key readable by its owner only) when absent."""
    key_file, cert_file = Path(key_path), Path(cert_path)
    if key_file.exists() and cert_file.exists():
        return key_file.read_bytes(), cert_file.read_bytes()
    if key_file.exists() != cert_file.exists():
        missing = cert_path if key_file.exists() else key_path
        raise InvalidToken(f"{missing} is missing while its pair exists; restore it or remove both to regenerate")
    key_pem, cert_pem = generate_key_and_certificate(common_name)
    for path in (key_file, cert_file):
        path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key_pem)
    cert_file.write_bytes(cert_pem)
    return key_pem, cert_pem


class TokenSigner:
    def __init__(self, private_key_pem: bytes) -> None:
        key = serialization.load_pem_private_key(private_key_pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise InvalidToken("the token signing key must be an EC P-256 key")
        self._key = key
        self.kid = key_id(key.public_key())
        self._jws = PyJWS(algorithms=[ALGORITHM])

    def sign(
        self, *, issuer: str, subject: str, audience: str, access: list[Access], ttl_seconds: int, now: int
    ) -> tuple[str, Claims]:
        claims = Claims(
            issuer=issuer,
            subject=subject,
            audience=audience,
            issued_at=now,
            not_before=now,
            expires_at=now + ttl_seconds,
            jwt_id=uuid.uuid4().hex,
            access=tuple(access),
        )
        payload = {
            "iss": claims.issuer,
            "sub": claims.subject,
            "aud": claims.audience,
            "exp": claims.expires_at,
            "nbf": claims.not_before,
            "iat": claims.issued_at,
            "jti": claims.jwt_id,
            # Each repository entry carries `project_id`, the id of the project it was granted in, so the
            # registry can refuse it in a project that has been deleted and re-created under the same name
            # since. Per entry rather than a private claim: the binding sits next to the grant it limits,
            # and an extra member of an entry is ignored by every client, as a private claim would be.
            "access": [a.to_claim() for a in claims.access],
        }
        # PyJWS over orjson's bytes rather than jwt.encode: the claims are built here and need none of
        # jwt.encode's checks, and its stdlib JSON was a visible share of a token's CPU.
        token = self._jws.encode(orjson.dumps(payload), self._key, algorithm=ALGORITHM, headers={"kid": self.kid})
        return token, claims


class TokenVerifier:
    def __init__(self, certificate_pem: bytes, *, issuer: str, audience: str, leeway_seconds: int = 30) -> None:
        cert = x509.load_pem_x509_certificate(certificate_pem)
        public_key = cert.public_key()
        if not isinstance(public_key, ec.EllipticCurvePublicKey):
            raise InvalidToken("the token certificate must hold an EC P-256 key")
        self._key = public_key
        self.kid = key_id(public_key)
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway_seconds

    def verify(self, token: str, *, now: int | None = None) -> Claims:
        try:
            header = jwt.get_unverified_header(token)
            if header.get("kid") not in (None, self.kid):
                raise InvalidToken("token was signed by another key")
            payload = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": ["exp", "nbf", "iat", "iss", "aud", "sub", "jti"]},
            )
            if now is not None and payload["exp"] + self._leeway < now:
                raise InvalidToken("token has expired")
            access = tuple(from_claim(a) for a in payload.get("access", []))
        except jwt.ExpiredSignatureError:
            raise InvalidToken("token has expired") from None
        except jwt.ImmatureSignatureError:
            raise InvalidToken("token is not valid yet") from None
        except jwt.InvalidAudienceError:
            raise InvalidToken(f"token is not for service {self._audience!r}") from None
        except jwt.InvalidIssuerError:
            raise InvalidToken("token was issued by another issuer") from None
        except jwt.InvalidSignatureError:
            raise InvalidToken("token signature does not verify") from None
        except (jwt.InvalidTokenError, InvalidScope) as exc:
            raise InvalidToken(f"malformed token: {exc}") from None
        return Claims(
            issuer=payload["iss"],
            subject=payload["sub"],
            audience=self._audience,
            issued_at=payload["iat"],
            not_before=payload["nbf"],
            expires_at=payload["exp"],
            jwt_id=payload["jti"],
            access=access,
        )
