"""The pure rules of GET /users/current/permissions: which namespace a scope names, Harbor's resource
names and their relative forms, and the policies a project namespace holds."""

from __future__ import annotations

import pytest

from services.common.rbac import PROJECT_POLICIES, Action, Resource, Role
from services.core.permissions.service import (
    PROJECT_SCOPE_POLICIES,
    SYSTEM_SCOPE_POLICIES,
    project_of_scope,
    project_resource,
    relative_to,
)


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        ("/project/1", 1),
        ("/project/1/", 1),
        ("/project/12/repository", 12),
        ("/project/007", 7),
        ("/project/+3", 3),  # Go's ParseInt takes a sign
        ("/project/-1", -1),
        ("/project/9223372036854775807", 2**63 - 1),
        ("/project/9223372036854775808", None),  # beyond int64: no namespace, as Harbor
        ("/project/", None),
        ("/project/abc", None),
        ("/project/1a", None),
        ("/projects/1", None),
        ("project/1", None),
        ("x/project/1", None),
        ("/system", None),
        ("", None),
    ],
)
def test_a_project_scope_names_its_id(scope: str, expected: int | None) -> None:
    assert project_of_scope(scope) == expected


def test_resources_are_harbors_full_names() -> None:
    assert project_resource(3, Resource.PROJECT) == "/project/3"
    assert project_resource(3, Resource.REPOSITORY) == "/project/3/repository"
    assert project_resource(3, Resource.TAG_RETENTION) == "/project/3/tag-retention"


@pytest.mark.parametrize(
    ("resource", "scope", "expected"),
    [
        ("/project/1/repository", "/project/1", "repository"),
        ("/project/1/repository", "/project/1/", "repository"),
        ("/project/1", "/project/1", "."),
        ("/project/1", "/project/1/", None),
        ("/project/1/repository", "/project/1/repository", "."),
        ("/project/1/artifact", "/project/1/repository", None),
        ("/project/1/repository", "/project/+1", None),
        ("/system/user", "/system", "user"),
        ("/system/user", "/system/", "user"),
        ("/system/user", "/systemx", None),
    ],
)
def test_relative_resources_follow_harbors_relative_to(resource: str, scope: str, expected: str | None) -> None:
    assert relative_to(resource, scope) == expected


def test_a_project_namespace_holds_every_role_policy_once_in_a_fixed_order() -> None:
    policies = set(PROJECT_SCOPE_POLICIES)
    assert len(policies) == len(PROJECT_SCOPE_POLICIES)
    for role in Role:
        assert PROJECT_POLICIES[role] <= policies
    # What only a robot may be given is there too; the project itself comes first.
    assert (Resource.METADATA, Action.LIST) in policies
    assert PROJECT_SCOPE_POLICIES[0][0] is Resource.PROJECT


def test_the_system_namespace_holds_harbors_system_policies() -> None:
    assert ("user", "create") in SYSTEM_SCOPE_POLICIES and ("catalog", "read") in SYSTEM_SCOPE_POLICIES
    assert len(set(SYSTEM_SCOPE_POLICIES)) == len(SYSTEM_SCOPE_POLICIES)
