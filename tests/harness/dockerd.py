"""A private Docker daemon for end-to-end tests: Debian's `dockerd` (package docker.io) run as root with its
own data root, exec root, pid file and unix socket under one temporary directory, nothing system-wide.

It runs with `--iptables=false --bridge=none --storage-driver=vfs`: the tests only build `FROM scratch`,
push and pull, so it needs no network set-up and no overlay mounts. Its containerd namespace is its own
too, in case dockerd finds the machine's containerd running and uses it instead of starting one.

Docker talks plain HTTP to registries in 127.0.0.0/8 without any `--insecure-registry`: that default is
what lets the tests push to `127.0.0.1:<port>` (`insecure_registry_cidrs()` shows it).

The CLI runs with a DOCKER_CONFIG directory of its own (or one a test passes), so logins made by tests
never touch ~/.docker.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

DOCKERD = "/usr/sbin/dockerd"
# The CLI of the same package as the daemon: a newer one elsewhere on PATH would want buildx for builds.
DOCKER_CLIS = ("/usr/bin/docker",)
START_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0


class DockerDaemonError(RuntimeError):
    pass


def find_dockerd() -> str | None:
    return DOCKERD if os.access(DOCKERD, os.X_OK) else shutil.which("dockerd")


def find_docker_cli() -> str | None:
    for path in DOCKER_CLIS:
        if os.access(path, os.X_OK):
            return path
    return shutil.which("docker")


def cannot_run_reason() -> str | None:
    """Why no daemon can start on this machine at all (a reason to skip), or None if one should start.

    Only one such reason is known: dockerd needs root (its data root, mounts and cgroups). CI runs as root.
    A missing package is not a reason to skip: `.ci/run` installs docker.io.
    """
    if os.geteuid() != 0:
        return "dockerd needs root (it is run rootful here); the e2e tests run as root in CI"
    return None


class DockerDaemon:
    """`dockerd` under `root` (default: a fresh short directory in /tmp, since unix socket paths are limited
    to 108 bytes). `start()` returns once `docker info` answers; `stop()` ends it and removes its files."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or Path(tempfile.mkdtemp(prefix="berth-dockerd-", dir="/tmp"))
        self.root.mkdir(parents=True, exist_ok=True)
        self.data_root = self.root / "data"
        self.exec_root = self.root / "exec"
        self.pidfile = self.root / "dockerd.pid"
        self.socket = self.root / "docker.sock"
        self.config_dir = self.root / "cli"
        self.log_path = self.root / "dockerd.log"
        self.host = f"unix://{self.socket}"
        self.namespace = f"berth-test-{uuid.uuid4().hex[:8]}"
        if len(str(self.socket)) >= 108:
            raise DockerDaemonError(f"socket path too long for a unix socket: {self.socket}")
        self._proc: subprocess.Popen[bytes] | None = None
        self._cli = find_docker_cli()

    def command(self) -> list[str]:
        dockerd = find_dockerd()
        if dockerd is None:
            raise DockerDaemonError("dockerd is not installed: apt-get install -y docker.io")
        return [
            dockerd,
            "--iptables=false",
            "--ip6tables=false",
            "--bridge=none",
            "--storage-driver=vfs",
            f"--data-root={self.data_root}",
            f"--exec-root={self.exec_root}",
            f"--pidfile={self.pidfile}",
            f"--host={self.host}",
            f"--containerd-namespace={self.namespace}",
            f"--containerd-plugins-namespace={self.namespace}-plugins",
        ]

    def start(self) -> None:
        if self._cli is None or find_dockerd() is None:
            self._cleanup()
            raise DockerDaemonError("dockerd or the docker CLI is not installed: apt-get install -y docker.io")
        self.config_dir.mkdir(exist_ok=True)
        with self.log_path.open("ab") as out:
            # Its own process group: stop() signals dockerd alone, and a test's Ctrl-C does not reach it first.
            self._proc = subprocess.Popen(
                self.command(), stdout=out, stderr=out, stdin=subprocess.DEVNULL, start_new_session=True
            )
        try:
            self._wait_until_ready()
        except BaseException:
            # A daemon that did not come up (or a test interrupted meanwhile) leaves nothing behind.
            self.stop()
            raise

    def _wait_until_ready(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + START_TIMEOUT
        while self._proc.poll() is None:
            if self.socket.exists() and self.run("info", "--format", "{{.ID}}", timeout=10).returncode == 0:
                return
            if time.monotonic() > deadline:
                raise DockerDaemonError(f"dockerd did not answer within {START_TIMEOUT:.0f} s:\n{self.logs()}")
            time.sleep(0.1)
        raise DockerDaemonError(f"dockerd exited with {self._proc.returncode}:\n{self.logs()}")

    def run(
        self,
        *args: str,
        config_dir: Path | None = None,
        input: str | None = None,
        timeout: float = 120,
        cwd: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """`docker --host <this daemon> <args>` with DOCKER_CONFIG = `config_dir` (default: the daemon's own)."""
        assert self._cli is not None
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        env["DOCKER_CONFIG"] = str(config_dir or self.config_dir)
        return subprocess.run(
            [self._cli, "--host", self.host, *args],
            env=env,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=cwd,
        )

    def insecure_registry_cidrs(self) -> list[str]:
        """The networks whose registries this daemon talks plain HTTP to."""
        info = self.run("info", "--format", "{{json .RegistryConfig.InsecureRegistryCIDRs}}", timeout=30)
        if info.returncode != 0:
            raise DockerDaemonError(info.stderr)
        cidrs: list[str] = json.loads(info.stdout)
        return cidrs

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after STOP_TIMEOUT; then the containerd it started, leftover mounts and files."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._cleanup()

    def _cleanup(self) -> None:
        # dockerd stops the containerd it manages on SIGTERM, but not when it is killed.
        containerd_pid = self.exec_root / "containerd" / "containerd.pid"
        if containerd_pid.exists():
            try:
                pid = int(containerd_pid.read_text().strip())
                # Only that containerd: the pid file may be stale and its number reused.
                if str(self.exec_root) in Path(f"/proc/{pid}/cmdline").read_text(errors="replace"):
                    os.kill(pid, signal.SIGKILL)
            except (ValueError, OSError):
                pass
        unmount_under(self.root)
        shutil.rmtree(self.root, ignore_errors=True)


def unmount_under(root: Path) -> None:
    """Lazily unmounts whatever is mounted at or below `root`, deepest first."""
    prefix = str(root) + "/"
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        # Field 5 is the mount point, with spaces and the like escaped as octal.
        point = line.split()[4].encode().decode("unicode_escape")
        if point.startswith(prefix) or point == str(root):
            points.append(point)
    for point in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)
