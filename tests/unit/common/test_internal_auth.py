"""The jobservice's internal login: its password is derived from the secret key file, so only a process
holding the file proves the name; any other name is left to the other authenticators."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.common.auth.authenticate import Credentials
from services.common.auth.errors import InvalidCredentials
from services.common.auth.internal import INTERNAL_NAME, InternalAuthenticator, internal_password
from services.common.identity.models import ADMIN_USER_ID
from services.common.secret_key import SecretKeyFile


async def test_the_derived_password_proves_the_internal_name_as_the_sysadmin(tmp_path: Path) -> None:
    key = SecretKeyFile(str(tmp_path / "secretkey"), create=True)
    authenticator = InternalAuthenticator(SecretKeyFile(str(tmp_path / "secretkey")))
    found = await authenticator.authenticate(Credentials(INTERNAL_NAME, internal_password(key)), [])
    assert found is not None and found.principal.sysadmin and found.principal.user_id == ADMIN_USER_ID
    with pytest.raises(InvalidCredentials):
        await authenticator.authenticate(Credentials(INTERNAL_NAME, "guess"), [])
    assert await authenticator.authenticate(Credentials("admin", "whatever"), []) is None


async def test_without_the_key_file_nobody_is_the_internal_account(tmp_path: Path) -> None:
    other = SecretKeyFile(str(tmp_path / "other"), create=True)
    authenticator = InternalAuthenticator(SecretKeyFile(str(tmp_path / "missing")))
    with pytest.raises(InvalidCredentials):
        await authenticator.authenticate(Credentials(INTERNAL_NAME, internal_password(other)), [])
