"""The group-search path (no memberOf: groups whose `member` is the user), and the directory itself."""

from __future__ import annotations

import pytest

from services.common.ldap.directory import DirectoryUnavailable, InvalidCredentials
from services.common.ldap.ldap3_directory import Ldap3Directory
from services.common.rbac import Role
from services.common.settings import LdapSettings, build
from tests.harness.plugin import TestDatabase
from tests.harness.slapd import SlapdServer, group_dn, user_dn
from tests.harness.token import TokenServiceProcess, add_group_role, add_project
from tests.integration.ldap.conftest import USERS, module_fixtures
from tests.integration.token.helpers import ask, granted

pytestmark = pytest.mark.integration

directory, token_service = module_fixtures(memberof=False)


def ldap_directory(server: SlapdServer, **overrides: object) -> Ldap3Directory:
    return Ldap3Directory(build(LdapSettings, dict(server.settings(**overrides)), source="test", prefix="ldap."))


def test_a_group_role_follows_the_directory_through_group_search(
    token_service: TokenServiceProcess, directory: SlapdServer, module_database: TestDatabase, unique: str
) -> None:
    project = f"gs{unique}"
    add_project(module_database, project)
    add_group_role(module_database, project, "ops", group_dn("ops"), Role.DEVELOPER)
    scope = f"repository:{project}/app:pull,push"
    assert granted(ask(token_service, scope, auth=("carol", USERS["carol"]))) == {f"{project}/app": ["pull", "push"]}
    assert granted(ask(token_service, scope, auth=("alice", USERS["alice"]))) == {f"{project}/app": []}

    # In this order: a groupOfNames keeps one member at least.
    directory.add_to_group("ops", "alice")
    directory.remove_from_group("ops", "carol")
    try:
        assert granted(ask(token_service, scope, auth=("carol", USERS["carol"]))) == {f"{project}/app": []}
        assert granted(ask(token_service, scope, auth=("alice", USERS["alice"]))) == {
            f"{project}/app": ["pull", "push"]
        }
    finally:
        directory.add_to_group("ops", "carol")
        directory.remove_from_group("ops", "alice")


async def test_the_directory_finds_a_user_and_its_groups(directory: SlapdServer) -> None:
    user = await ldap_directory(directory).authenticate("ALICE", USERS["alice"])
    assert user.username == "alice"  # the directory's spelling
    assert user.dn == user_dn("alice")
    assert [(g.name, g.dn) for g in user.groups] == [("devs", group_dn("devs"))]


async def test_searches_escape_the_query(directory: SlapdServer) -> None:
    d = ldap_directory(directory)
    assert [u.username for u in await d.search_users("ali")] == ["alice"]
    assert [u.username for u in await d.search_users("*")] == ["st*r"]  # a literal star
    assert [u.username for u in await d.search_users(")(uid=*")] == []
    assert [g.name for g in await d.search_groups("dev")] == ["devs"]
    assert sorted(g.name for g in await d.search_groups("")) == ["devs", "ops"]


async def test_a_wrong_search_password_is_unavailable_not_invalid(directory: SlapdServer) -> None:
    with pytest.raises(DirectoryUnavailable, match=r"search account"):
        await ldap_directory(directory, search_password="wrong").authenticate("alice", USERS["alice"])


async def test_start_tls_refused_by_the_server_is_unavailable(directory: SlapdServer) -> None:
    # This slapd has no certificate, so it refuses StartTLS; nothing may go on in the clear.
    with pytest.raises(DirectoryUnavailable, match=r"StartTLS|TLS|did not answer"):
        await ldap_directory(directory, start_tls=True).authenticate("alice", USERS["alice"])


async def test_an_anonymous_bind_never_counts(directory: SlapdServer) -> None:
    d = ldap_directory(directory)
    with pytest.raises(InvalidCredentials):
        await d.authenticate("nopass", "")
    with pytest.raises(InvalidCredentials):
        await d.authenticate("alice", "")
