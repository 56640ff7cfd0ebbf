"""The signing key: loaded (or generated at first start) when the service starts, not at import."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import structlog

from services.common.auth.tokens import InvalidToken, TokenSigner, load_or_create_keypair
from services.common.settings import TokenSettings

# How long a start waits for another one that is generating the same key pair right now.
PAIR_WAIT_S = 5.0

log = structlog.get_logger()


class SigningKey:
    def __init__(self, settings: TokenSettings) -> None:
        self._settings = settings
        self._signer: TokenSigner | None = None

    @property
    def signer(self) -> TokenSigner:
        if self._signer is None:
            raise RuntimeError("token signing key used before start-up loaded it")
        return self._signer

    async def lifespan(self, _app: object) -> AsyncIterator[None]:
        """For `app.cleanup_ctx`."""
        key_pem = await asyncio.to_thread(self._load)
        self._signer = TokenSigner(key_pem)
        log.info("token_key_loaded", kid=self._signer.kid, certificate=self._settings.certificate)
        yield

    def _load(self) -> bytes:
        s = self._settings
        deadline = time.monotonic() + PAIR_WAIT_S
        while True:
            try:
                key_pem, _cert_pem = load_or_create_keypair(s.private_key, s.certificate, s.issuer)
                return key_pem
            except (FileExistsError, InvalidToken) as exc:
                # Another replica is writing the pair this moment (key first, then certificate); a pair
                # still half there after the wait is a real problem, reported with the keys to check.
                if time.monotonic() > deadline:
                    raise InvalidToken(f"{exc} (keys token.private_key, token.certificate)") from exc
                time.sleep(0.05)
            except OSError as exc:
                raise InvalidToken(
                    f"cannot read or create the token signing key {s.private_key} and certificate {s.certificate}:"
                    f" {exc.strerror} (keys token.private_key, token.certificate)"
                ) from exc
