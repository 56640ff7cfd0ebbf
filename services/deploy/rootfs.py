"""The base image's root filesystem: Debian bookworm made by debootstrap, cached as a tarball, `docker import`ed.

No image registry is reachable where Berth's images are built (air-gapped sites, this CI), so there is no
`FROM debian`: debootstrap builds the tree from Debian's package archive, and the tarball is the base layer.

One root filesystem carries every flavour's packages (Python, nginx, PostgreSQL, Redis). Building one per
flavour would cost one debootstrap each, and with the vfs storage driver (where each layer is a full copy
anyway) separate bases save no disk. Installing nginx/PostgreSQL/Redis with `RUN apt-get` instead would
need the package archive at image build time, which the offline installer cannot rely on: with everything
in the tarball, a build from the offline bundle needs no network at all.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
SECURITY_MIRROR = "http://deb.debian.org/debian-security"
# python3 3.11 is the interpreter the wheel bundle is built for (cp311); python3-venv gives the venv its pip.
PACKAGES = (
    "ca-certificates",
    "nginx-light",
    "postgresql-15",
    "python3",
    "python3-venv",
    "redis-server",
)
# The account every Berth process runs as (Harbor uses 10000 too): files the host prepares for the
# containers (keys, configurations) are owned by it.
BERTH_UID = 10000
# Raise when the steps below change, so a cached tarball made by older steps is not reused.
RECIPE_VERSION = 2

# Run inside the new tree (chroot) after debootstrap: the point release's and security updates (debootstrap
# installs from the release alone), the account, the directories the images declare as volumes (a named
# volume starts with the ownership of the image's directory, so they must exist and be owned by their
# service), and the removal of what an image never uses. policy-rc.d: no package starts a service here.
_CUSTOMIZE = f"""
set -eu
printf '#!/bin/sh\\nexit 101\\n' >/usr/sbin/policy-rc.d
chmod +x /usr/sbin/policy-rc.d
printf 'deb %s %s main\\n' {MIRROR} {SUITE} {MIRROR} {SUITE}-updates {SECURITY_MIRROR} {SUITE}-security \\
    >/etc/apt/sources.list
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get upgrade -y -qq -o Dpkg::Options::=--force-confold >/dev/null
rm -f /usr/sbin/policy-rc.d
groupadd --gid {BERTH_UID} berth
useradd --uid {BERTH_UID} --gid berth --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin berth
install -d -o berth -g berth /data/registry /var/log/berth /var/lib/berth /var/lib/berth/proxy /etc/berth
install -d -o postgres -g postgres -m 0700 /var/lib/postgresql/data
install -d -o redis -g redis /var/lib/redis
# postgresql-common made a cluster at install; the database container runs initdb into its own volume.
rm -rf /var/lib/postgresql/15 /etc/postgresql/15
# PostgreSQL's JIT provider and the LLVM it loads: 130 MB that each vfs layer would copy again; the database
# runs with jit=off (Berth's queries are short OLTP ones, where JIT does not pay).
rm -rf /usr/lib/*/libLLVM-*.so* /usr/lib/*/libz3.so* /usr/lib/postgresql/15/lib/llvmjit* \
    /usr/lib/postgresql/15/lib/bitcode
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /usr/share/doc/* /usr/share/man/* /usr/share/info/* \
    /usr/share/locale/* /var/log/*.log /var/log/apt/* /tmp/* /root/.cache
"""


def cache_key() -> str:
    """What the tarball is made of: a new package list, suite or recipe makes a new tarball."""
    text = "\n".join([SUITE, MIRROR, SECURITY_MIRROR, str(RECIPE_VERSION), *sorted(PACKAGES), _CUSTOMIZE])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def tarball_path(dist: Path) -> Path:
    return dist / "rootfs" / f"berth-rootfs-{SUITE}-{cache_key()}.tar"


def build_tarball(dist: Path, *, log: bool = True) -> Path:
    """The cached tarball, made with debootstrap if absent (needs root and the Debian archive)."""
    target = tarball_path(dist)
    if target.is_file():
        return target
    if os.geteuid() != 0:
        raise SystemExit(f"berth images: debootstrap needs root (run as root, or copy a cached tarball to {target})")
    if shutil.which("debootstrap") is None:
        raise SystemExit("berth images: debootstrap is not installed (apt-get install debootstrap)")
    target.parent.mkdir(parents=True, exist_ok=True)
    # .deb files are kept between runs: a new package list downloads only what it adds.
    debs = dist / "debootstrap-cache"
    debs.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="berth-rootfs-", dir=target.parent) as scratch:
        tree = Path(scratch) / "tree"
        cmd = [
            "debootstrap",
            "--variant=minbase",
            f"--cache-dir={debs.resolve()}",
            f"--include={','.join(PACKAGES)}",
            SUITE,
            str(tree),
            MIRROR,
        ]
        _run(cmd, quiet=not log)
        # apt and the packages' scripts expect /proc; it is unmounted before the tree is packed.
        _run(["mount", "-t", "proc", "proc", str(tree / "proc")], quiet=True)
        try:
            _run(["chroot", str(tree), "/bin/sh", "-c", _CUSTOMIZE], quiet=not log)
        finally:
            _run(["umount", "-l", str(tree / "proc")], quiet=True)
        partial = target.with_suffix(".partial")
        # --numeric-owner: the ids inside the tree are the image's, not this host's names for them.
        # /dev, /proc and /sys are the container runtime's to mount; their contents are not the image's.
        excludes = [f"--exclude=./{d}/*" for d in ("dev", "proc", "sys")]
        _run(["tar", "--numeric-owner", "--xattrs", *excludes, "-C", str(tree), "-cf", str(partial), "."], quiet=True)
        partial.rename(target)
    # Tarballs of earlier package lists or recipes are never used again.
    for old in target.parent.glob("berth-rootfs-*.tar"):
        if old != target:
            old.unlink()
    return target


def _run(cmd: list[str], *, quiet: bool) -> None:
    out = subprocess.DEVNULL if quiet else None
    subprocess.run(cmd, check=True, stdout=out)
