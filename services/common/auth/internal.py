"""Berth's own services proving themselves to each other: the jobservice replicating into this registry
(pull mode) logs in to the token service and core as `berth$replication`, whose password is derived from
the secret key file (services/common/secret_key.py), so only a process holding that file knows it; no
account row exists to leak or to be disabled. It acts as the system administrator (the owner of what it
creates is the admin account), as Harbor's jobservice does with its shared secret."""

from __future__ import annotations

import hmac
from collections.abc import Sequence

from services.common.auth.authenticate import Credentials, Identified, Principal
from services.common.auth.errors import InvalidCredentials
from services.common.identity.models import ADMIN_USER_ID
from services.common.secret_key import SecretKeyError, SecretKeyFile

# "$" is in no user name Berth accepts, so no account can take this one.
INTERNAL_NAME = "berth$replication"
_LABEL = "berth internal service: replication"


def internal_password(key: SecretKeyFile) -> str:
    return key.derive(_LABEL)


class InternalAuthenticator:
    def __init__(self, key: SecretKeyFile) -> None:
        self._key = key

    async def authenticate(self, credentials: Credentials, projects: Sequence[str]) -> Identified | None:
        if credentials.username != INTERNAL_NAME:
            return None
        try:
            expected = internal_password(self._key)
        except SecretKeyError:
            raise InvalidCredentials() from None
        if not hmac.compare_digest(credentials.password.encode(), expected.encode()):
            raise InvalidCredentials()
        return Identified(Principal(kind="user", name=INTERNAL_NAME, user_id=ADMIN_USER_ID, sysadmin=True))
