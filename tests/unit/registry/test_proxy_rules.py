"""How a proxy-cache project names what it fetches, how its stored limits read, and how it paces a fetch."""

from __future__ import annotations

import pytest

from services.common.remote.client import RemoteEndpoint
from services.registry.proxy.blobs import throttle_delay
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


@pytest.mark.parametrize(
    ("received", "speed_kb", "elapsed", "delay"),
    [
        (1024 * 1024, 1024, 0.25, 0.75),  # 1 MiB at 1 MiB/s: a second in all
        (1024 * 1024, 1024, 1.0, 0.0),  # on time
        (1024 * 1024, 1024, 3.0, 0.0),  # behind (a slow upstream): no wait; the average is what is capped
        (512 * 1024, 256, 0.0, 2.0),
    ],
)
def test_proxy_speed_kb_paces_a_fetch_to_its_average_rate(
    received: int, speed_kb: int, elapsed: float, delay: float
) -> None:
    assert throttle_delay(received, speed_kb, elapsed) == pytest.approx(delay)
