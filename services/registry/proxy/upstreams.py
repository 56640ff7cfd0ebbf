"""Which upstream registry a repository's project caches, if any: the question every pull that misses,
every pull of a tag and every push asks, so its answer is cached with the other lookups.

The answer ("a proxy cache of this endpoint" or "no proxy cache") is kept under the repository it was read
for, so it is dropped with that repository's other entries; every entry is dropped when a project is
deleted or renamed or an endpoint is edited or deleted (migrations 0010 and 0026), and a project's
registry_id never changes. A repository that does not exist yet is not cached (its first pull creates it).
"""

from __future__ import annotations

from dataclasses import dataclass

from services.common.auth.scopes import project_of
from services.common.cache import LookupCache
from services.common.db import Database
from services.common.remote.client import RemoteEndpoint
from services.common.secret import Secret
from services.common.secret_key import SecretKeyError, SecretKeyFile
from services.registry.errors import UpstreamFailed
from services.registry.metadata import upstreams
from services.registry.metadata.upstreams import UpstreamRow

CACHED_UPSTREAM_ENTRY_BYTES = 600
# Docker Hub's registry: a single-component name there is an official image under `library/`, which a
# client adds itself when it talks to Docker Hub, but not when it talks to a proxy cache of it.
DOCKER_HUB_HOSTS = frozenset({"docker.io", "registry-1.docker.io", "index.docker.io", "hub.docker.com"})


@dataclass(frozen=True)
class Upstream:
    """A proxy-cache project's endpoint, with the project's limits on how it is fetched from."""

    project: str
    registry_id: int
    endpoint: RemoteEndpoint
    docker_hub: bool
    speed_kb: int | None  # KiB/s a fetch may take from the upstream; None: no limit
    max_connections: int | None  # concurrent fetches from the upstream; None: no limit

    def remote_name(self, repository: str) -> str:
        """The upstream's name of `<project>/<path>`: the path, under `library/` for a single-component
        name on Docker Hub, as Harbor does."""
        path = repository.split("/", 1)[1]
        return f"library/{path}" if self.docker_hub and "/" not in path else path


class _NoUpstream:
    """Cached for a project that is no proxy cache (LookupCache keeps no None)."""


_NONE = _NoUpstream()


class Upstreams:
    def __init__(self, db: Database, cache: LookupCache, secret_key: SecretKeyFile) -> None:
        self._db = db
        self._cache = cache
        self._key = secret_key

    async def of(self, repository: str) -> Upstream | None:
        """The upstream of the repository's project; None when the project is no proxy cache (or there is
        no such project: the caller's own lookups say so). UpstreamFailed when the endpoint's password does
        not decrypt."""
        project = project_of(repository)
        if project is None:
            return None
        key = ("upstream", project)
        cached: Upstream | _NoUpstream | None = self._cache.get(key)
        if cached is not None:
            return None if isinstance(cached, _NoUpstream) else cached
        generation = self._cache.generation
        row, repository_id = await upstreams.of_project(self._db.pool, project, repository)
        found = None if row is None else self._upstream(project, row)
        if repository_id is not None:
            self._cache.put(key, repository_id, found or _NONE, CACHED_UPSTREAM_ENTRY_BYTES, generation)
        return found

    def _upstream(self, project: str, row: UpstreamRow) -> Upstream:
        try:
            password = self._key.decrypt(row.ciphertext) if row.ciphertext else ""
        except SecretKeyError as exc:
            raise UpstreamFailed(
                f"the credentials of registry endpoint {row.registry_id} cannot be read: {exc}"
            ) from None
        endpoint = RemoteEndpoint(
            url=row.url,
            username=row.access_key,
            password=Secret(password),
            insecure=row.insecure,
            ca_certificate=row.ca_certificate,
        )
        host = row.url.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0].lower()
        return Upstream(
            project=project,
            registry_id=row.registry_id,
            endpoint=endpoint,
            docker_hub=row.type == "docker-hub" or host in DOCKER_HUB_HOSTS,
            speed_kb=_positive(row.speed_kb),
            max_connections=_positive(row.max_connections),
        )


def _positive(value: str | None) -> int | None:
    """A stored proxy-cache number (core checked it): None for absent, -1 or 0, meaning no limit."""
    try:
        number = int(value) if value is not None else 0
    except ValueError:
        return None
    return number if number > 0 else None
