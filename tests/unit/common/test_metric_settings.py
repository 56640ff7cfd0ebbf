"""metric.* settings: one port per service from metric.port, checked before anything starts."""

from __future__ import annotations

import dataclasses
import socket
from pathlib import Path

import pytest

from services.common.metrics import ServiceMetrics
from services.common.settings import MetricSettings, Settings, SettingsError, load_settings
from services.launcher.preflight import PreflightError, check_ports, service_ports


def test_each_service_has_its_own_metrics_port() -> None:
    metric = MetricSettings(enabled=True, port=9100)
    assert [metric.port_of(s) for s in ("registry", "token", "core", "jobservice")] == [9100, 9101, 9102, 9103]
    # nginx's stub_status, below the services' block.
    assert metric.port_of("proxy") == 9099


def test_metric_port_is_at_least_2_since_port_minus_1_is_nginxs(tmp_path: Path) -> None:
    config = tmp_path / "berth.yml"
    config.write_text("metric:\n  enabled: true\n  port: 1\n")
    with pytest.raises(SettingsError, match=r"berth\.yml: key 'metric\.port' must be at least 2, got 1"):
        load_settings(config, environ={})
    config.write_text("metric:\n  port: 2\n")
    assert load_settings(config, environ={}).metric.port_of("proxy") == 1


def test_the_launcher_checks_the_stub_status_port_on_the_loopback() -> None:
    on = Settings(metric=MetricSettings(enabled=True, port=9200))
    checked = {p.port: p for p in service_ports(on, embedded_database=False, embedded_redis=False)}
    assert checked[9199].key == "metric.port (-1, proxy stub_status)"
    assert checked[9199].host == "127.0.0.1" and not checked[9199].udp
    off = {p.port for p in service_ports(Settings(), embedded_database=False, embedded_redis=False)}
    assert 9089 not in off


def test_a_taken_stub_status_port_is_refused_naming_metric_port() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        settings = Settings(metric=MetricSettings(enabled=True, port=taken + 1))
        stub = [p for p in service_ports(settings, embedded_database=False, embedded_redis=False) if p.port == taken]
        with pytest.raises(PreflightError, match=rf"port {taken} is in use by .*: change metric\.port \(-1, proxy"):
            check_ports(stub, "berth.yml")


def test_a_stub_status_port_shared_with_a_service_is_refused_naming_both_keys() -> None:
    settings = Settings(metric=MetricSettings(enabled=True, port=5003))  # 5002 is core.port
    with pytest.raises(PreflightError, match=r"port 5002 is set by both core\.port and metric\.port \(-1, proxy"):
        check_ports(service_ports(settings, embedded_database=False, embedded_redis=False), "berth.yml")


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
