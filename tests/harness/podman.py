"""`podman` for end-to-end tests, configured entirely under one directory: its image store (vfs, so no
overlay mounts), its run and tmp directories, events to a file, the registries it talks plain HTTP to, and
the credentials file `podman login` writes. Nothing of the machine's own containers configuration applies.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

from tests.harness.dockerd import unmount_under

# Configuration files podman reads that would otherwise come from /etc or ~/.config.
_ENV_OVERRIDES = ("CONTAINERS_STORAGE_CONF", "CONTAINERS_CONF", "CONTAINERS_REGISTRIES_CONF", "REGISTRY_AUTH_FILE")


def find_podman() -> str | None:
    return shutil.which("podman")


class Podman:
    def __init__(self, root: Path, *, insecure: Iterable[str] = ()) -> None:
        """`insecure`: registries (host:port) podman may reach over plain HTTP."""
        binary = find_podman()
        if binary is None:
            raise RuntimeError("podman is not installed: apt-get install -y podman")
        self.binary = binary
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        for sub in ("graph", "run", "tmp"):
            (root / sub).mkdir(exist_ok=True)
        self.storage_conf = root / "storage.conf"
        self.storage_conf.write_text(
            f'[storage]\ndriver = "vfs"\ngraphroot = "{root / "graph"}"\nrunroot = "{root / "run"}"\n'
        )
        self.containers_conf = root / "containers.conf"
        # No journald or systemd here; a tmp dir of its own instead of /run/libpod.
        self.containers_conf.write_text(
            f'[engine]\nevents_logger = "file"\ncgroup_manager = "cgroupfs"\ntmp_dir = "{root / "tmp"}"\n'
        )
        self.registries_conf = root / "registries.conf"
        self.registries_conf.write_text(
            "unqualified-search-registries = []\n"
            + "".join(f'\n[[registry]]\nlocation = "{host}"\ninsecure = true\n' for host in insecure)
        )
        self.auth_file = root / "auth.json"

    def run(
        self, *args: str, auth_file: Path | None = None, input: str | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """`podman <args>` with this configuration; logins go to `auth_file` (default: this podman's own)."""
        env = {k: v for k, v in os.environ.items() if k not in _ENV_OVERRIDES}
        env.update(
            CONTAINERS_STORAGE_CONF=str(self.storage_conf),
            CONTAINERS_CONF=str(self.containers_conf),
            CONTAINERS_REGISTRIES_CONF=str(self.registries_conf),
            REGISTRY_AUTH_FILE=str(auth_file or self.auth_file),
        )
        return subprocess.run(
            [self.binary, *args], env=env, input=input, capture_output=True, text=True, timeout=timeout
        )

    def close(self) -> None:
        """Removes the store; vfs mounts nothing, but a crashed command could leave a mount behind."""
        unmount_under(self.root)
        shutil.rmtree(self.root, ignore_errors=True)
