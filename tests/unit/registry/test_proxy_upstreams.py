"""How a proxy-cache project names what it fetches, and how the stored limits read."""

from __future__ import annotations

import pytest

from services.common.remote.client import RemoteEndpoint
from services.registry.proxy.upstreams import Upstream, _positive


def upstream(docker_hub: bool) -> Upstream:
    return Upstream("hub", 1, RemoteEndpoint("https://registry.example"), docker_hub, None, None)


@pytest.mark.parametrize(
    ("repository", "docker_hub", "remote"),
    [
        ("hub/nginx", True, "library/nginx"),  # an official image, as Docker clients name it on Docker Hub
        ("hub/bitnami/redis", True, "bitnami/redis"),
        ("hub/nginx", False, "nginx"),  # another registry's single names are its own
        ("hub/team/app/api", False, "team/app/api"),
    ],
)
def test_the_upstream_name_is_the_path_after_the_project(repository: str, docker_hub: bool, remote: str) -> None:
    assert upstream(docker_hub).remote_name(repository) == remote


@pytest.mark.parametrize(
    ("stored", "limit"), [(None, None), ("-1", None), ("0", None), ("512", 512), ("not a number", None)]
)
def test_absent_negative_and_zero_limits_mean_none(stored: str | None, limit: int | None) -> None:
    assert _positive(stored) == limit
