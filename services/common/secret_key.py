"""The key that encrypts what Berth stores and must read back in clear (a registry endpoint's password):
Fernet (AES-128-CBC with an HMAC-SHA256, from `cryptography`), so a ciphertext that was altered, or made
with another key, is refused rather than decrypted to garbage.

The file holds one urlsafe-base64 Fernet key on one line. Core creates it at its first start when absent
(readable by its owner only); the jobservice, which decrypts the same credentials to replicate, only
reads it."""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import AsyncIterator
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken


class SecretKeyError(ValueError):
    """The key file is missing or unreadable, or a ciphertext does not open with it: one line naming the
    file and what to do (a ValueError, so a service that cannot start for it says so in that line)."""


class SecretKey:
    def __init__(self, key: bytes, source: str) -> None:
        try:
            self._fernet = Fernet(key)
        except ValueError:
            raise SecretKeyError(
                f"{source} is not a secret key (32 urlsafe-base64 bytes on one line); restore the original"
                " file, or remove it to have core create a new one (stored credentials must then be entered again)"
            ) from None
        self._source = source
        self._raw = key

    def derive(self, label: str) -> str:
        """A secret of its own for `label` (HMAC-SHA256 of it under the key), the same in every process
        that holds the file: how Berth's services prove themselves to each other."""
        return hmac.new(self._raw, label.encode(), hashlib.sha256).hexdigest()

    def encrypt(self, plain: str) -> str:
        return self._fernet.encrypt(plain.encode()).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode()
        except (InvalidToken, UnicodeError):
            raise SecretKeyError(
                f"a stored credential does not decrypt with {self._source}: the key file was replaced;"
                " restore the original file or enter the credential again"
            ) from None


def load_secret_key(path: str) -> SecretKey:
    try:
        key = Path(path).read_bytes().strip()
    except FileNotFoundError:
        raise SecretKeyError(
            f"the secret key file {path} is missing; core creates it at its first start: give this service"
            " the same file (secret_key_file in berth.yml)"
        ) from None
    except OSError as exc:
        raise SecretKeyError(f"cannot read the secret key file {path}: {exc.strerror}") from None
    return SecretKey(key, path)


def load_or_create_secret_key(path: str) -> SecretKey:
    """The key in `path`, created (mode 0600) when absent. The new key is written aside and linked into
    place, so a process starting at the same time reads either no file or the whole key of the one that won."""
    file = Path(path)
    if not file.exists():
        aside = file.with_name(f".{file.name}.{os.getpid()}")
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(Fernet.generate_key() + b"\n")
            os.link(aside, file)
        except FileExistsError:
            pass
        except OSError as exc:
            raise SecretKeyError(
                f"cannot create the secret key file {path}: {exc.strerror}; change secret_key_file in berth.yml"
            ) from None
        finally:
            aside.unlink(missing_ok=True)
    return load_secret_key(path)


class SecretKeyFile:
    """The key of `path`, read at its first use (core's lifespan uses it at start-up, so a bad file stops
    core there, in one line; the jobservice reads it when a job first needs it). `create`: make the file
    when absent (core's part)."""

    def __init__(self, path: str, *, create: bool = False) -> None:
        self._path = path
        self._create = create
        self._key: SecretKey | None = None

    def _loaded(self) -> SecretKey:
        if self._key is None:
            self._key = load_or_create_secret_key(self._path) if self._create else load_secret_key(self._path)
        return self._key

    def encrypt(self, plain: str) -> str:
        return self._loaded().encrypt(plain)

    def decrypt(self, token: str) -> str:
        return self._loaded().decrypt(token)

    def derive(self, label: str) -> str:
        return self._loaded().derive(label)

    async def lifespan(self, app: object) -> AsyncIterator[None]:
        self._loaded()
        yield
