"""What a pull policy's source endpoint holds, as the replication filters judge it (Harbor's adapters'
FetchArtifacts): a `docker-registry` endpoint through the distribution API (its catalog, then each
repository's tags: an artifact is known by its tag and carries no labels); a `harbor` endpoint (a Harbor or a
Berth) through its REST API, which names every top-level artifact with its digest, tags, labels and type,
and shows only the projects the endpoint's credentials may see."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from services.common.remote.client import RemoteError, RemoteRegistry, body_excerpt
from services.jobservice.replication_filters import resource_type


@dataclass(frozen=True, slots=True)
class RemoteArtifact:
    repository: str
    reference: str  # the digest, or the tag when the listing names no digest (the distribution API)
    tags: tuple[str, ...]
    labels: frozenset[str]
    kind: str  # "image" or "artifact" (replication_filters.resource_type)


async def remote_artifacts(
    remote: RemoteRegistry, endpoint_type: str, wanted: Callable[[str], bool]
) -> list[RemoteArtifact]:
    """The artifacts of the remote's repositories whose names `wanted` takes."""
    if endpoint_type == "harbor":
        return await _harbor_artifacts(remote, wanted)
    return await _catalog_artifacts(remote, wanted)


async def _catalog_artifacts(remote: RemoteRegistry, wanted: Callable[[str], bool]) -> list[RemoteArtifact]:
    found = []
    for repository in await _v2_listing(remote, "/v2/_catalog?n=1000", "registry:catalog:*", "repositories"):
        if not wanted(repository):
            continue
        path = f"/v2/{repository}/tags/list?n=1000"
        for tag in await _v2_listing(remote, path, f"repository:{repository}:pull", "tags"):
            found.append(RemoteArtifact(repository, tag, (tag,), frozenset(), "image"))
    return found


async def _harbor_artifacts(remote: RemoteRegistry, wanted: Callable[[str], bool]) -> list[RemoteArtifact]:
    found = []
    for project in await remote.api_pages("/api/v2.0/projects"):
        name = project.get("name")
        if not isinstance(name, str):
            continue
        for repository in await remote.api_pages(f"/api/v2.0/projects/{quote(name, safe='')}/repositories"):
            full = repository.get("name")
            if not isinstance(full, str) or not full.startswith(f"{name}/") or not wanted(full):
                continue
            # Harbor's path takes the name without the project, a `/` in it encoded twice.
            path = quote(quote(full.removeprefix(f"{name}/"), safe=""), safe="")
            listing = f"/api/v2.0/projects/{quote(name, safe='')}/repositories/{path}/artifacts"
            for artifact in await remote.api_pages(listing, "&with_tag=true&with_label=true", missing_ok=True):
                digest = artifact.get("digest")
                if not isinstance(digest, str):
                    continue
                found.append(
                    RemoteArtifact(
                        full,
                        digest,
                        tuple(_names(artifact.get("tags"))),
                        frozenset(_names(artifact.get("labels"))),
                        resource_type(str(artifact.get("manifest_media_type", "")), artifact.get("media_type")),
                    )
                )
    return found


def _names(items: Any) -> list[str]:
    return [i["name"] for i in items or [] if isinstance(i, dict) and isinstance(i.get("name"), str)]


async def _v2_listing(remote: RemoteRegistry, path: str, scope: str, key: str) -> list[str]:
    """A paginated /v2/ listing (`_catalog` or `tags/list`) followed through its Link headers."""
    found: list[str] = []
    next_path: str | None = path
    while next_path is not None:
        async with await remote.request("GET", next_path, scope=scope) as response:
            if response.status == 404 and key == "tags":
                return found  # a repository deleted meanwhile
            if response.status != 200:
                text = await body_excerpt(response)
                raise RemoteError(f"{remote.endpoint.url} answered {response.status} to GET {next_path}: {text}")
            body = await response.json(content_type=None)
            link = response.links.get("next")
        values = body.get(key) if isinstance(body, dict) else None
        found.extend(v for v in values or [] if isinstance(v, str))
        next_path = str(link["url"]) if link else None
    return found
