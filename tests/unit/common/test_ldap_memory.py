"""The in-memory directory twin: the same answers and errors as the real one, for unit tests."""

from __future__ import annotations

import pytest

from services.common.ldap.directory import DirectoryUnavailable, InvalidCredentials, InvalidQuery
from services.common.ldap.memory import MemoryDirectory


@pytest.fixture
def directory() -> MemoryDirectory:
    d = MemoryDirectory()
    d.add_user("alice", "pw", email="alice@berth.test")
    d.add_user("bob", "pw2")
    d.add_group("devs", ["alice", "bob"])
    d.add_group("ops", ["alice"])
    return d


async def test_groups_follow_memberships(directory: MemoryDirectory) -> None:
    user = await directory.authenticate("alice", "pw")
    assert [g.name for g in user.groups] == ["devs", "ops"]
    directory.remove_member("ops", "alice")
    user = await directory.authenticate("alice", "pw")
    assert user.group_dns == ("cn=devs,ou=groups,dc=berth,dc=test",)


async def test_the_directory_spelling_is_returned(directory: MemoryDirectory) -> None:
    assert (await directory.authenticate("ALICE", "pw")).username == "alice"


@pytest.mark.parametrize(("name", "password"), [("alice", ""), ("alice", "bad"), ("nobody", "pw"), ("*", "pw")])
async def test_bad_credentials(directory: MemoryDirectory, name: str, password: str) -> None:
    with pytest.raises(InvalidCredentials):
        await directory.authenticate(name, password)


async def test_unavailable(directory: MemoryDirectory) -> None:
    directory.available = False
    with pytest.raises(DirectoryUnavailable):
        await directory.authenticate("alice", "pw")


async def test_find_user_is_exact_and_carries_groups(directory: MemoryDirectory) -> None:
    found = await directory.find_user("ALICE")
    assert found is not None and found.username == "alice"
    assert [g.name for g in found.groups] == ["devs", "ops"]
    assert await directory.find_user("ali") is None


async def test_group_by_dn_and_ping(directory: MemoryDirectory) -> None:
    group = await directory.group_by_dn("CN=devs,ou=groups,dc=berth,dc=test")
    assert group is not None and group.dn == "cn=devs,ou=groups,dc=berth,dc=test"
    assert await directory.group_by_dn("cn=nope,ou=groups,dc=berth,dc=test") is None
    with pytest.raises(InvalidQuery):
        await directory.group_by_dn("not a dn")
    await directory.ping()
    directory.available = False
    with pytest.raises(DirectoryUnavailable):
        await directory.ping()
