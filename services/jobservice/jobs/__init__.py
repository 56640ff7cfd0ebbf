"""The job types this jobservice runs, by Harbor's names."""

from __future__ import annotations

from datetime import timedelta

from services.common.config.live import SystemConfig
from services.common.jobs.models import GARBAGE_COLLECTION, PURGE_AUDIT_LOG, REPLICATION, RETENTION, WEBHOOK
from services.common.secret_key import SecretKeyFile
from services.common.storage import StorageDriver
from services.jobservice.context import JobRegistry
from services.jobservice.jobs.gc import GarbageCollector, GcProgress
from services.jobservice.jobs.purge_audit import purge_audit_log
from services.jobservice.jobs.replication import Replication
from services.jobservice.jobs.retention import run_retention
from services.jobservice.jobs.webhook import WebhookDelivery


def registry(
    storage: StorageDriver,
    *,
    upload_ttl: timedelta,
    secret_key: SecretKeyFile,
    local: tuple[str, str, str],
    config: SystemConfig,
    heartbeat_timeout_s: float,
    gc_progress: GcProgress,
) -> JobRegistry:
    return {
        PURGE_AUDIT_LOG: purge_audit_log,
        # Its deletions so far, for the metrics.
        GARBAGE_COLLECTION: GarbageCollector(storage, upload_ttl, gc_progress),
        RETENTION: run_retention,
        # Decrypts the endpoints' passwords with core's key file, read when a replication first runs.
        REPLICATION: Replication(storage, secret_key, local),
        # Reads the retry, timeout and allowlist keys at each delivery; decrypts the targets' secrets.
        WEBHOOK: WebhookDelivery(config, secret_key, heartbeat_timeout_s=heartbeat_timeout_s),
    }
