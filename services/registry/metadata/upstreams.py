"""SQL: the registry endpoint of a proxy-cache project (projects.registry_id, migration 0026), as the
registry needs it to fetch what a pull misses. Owned by core; read here."""

from __future__ import annotations

from dataclasses import dataclass

from services.common.db import Executor


@dataclass(frozen=True, slots=True)
class UpstreamRow:
    registry_id: int
    type: str
    url: str
    insecure: bool
    ca_certificate: str
    access_key: str
    ciphertext: str  # the endpoint's password, encrypted with the secret key; '' for none
    speed_kb: str | None  # the project's proxy_speed_kb and max_upstream_conn metadata, as stored
    max_connections: str | None


async def of_project(db: Executor, project: str, repository: str) -> tuple[UpstreamRow | None, int | None]:
    """(the endpoint project `project` caches, None when it is no proxy cache or does not exist; the id of
    repository `repository`, None while it does not exist), read in one snapshot."""
    row = await db.fetchrow(
        "SELECT r.id, r.type, r.url, r.insecure, r.ca_certificate, r.access_key, r.access_secret,"
        " p.metadata->>'proxy_speed_kb' AS speed_kb, p.metadata->>'max_upstream_conn' AS max_connections,"
        " (SELECT id FROM repositories WHERE name = $2) AS repository_id"
        " FROM (SELECT 1) one LEFT JOIN projects p ON p.name = $1 LEFT JOIN registries r ON r.id = p.registry_id",
        project,
        repository,
    )
    assert row is not None
    if row["id"] is None:
        return None, row["repository_id"]
    upstream = UpstreamRow(
        registry_id=row["id"],
        type=row["type"],
        url=row["url"],
        insecure=row["insecure"],
        ca_certificate=row["ca_certificate"],
        access_key=row["access_key"],
        ciphertext=row["access_secret"],
        speed_kb=row["speed_kb"],
        max_connections=row["max_connections"],
    )
    return upstream, row["repository_id"]
