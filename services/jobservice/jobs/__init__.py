"""The job types this jobservice runs, by Harbor's names."""

from __future__ import annotations

from services.common.jobs.models import PURGE_AUDIT_LOG
from services.jobservice.context import JobRegistry
from services.jobservice.jobs.purge_audit import purge_audit_log


def registry() -> JobRegistry:
    return {PURGE_AUDIT_LOG: purge_audit_log}
