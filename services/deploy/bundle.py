"""The bundle Berth's images are built from, which is also its offline installer (as Harbor ships one).

`python -m services.deploy.bundle [--dist dist] [--offline]` makes `dist/bundle/`:

    VERSION, install.sh, docker-compose.yml, berth.yml.tmpl, images/ (Dockerfiles, build.sh)
    wheels/     Berth and every runtime dependency as cp311 wheels: the images' venv installs from here
                with --no-index, so building an image needs no package index
    rootfs/     the Debian bookworm root filesystem tarball (services/deploy/rootfs.py), the base image

and with `--offline` packs it as `dist/berth-offline-installer-<version>.tgz`: copy it to a machine with
Docker and nothing else reachable, unpack, `./install.sh`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from services.deploy.prepare import version
from services.deploy.rootfs import build_tarball

REPO = Path(__file__).resolve().parents[2]
DEPLOY_FILES = ("install.sh", "docker-compose.yml", "berth.yml.tmpl")


# Debian bookworm's interpreter, the one the base image has: the bundle is resolved by it, so environment
# markers are decided as in the images (redis needs async-timeout on Python < 3.11.3: bookworm has 3.11.2,
# a newer 3.11 running this module would leave it out and the image's offline install would fail).
DEBIAN_PYTHON = "/usr/bin/python3"


def make_wheels(target: Path) -> None:
    """`pip wheel` of the project, its wheel plus every dependency, run by Debian's python3 in a scratch venv.

    The wheels are for that interpreter and this platform, so this must run on Debian bookworm, x86_64
    (CPython 3.11.2, the images' python3; bookworm's glibc takes manylinux wheels up to 2.36). A newly built
    set replaces the old one whole, so no stale version lingers.
    """
    probe = subprocess.run(
        [DEBIAN_PYTHON, "-c", "import platform, sys; print(sys.version_info[:2] == (3, 11), platform.machine())"],
        capture_output=True,
        text=True,
    )
    if probe.stdout.split() != ["True", "x86_64"]:
        raise SystemExit(f"berth bundle: needs Debian bookworm's {DEBIAN_PYTHON} (CPython 3.11, x86_64): the images'")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".wheels-", dir=target.parent) as scratch:
        venv = Path(scratch) / "venv"
        subprocess.run([DEBIAN_PYTHON, "-m", "venv", str(venv)], check=True)
        # Berth's wheel is built from a copy of the sources: setuptools builds in the source tree, and a
        # build/ left there by an earlier build would carry modules deleted since into the images.
        source = Path(scratch) / "source"
        source.mkdir()
        shutil.copy2(REPO / "pyproject.toml", source / "pyproject.toml")
        shutil.copytree(REPO / "services", source / "services", ignore=shutil.ignore_patterns("__pycache__"))
        fresh = Path(scratch) / "wheels"
        pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
        subprocess.run([*pip, "wheel", "--quiet", "--wheel-dir", str(fresh), str(source)], check=True)
        if target.exists():
            shutil.rmtree(target)
        fresh.rename(target)


def make_bundle(dist: Path) -> Path:
    bundle = dist / "bundle"
    bundle.mkdir(parents=True, exist_ok=True)
    make_wheels(bundle / "wheels")
    tarball = build_tarball(dist)
    rootfs = bundle / "rootfs"
    if rootfs.exists():
        shutil.rmtree(rootfs)
    rootfs.mkdir()
    # A hard link: the bundle and the cache share the 300 MB file.
    try:
        os.link(tarball, rootfs / tarball.name)
    except OSError:
        shutil.copyfile(tarball, rootfs / tarball.name)
    for name in DEPLOY_FILES:
        shutil.copy2(REPO / "deploy" / name, bundle / name)
    if (bundle / "images").exists():
        shutil.rmtree(bundle / "images")
    shutil.copytree(REPO / "deploy" / "images", bundle / "images")
    (bundle / "VERSION").write_text(version() + "\n")
    return bundle


def pack(bundle: Path, dist: Path) -> Path:
    """The offline installer: the bundle as one archive whose top directory is `berth/`."""
    archive = dist / f"berth-offline-installer-{version()}.tgz"
    partial = archive.with_suffix(".partial")
    # Only what install.sh needs: not the config/ and .env a test or an install may have left in the bundle.
    members = ["VERSION", *DEPLOY_FILES, "images", "wheels", "rootfs"]
    cmd = ["tar", "-I", "gzip -1", "-C", str(bundle), "--transform", "s,^,berth/,", "-cf", str(partial), *members]
    subprocess.run(cmd, check=True)
    partial.rename(archive)
    return archive


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m services.deploy.bundle", description=__doc__.split("\n")[0])
    parser.add_argument("--dist", type=Path, default=REPO / "dist", help="output directory (default: dist/)")
    parser.add_argument("--offline", action="store_true", help="also pack the offline installer archive")
    args = parser.parse_args(argv)
    bundle = make_bundle(args.dist)
    print(f"berth bundle: {bundle}")
    if args.offline:
        print(f"berth bundle: offline installer {pack(bundle, args.dist)}")


if __name__ == "__main__":
    main()
