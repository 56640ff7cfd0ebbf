"""A replication execution's parameters: what core and the jobservice's event trigger write, read back the
same; what does not parse fails the job with the field named."""

from __future__ import annotations

import pytest

from services.common.jobs.replication import ReplicationParams, parse_replication_params


@pytest.mark.parametrize(
    "params",
    [
        ReplicationParams(7, "manual", "admin"),
        ReplicationParams(7, "event_based", "dev", "library/app", "sha256:" + "a" * 64),
        ReplicationParams(7, "event_based", "dev", "library/app", "sha256:" + "a" * 64, deletion=True),
        ReplicationParams(7, "event_based", "dev", "library/app", "sha256:" + "a" * 64, deletion=True, tag="v1"),
    ],
)
def test_parameters_read_back_as_written(params: ReplicationParams) -> None:
    assert parse_replication_params(params.to_json()) == params


@pytest.mark.parametrize(
    ("data", "named"),
    [
        ({"policy_id": 1, "trigger": "sometimes"}, "parameters.trigger"),
        ({"policy_id": 1, "repository": "library/app"}, "parameters.repository"),
        # A tag names what a deletion removes; alone, or on a copy, it means nothing.
        ({"policy_id": 1, "tag": "v1"}, "parameters.tag"),
        ({"policy_id": 1, "repository": "a/b", "digest": "sha256:x", "tag": "v1"}, "parameters.tag"),
        ({"policy_id": 1, "repository": "a/b", "digest": "sha256:x", "deletion": True, "tag": ""}, "parameters.tag"),
        ({"policy_id": 1, "repository": "a/b", "digest": "sha256:x", "deletion": True, "tag": 3}, "parameters.tag"),
    ],
)
def test_parameters_that_do_not_parse_name_the_field(data: dict[str, object], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        parse_replication_params(data)
