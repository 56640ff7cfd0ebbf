"""The storage driver `berth.yml` asks for, open for the lifetime of a service."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from services.common.settings import S3StorageSettings, StorageSettings
from services.common.storage.driver import StorageDriver
from services.common.storage.filesystem import FilesystemDriver
from services.common.storage.s3 import S3Driver

Lifespan = Callable[[Any], AsyncIterator[None]]


def configured_driver(settings: StorageSettings) -> tuple[StorageDriver, Lifespan | None]:
    """S3 when `storage.s3.bucket` is set, the filesystem otherwise; with the lifespan (an aiohttp
    cleanup context) that holds the driver's connections open, if it has any."""
    if not settings.s3.enabled:
        return FilesystemDriver(settings.filesystem.rootdirectory), None
    s3 = settings.s3
    driver = S3Driver(
        None,
        s3.bucket,
        root=s3.rootdirectory,
        part_size=s3.chunksize,
        concurrency=s3.max_connections,
        encrypt=s3.encrypt,
        keyid=s3.keyid,
    )

    async def lifespan(_app: Any) -> AsyncIterator[None]:
        async with s3_client(s3) as client:
            driver.attach(client)
            yield

    return driver, lifespan


def secret_key(settings: S3StorageSettings) -> str:
    if settings.secretkey_file:
        try:
            return Path(settings.secretkey_file).read_text().strip()
        except OSError as exc:
            raise RuntimeError(
                f"storage.s3.secretkey_file: cannot read {settings.secretkey_file}: {exc.strerror}"
            ) from None
    return settings.secretkey.reveal()


@contextlib.asynccontextmanager
async def s3_client(settings: S3StorageSettings) -> AsyncIterator[Any]:
    from aiobotocore.config import AioConfig
    from aiobotocore.session import get_session

    config = AioConfig(
        max_pool_connections=settings.max_connections,
        s3={"addressing_style": "path" if settings.forcepathstyle else "virtual"},
        # Checksums only where S3 demands them (DeleteObjects): S3-compatible services differ in the newer
        # ones botocore sends by default, and every body is verified by digest anyway.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        retries={"max_attempts": 5, "mode": "standard"},
        # SigV4 for pre-signed URLs too (botocore's default for them on other endpoints is SigV2, which AWS
        # refuses in newer regions).
        signature_version="s3v4",
    )
    credentials: dict[str, str] = {}
    if settings.accesskey:
        credentials = {"aws_access_key_id": settings.accesskey, "aws_secret_access_key": secret_key(settings)}
    async with get_session().create_client(
        "s3",
        region_name=settings.region,
        endpoint_url=settings.endpoint(),
        verify=not settings.skipverify,
        config=config,
        **credentials,
    ) as client:
        yield client
