"""A real CNCF Distribution (`/usr/bin/docker-registry`, Debian's package) on a free port: the remote
registry that endpoint health checks and replication talk to in tests, with htpasswd users and TLS as asked.
"""

from __future__ import annotations

import os
import secrets
import ssl
import subprocess
from pathlib import Path
from typing import Any

import httpx
import yaml

from services.proxy.prepare import generate_self_signed
from tests.harness.plugin import free_port, stop_service
from tests.harness.waiting import eventually

BINARY = "/usr/bin/docker-registry"
HTPASSWD = "/usr/bin/htpasswd"
# Its first start on a loaded CI machine may take a while; it is waited on, never slept for.
START_DEADLINE_S = 60.0


class DistributionProcess:
    """`docker-registry serve <workdir>/config.yml`: filesystem storage under `workdir`, deletes enabled,
    `users` (name → password) checked with htpasswd (bcrypt, the only hash Distribution accepts), and with
    `tls` a self-signed certificate for 127.0.0.1 that is also its own CA (`ca_pem`)."""

    def __init__(self, workdir: Path, *, users: dict[str, str] | None = None, tls: bool = False) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.config_path = workdir / "config.yml"
        self.log_path = workdir / "distribution.log"
        self.ca_pem = ""
        self._proc: subprocess.Popen[bytes] | None = None
        http: dict[str, Any] = {"addr": f"127.0.0.1:{self.port}", "secret": secrets.token_hex(16)}
        config: dict[str, Any] = {
            "version": 0.1,
            "log": {"level": "info", "formatter": "text"},
            "storage": {
                "filesystem": {"rootdirectory": str(workdir / "storage")},
                "delete": {"enabled": True},
                # Its background purge of old uploads is of no use to a test and only adds log lines.
                "maintenance": {"uploadpurging": {"enabled": False}},
            },
            "http": http,
        }
        if tls:
            certificate, key = workdir / "tls" / "server.crt", workdir / "tls" / "server.key"
            generate_self_signed("127.0.0.1", certificate, key)
            self.ca_pem = certificate.read_text()
            http["tls"] = {"certificate": str(certificate), "key": str(key)}
        if users:
            htpasswd = workdir / "htpasswd"
            htpasswd.write_text("".join(_htpasswd_line(user, password) for user, password in users.items()))
            config["auth"] = {"htpasswd": {"realm": "berth-test-distribution", "path": str(htpasswd)}}
        self.config_path.write_text(yaml.safe_dump(config))

    def start(self) -> None:
        """Returns once GET /v2/ answers 200 (or 401, with users)."""
        # Its own configuration only: REGISTRY_* variables would override keys of config.yml.
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
        with self.log_path.open("ab") as out:
            self._proc = subprocess.Popen(
                [BINARY, "serve", str(self.config_path)], cwd=self.workdir, env=env, stdout=out, stderr=out
            )
        try:
            eventually(self._answers, f"{BINARY} answering on {self.url}", deadline_s=START_DEADLINE_S)
        except AssertionError as exc:
            self.stop()
            raise RuntimeError(f"{exc}:\n{self.logs()}") from None

    def stop(self) -> int:
        if self._proc is None:
            return 0
        code = stop_service(self._proc)
        self._proc = None
        return code

    def __enter__(self) -> DistributionProcess:
        """`with DistributionProcess(...) as remote:` starts it and stops it afterwards, whatever happens."""
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def _answers(self) -> bool:
        assert self._proc is not None
        if self._proc.poll() is not None:
            raise RuntimeError(f"{BINARY} exited with {self._proc.returncode}:\n{self.logs()}")
        verify: ssl.SSLContext | bool = ssl.create_default_context(cadata=self.ca_pem) if self.ca_pem else True
        try:
            return httpx.get(f"{self.url}/v2/", timeout=1, verify=verify).status_code in (200, 401)
        except httpx.HTTPError:
            return False


def _htpasswd_line(user: str, password: str) -> str:
    result = subprocess.run([HTPASSWD, "-Bbn", user, password], check=True, capture_output=True, text=True)
    return result.stdout.strip() + "\n"
