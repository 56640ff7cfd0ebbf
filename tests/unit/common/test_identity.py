"""services.common.identity: robot permission JSON and names."""

from __future__ import annotations

import json

import pytest

from services.common.identity.models import RobotPermission, parse_permissions, project_robot_name, system_robot_name
from services.common.rbac import Permission

HARBOR_SHAPE = [
    {
        "kind": "project",
        "namespace": "library",
        "access": [{"resource": "repository", "action": "pull"}, {"resource": "repository", "action": "push"}],
    },
    {"kind": "system", "namespace": "/", "access": [{"resource": "catalog", "action": "read", "effect": "allow"}]},
]


def test_harbor_robot_permissions_round_trip() -> None:
    parsed = parse_permissions(json.dumps(HARBOR_SHAPE))
    assert parsed[0] == RobotPermission(
        kind="project",
        namespace="library",
        access=(Permission("repository", "pull"), Permission("repository", "push")),
    )
    assert parsed[0].to_json() == HARBOR_SHAPE[0]
    assert parsed[1].access == (Permission("catalog", "read"),)


@pytest.mark.parametrize(
    "bad",
    [
        {"kind": "project"},
        [{"kind": "project", "namespace": "x", "access": "all"}],
        [{"kind": "project", "namespace": 3, "access": []}],
        [{"kind": "project", "namespace": "x", "access": [{"resource": "repository"}]}],
        ["project"],
    ],
)
def test_malformed_permissions_are_refused_or_dropped_when_reading_rows(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_permissions(bad)
    lenient = parse_permissions(bad, strict=False)
    assert all(a.resource and a.action for p in lenient for a in p.access)


def test_robot_names_follow_harbor() -> None:
    assert project_robot_name("library", "ci") == "robot$library+ci"
    assert system_robot_name("ci") == "robot$ci"
