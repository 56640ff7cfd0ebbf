"""metric.* settings: one port per service from metric.port, checked before anything starts."""

from __future__ import annotations

import dataclasses

import pytest

from services.common.metrics import ServiceMetrics
from services.common.settings import MetricSettings, Settings
from services.launcher.preflight import service_ports


def test_each_service_has_its_own_metrics_port() -> None:
    metric = MetricSettings(enabled=True, port=9100)
    assert [metric.port_of(s) for s in ("registry", "token", "core", "jobservice")] == [9100, 9101, 9102, 9103]


def test_the_launcher_checks_the_metrics_ports_only_when_metrics_are_on() -> None:
    off = Settings()
    on = dataclasses.replace(off, metric=MetricSettings(enabled=True, port=9200))
    ports = {p.port for p in service_ports(off, embedded_database=False, embedded_redis=False)}
    assert not ports & {9200, 9202}
    checked = {p.port: p.key for p in service_ports(on, embedded_database=False, embedded_redis=False)}
    assert checked[9200].startswith("metric.port") and checked[9202].startswith("metric.port")


def test_a_metrics_path_without_a_slash_is_refused_naming_the_key() -> None:
    with pytest.raises(ValueError, match=r"metric\.path"):
        ServiceMetrics(MetricSettings(path="metrics"), "registry", "127.0.0.1")
