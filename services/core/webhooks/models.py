"""A project's webhook policy (Harbor's WebhookPolicy) as the API creates and shows it, and Harbor's rules
for its fields. The SSRF guard and the lists of event types, target types and formats are
services.common.webhooks', shared with the jobservice that delivers."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from services.common.secret import Secret
from services.common.webhooks import EVENT_TYPES, NOTIFY_TYPES, PAYLOAD_FORMATS, TargetRefused, target_host
from services.core.errors import NotFound
from services.core.listing import ListKeys

MAX_NAME = 255
MAX_DESCRIPTION = 1024
MAX_TARGETS = 10
MAX_SECRET = 4096
# Harbor's list takes `q` and `sort` on the policy's columns (its UI sends `name=~...` and
# `-creation_time`), newest first unless sorted (its model's `sort:"default:desc"` on creation_time).
POLICY_LIST = ListKeys(
    filters={
        "name": "str",
        "description": "str",
        "creator": "str",
        "enabled": "bool",
        "creation_time": "time",
        "update_time": "time",
    },
    sorts=frozenset({"id", "name", "creator", "enabled", "creation_time", "update_time"}),
)
# A policy's executions (its deliveries), by Harbor's status names; in creation order (the id's and the
# start time's, which Harbor's execution takes when the event arrives), newest first unless sorted.
EXECUTION_LIST = ListKeys(filters={"status": "str"}, sorts=frozenset({"id", "start_time"}))
EXECUTION_STATUS = {
    "pending": "Pending",
    "running": "Running",
    "success": "Success",
    "error": "Error",
    "stopped": "Stopped",
}


class WebhookPolicyNotFound(NotFound):
    default_message = "webhook policy not found"


@dataclass(frozen=True, slots=True)
class TargetFields:
    type: str
    address: str
    payload_format: str
    skip_cert_verify: bool
    # None: keep what the policy's target at this index holds (the mask was sent back, or a create gave none).
    auth_header: Secret | None
    signing_secret: Secret | None


@dataclass(frozen=True, slots=True)
class PolicyFields:
    """What a create or an update sets (an update replaces the whole policy, as Harbor's)."""

    name: str
    description: str
    enabled: bool
    event_types: tuple[str, ...]
    targets: tuple[TargetFields, ...]


@dataclass(frozen=True, slots=True)
class StoredTarget:
    type: str
    address: str
    payload_format: str
    skip_cert_verify: bool
    auth_header: str  # ciphertext, "" for none
    signing_secret: str  # ciphertext, "" for none

    def to_json(self) -> dict[str, object]:
        return {
            "type": self.type,
            "address": self.address,
            "payload_format": self.payload_format,
            "skip_cert_verify": self.skip_cert_verify,
            "auth_header": self.auth_header,
            "signing_secret": self.signing_secret,
        }


@dataclass(frozen=True, slots=True)
class PolicyView:
    id: int
    project_id: int
    name: str
    description: str
    creator: str
    enabled: bool
    event_types: tuple[str, ...]
    targets: tuple[StoredTarget, ...]
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True, slots=True)
class LastTrigger:
    policy_name: str
    event_type: str
    enabled: bool
    created_at: dt.datetime
    last_trigger: dt.datetime | None


def field_problem(fields: PolicyFields) -> str | None:
    """Why these fields cannot be a policy, naming the field; None when they can (the target's address is
    checked against the SSRF guard separately: it resolves names)."""
    if not fields.name.strip():
        return "name is required"
    if len(fields.name) > MAX_NAME:
        return f"name must be at most {MAX_NAME} characters"
    if len(fields.description) > MAX_DESCRIPTION:
        return f"description must be at most {MAX_DESCRIPTION} characters"
    if not fields.event_types:
        return f"event_types must name at least one of {', '.join(EVENT_TYPES)}"
    for i, kind in enumerate(fields.event_types):
        if kind not in EVENT_TYPES:
            return f"event_types[{i}]: {kind[:60]!r} is no event type; they are {', '.join(EVENT_TYPES)}"
        if kind in fields.event_types[:i]:
            return f"event_types[{i}]: {kind[:60]} is named twice"
    if not fields.targets:
        return "targets must hold at least one target"
    if len(fields.targets) > MAX_TARGETS:
        return f"targets may hold at most {MAX_TARGETS} targets"
    for i, target in enumerate(fields.targets):
        if problem := _target_problem(target):
            return f"targets[{i}].{problem}"
    return None


def _target_problem(target: TargetFields) -> str | None:
    if target.type not in NOTIFY_TYPES:
        return f"type must be one of {', '.join(NOTIFY_TYPES)}, not {target.type[:40]!r}"
    formats = PAYLOAD_FORMATS[target.type]
    if target.payload_format not in formats:
        return f"payload_format of a {target.type} target must be {' or '.join(formats)}"
    try:
        target_host(target.address)
    except TargetRefused as exc:
        return f"address: {exc}"
    for name, secret in (("auth_header", target.auth_header), ("signing_secret", target.signing_secret)):
        if secret is not None and len(secret.reveal()) > MAX_SECRET:
            return f"{name} must be at most {MAX_SECRET} characters"
        if secret is not None and any(c in secret.reveal() for c in "\r\n\x00"):
            return f"{name} must be one line"
    return None
