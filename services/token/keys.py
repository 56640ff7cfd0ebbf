"""The signing key: loaded (or generated at first start) when the service starts, not at import."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import structlog

from services.common.auth.scopes import Access
from services.common.auth.tokens import InvalidToken, TokenSigner, load_or_create_keypair
from services.common.settings import TokenSettings

# How long a start waits for another one that is generating the same key pair right now.
PAIR_WAIT_S = 5.0
# Distinct claims remembered within one second; past this, tokens are signed without being remembered.
SAME_SECOND_LIMIT = 4096

log = structlog.get_logger()


class SigningKey:
    def __init__(self, settings: TokenSettings) -> None:
        self._settings = settings
        self._signer: TokenSigner | None = None
        self._second = -1
        self._this_second: dict[tuple[object, ...], str] = {}

    @property
    def signer(self) -> TokenSigner:
        if self._signer is None:
            raise RuntimeError("token signing key used before start-up loaded it")
        return self._signer

    def issue(
        self, *, issuer: str, subject: str, audience: str, access: list[Access], ttl_seconds: int, now: int
    ) -> str:
        """A signed token for these claims. Requests whose claims are identical within one second (the
        resolution of iat, nbf and exp) get the same token, jti included: it is byte for byte a token this
        second's issuance could have signed for each of them, and a fleet of nodes pulling one image with
        one account asks for exactly that at once. Signing (ECDSA, and the cache it evicts) is the largest
        share of a token's CPU; the grant itself is still decided for every request."""
        if now != self._second:
            self._second = now
            self._this_second = {}
        key = (subject, tuple(access), ttl_seconds, issuer, audience)
        token = self._this_second.get(key)
        if token is None:
            token, _claims = self.signer.sign(
                issuer=issuer, subject=subject, audience=audience, access=access, ttl_seconds=ttl_seconds, now=now
            )
            if len(self._this_second) < SAME_SECOND_LIMIT:
                self._this_second[key] = token
        return token

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
