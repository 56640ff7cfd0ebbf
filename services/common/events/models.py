"""What an event says. Types follow Harbor's event topics, so webhooks can later reuse them as they are."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

import orjson


class EventType(StrEnum):
    PUSH_ARTIFACT = "PUSH_ARTIFACT"
    PULL_ARTIFACT = "PULL_ARTIFACT"
    DELETE_ARTIFACT = "DELETE_ARTIFACT"
    CREATE_TAG = "CREATE_TAG"
    DELETE_TAG = "DELETE_TAG"
    DELETE_REPOSITORY = "DELETE_REPOSITORY"
    # A push refused by the project's quota, and one that left its usage at 85 % of the limit or more.
    QUOTA_EXCEED = "QUOTA_EXCEED"
    QUOTA_WARNING = "QUOTA_WARNING"
    # A tag retention run removed artifacts of a repository (`details`: Harbor's retention event data).
    TAG_RETENTION = "TAG_RETENTION"
    # A replication task ended (`details`: Harbor's replication event data; jobservice/replication/announce.py).
    REPLICATION = "REPLICATION"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class Event:
    type: EventType
    # Who did it: a user name, robot$..., or "anonymous".
    operator: str
    # Full repository name, e.g. library/nginx; its first component is the project.
    repository: str
    digest: str | None = None
    tag: str | None = None
    media_type: str | None = None
    # Pulls of one artifact by one operator are merged in memory; this says how many there were.
    count: int = 1
    # What happened in words, where the type alone does not say (Harbor's custom_attributes.Details).
    details: str | None = None
    occurred_at: dt.datetime = field(default_factory=_now)
    event_id: uuid.UUID = field(default_factory=uuid.uuid4)

    @property
    def project(self) -> str:
        return self.repository.split("/", 1)[0]

    def payload(self) -> dict[str, Any]:
        body = asdict(self)
        body["type"] = str(self.type)
        body["occurred_at"] = self.occurred_at.isoformat()
        body["event_id"] = str(self.event_id)
        return body

    def encode(self) -> bytes:
        return orjson.dumps(self.payload())

    @staticmethod
    def decode(data: bytes | str) -> Event:
        body = orjson.loads(data)
        return Event(
            type=EventType(body["type"]),
            operator=body["operator"],
            repository=body["repository"],
            digest=body.get("digest"),
            tag=body.get("tag"),
            media_type=body.get("media_type"),
            count=int(body.get("count", 1)),
            details=body.get("details"),
            occurred_at=dt.datetime.fromisoformat(body["occurred_at"]),
            event_id=uuid.UUID(body["event_id"]),
        )
