from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.harness import slapd
from tests.harness.plugin import TestDatabase
from tests.harness.slapd import SlapdServer
from tests.harness.token import TokenServiceProcess

# Seeded in every module's directory: uid → password, and group cn → member uids.
USERS = {
    "alice": "alice-pw",
    "bob": "bob-pw",
    "carol": "carol-pw",
    "dave": "dave-pw",
    "st*r": "star-pw",
    "nopass": "",
}
GROUPS = {"devs": ["alice", "bob"], "ops": ["carol"]}


def start_slapd(workdir: Path, *, memberof: bool) -> SlapdServer:
    if not slapd.available():
        pytest.skip("slapd is not installed (apt-get install slapd ldap-utils)")
    server = SlapdServer(workdir, memberof=memberof)
    server.start()
    server.seed(USERS, GROUPS)
    return server


def token_for(
    workdir: Path, database: TestDatabase, server: SlapdServer, **ldap_overrides: object
) -> TokenServiceProcess:
    # cache_seconds 0: every login asks the directory, so group changes show at the next one.
    ldap = server.settings(cache_seconds=0, **ldap_overrides)
    proc = TokenServiceProcess(workdir, database, settings={"auth_mode": "ldap_auth", "ldap": ldap})
    proc.start()
    return proc


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:8]


def module_fixtures(
    *, memberof: bool
) -> tuple[Callable[..., Iterator[SlapdServer]], Callable[..., Iterator[TokenServiceProcess]]]:
    """A slapd and a token service in ldap_auth mode pointing at it, once per test module."""

    @pytest.fixture(scope="module")
    def directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlapdServer]:
        server = start_slapd(tmp_path_factory.mktemp("slapd"), memberof=memberof)
        try:
            yield server
        finally:
            server.stop()

    @pytest.fixture(scope="module")
    def token_service(
        directory: SlapdServer, module_database: TestDatabase, tmp_path_factory: pytest.TempPathFactory
    ) -> Iterator[TokenServiceProcess]:
        proc = token_for(tmp_path_factory.mktemp("token"), module_database, directory)
        try:
            yield proc
        finally:
            proc.stop()

    return directory, token_service
