"""What `berth` tells a newcomer: the programs `berth logs --help` names are programs the collector has files
for, and the launcher's last lines say how to get a client, as `make run` installs none."""

from __future__ import annotations

import re

from services.cli.main import build_parser
from services.common.settings import Settings
from services.launcher.launch import banner
from services.proxy.render import SYSLOG_TAG

# The syslog program names of what the launcher runs (services log as their package name, nginx as the proxy).
PROGRAMS = {"log", "token", "core", "registry", SYSLOG_TAG, "jobservice"}


def test_logs_help_names_only_programs_that_log() -> None:
    parser = build_parser()
    logs = parser._subparsers._group_actions[0].choices["logs"]  # type: ignore[union-attr]
    service = next(a for a in logs._actions if a.dest == "service")
    named = set(re.findall(r"[a-z]+", (service.help or "").split("(", 1)[1].split(")", 1)[0]))
    assert named and named <= PROGRAMS, named - PROGRAMS


def test_the_banner_says_how_to_get_a_client() -> None:
    lines = banner(Settings())
    login = next(line for line in lines if "docker login" in line)
    assert "apt-get install skopeo" in login
