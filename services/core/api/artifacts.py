"""/api/v2.0/projects/{p}/repositories/{r}/artifacts[/{reference}[/tags[/{tag}] | /labels[/{label_id}]]]:
Harbor's Artifact, Tag, Reference and Accessory shapes; `{reference}` is a tag or a digest (anything else
is a 400)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from aiohttp import web

from services.core.api.body import no_unknown_fields, opt_int, opt_str, read_object
from services.core.api.common import (
    API,
    ARTIFACT,
    REPOSITORY,
    harbor_time,
    page_headers,
    path_id,
    project_ref,
    query_flag,
)
from services.core.api.labels import FIELDS as LABEL_FIELDS
from services.core.api.labels import render_label
from services.core.api.repositories import repository_path
from services.core.artifacts.models import ARTIFACT_LIST, TAG_LIST, AccessoryView, ArtifactView, ReferenceView, TagView
from services.core.artifacts.references import parse_reference
from services.core.artifacts.service import ArtifactService
from services.core.errors import BadRequest
from services.core.listing import clean_text, parse_page, parse_q, parse_sort
from services.core.security.middleware import principal_of

# What Harbor (Go's zero time.Time) sends for a time that never happened, as a pull_time never pulled.
ZERO_TIME = "0001-01-01T00:00:00.000Z"
# The config keys Harbor's image processor shows as extra_attrs (the rest of the config is left out).
EXTRA_ATTRS = ("architecture", "os", "created", "author", "config")


def _path(request: web.Request) -> tuple[str, Any]:
    path = repository_path(request)
    reference = parse_reference(clean_text(request.match_info["reference"], "reference"))
    return path, reference


def render_tag(tag: TagView) -> dict[str, Any]:
    return {
        "id": tag.id,
        "repository_id": tag.repository_id,
        "artifact_id": tag.artifact_id,
        "name": tag.name,
        "push_time": harbor_time(tag.pushed_at),
        "pull_time": harbor_time(tag.pulled_at) if tag.pulled_at else ZERO_TIME,
        "immutable": tag.immutable,
    }


def _reference(ref: ReferenceView) -> dict[str, Any]:
    return {
        "parent_id": ref.parent_id,
        "child_id": ref.child_id,
        "child_digest": ref.child_digest,
        "platform": ref.platform,
        "annotations": {},
        "urls": [],
    }


def render_accessory(accessory: AccessoryView, subject: ArtifactView) -> dict[str, Any]:
    return {
        "id": accessory.id,
        "artifact_id": accessory.id,
        "subject_artifact_id": subject.id,
        "subject_artifact_digest": subject.digest,
        "subject_artifact_repo": subject.repository,
        "size": accessory.size,
        "digest": accessory.digest,
        "type": accessory.kind,
        "icon": "",
        "creation_time": harbor_time(accessory.created_at),
    }


def _extra_attrs(artifact: ArtifactView) -> dict[str, Any] | None:
    if artifact.config is None:
        return None
    if artifact.kind == "CHART":
        # A Helm chart's config is its Chart.yaml metadata, shown whole (Harbor's chart processor).
        return artifact.config
    return {key: artifact.config[key] for key in EXTRA_ATTRS if key in artifact.config}


def _addition_links(artifact: ArtifactView) -> dict[str, Any] | None:
    """Harbor's links to the artifact's additions, by digest (the tag may move)."""
    if not artifact.additions:
        return None
    project, _, repository = artifact.repository.partition("/")
    base = (
        f"{API}/projects/{project}/repositories/{quote(quote(repository, safe=''), safe='')}"
        f"/artifacts/{artifact.digest}/additions"
    )
    return {name: {"absolute": False, "href": f"{base}/{name}"} for name in artifact.additions}


def render(artifact: ArtifactView, *, with_accessory: bool = False, with_label: bool = False) -> dict[str, Any]:
    return {
        "id": artifact.id,
        "type": artifact.kind,
        # Harbor's media_type is the config's for an image, the manifest's for an index.
        "media_type": artifact.config_media_type or artifact.manifest_media_type,
        "manifest_media_type": artifact.manifest_media_type,
        "artifact_type": artifact.artifact_type or artifact.config_media_type or artifact.manifest_media_type,
        "project_id": artifact.project_id,
        "repository_id": artifact.repository_id,
        "repository_name": artifact.repository,
        "digest": artifact.digest,
        "size": artifact.size,
        "icon": artifact.icon or "",
        "push_time": harbor_time(artifact.pushed_at),
        "pull_time": harbor_time(artifact.pulled_at) if artifact.pulled_at else ZERO_TIME,
        # Where Harbor's schema says object or array, one is sent, never null: {} and [] for nothing, or
        # for what was not asked for (labels without with_label, accessories without with_accessory).
        "extra_attrs": _extra_attrs(artifact) or {},
        "annotations": artifact.annotations or {},
        "references": [_reference(r) for r in artifact.references],
        "tags": [render_tag(t) for t in artifact.tags],
        "addition_links": _addition_links(artifact) or {},
        "labels": [render_label(x) for x in artifact.labels] if with_label else [],
        "accessories": [render_accessory(a, artifact) for a in artifact.accessories] if with_accessory else [],
    }


class ArtifactsApi:
    def __init__(self, artifacts: ArtifactService) -> None:
        self._artifacts = artifacts

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get(f"{REPOSITORY}/artifacts", self.list, allow_head=False),
            web.post(f"{REPOSITORY}/artifacts", self.copy),
            web.get(ARTIFACT, self.get, allow_head=False),
            web.delete(ARTIFACT, self.delete),
            web.get(f"{ARTIFACT}/tags", self.list_tags, allow_head=False),
            web.post(f"{ARTIFACT}/tags", self.create_tag),
            web.delete(f"{ARTIFACT}/tags/{{tag_name}}", self.delete_tag),
            web.get(f"{ARTIFACT}/additions/{{addition}}", self.addition, allow_head=False),
            web.post(f"{ARTIFACT}/labels", self.add_label),
            web.delete(f"{ARTIFACT}/labels/{{label_id}}", self.remove_label),
        ]

    async def list(self, request: web.Request) -> web.Response:
        path = repository_path(request)
        q = request.query
        terms = parse_q(q.get("q"), ARTIFACT_LIST.filters)
        sort = parse_sort(q.get("sort"), ARTIFACT_LIST.sorts)
        page = parse_page(q.get("page"), q.get("page_size"))
        with_tag = query_flag(request, "with_tag", True)
        with_accessory = query_flag(request, "with_accessory", False)
        with_label = query_flag(request, "with_label", False)
        # with_signature, with_scan_overview, with_sbom_overview and with_immutable_status are accepted and
        # have no effect (no scanner, no signatures of Harbor's kind; tags always carry `immutable`).
        # Their values are still checked.
        for flag in (
            "with_signature",
            "with_scan_overview",
            "with_sbom_overview",
            "with_immutable_status",
        ):
            query_flag(request, flag, False)

        def render_page(found: list[ArtifactView]) -> bytes:
            body = [render(a, with_accessory=with_accessory, with_label=with_label) for a in found]
            return json.dumps(body).encode()

        # Rendered once per page and repository state: the service caches the bytes (with_accessory is
        # the one rendering option the query does not already carry).
        body, total = await self._artifacts.list(
            principal_of(request),
            project_ref(request),
            path,
            terms,
            sort,
            page,
            with_tag=with_tag,
            with_label=with_label,
            render=render_page,
            variant=with_accessory,
        )
        return web.Response(
            body=body, content_type="application/json", charset="utf-8", headers=page_headers(request, page, total)
        )

    async def get(self, request: web.Request) -> web.Response:
        path, reference = _path(request)
        found = await self._artifacts.get(principal_of(request), project_ref(request), path, reference)
        body = render(
            found,
            with_accessory=query_flag(request, "with_accessory", False),
            with_label=query_flag(request, "with_label", False),
        )
        if not query_flag(request, "with_tag", True):
            # An array, as in the list and as Harbor's schema says: [] for what was not asked for.
            body["tags"] = []
        return web.json_response(body)

    async def delete(self, request: web.Request) -> web.Response:
        path, reference = _path(request)
        await self._artifacts.delete(principal_of(request), project_ref(request), path, reference)
        return web.Response(status=200)

    async def copy(self, request: web.Request) -> web.Response:
        path = repository_path(request)
        source = request.query.get("from")
        if not source:
            raise BadRequest("from is required: <project>/<repository>:<tag> or <project>/<repository>@<digest>")
        copied = await self._artifacts.copy(
            principal_of(request), project_ref(request), path, clean_text(source, "from")
        )
        location = REPOSITORY.format_map(request.match_info) + f"/artifacts/{copied.digest}"
        return web.Response(status=201, headers={"Location": location})

    async def list_tags(self, request: web.Request) -> web.Response:
        path, reference = _path(request)
        q = request.query
        terms = parse_q(q.get("q"), TAG_LIST.filters)
        sort = parse_sort(q.get("sort"), TAG_LIST.sorts)
        page = parse_page(q.get("page"), q.get("page_size"))
        tags, total = await self._artifacts.list_tags(
            principal_of(request), project_ref(request), path, reference, terms, sort, page
        )
        return web.json_response([render_tag(t) for t in tags], headers=page_headers(request, page, total))

    async def create_tag(self, request: web.Request) -> web.Response:
        path, reference = _path(request)
        data = await read_object(request)
        # Harbor's body is a whole Tag; only the name counts.
        no_unknown_fields(
            data, frozenset({"id", "repository_id", "artifact_id", "name", "push_time", "pull_time", "immutable"})
        )
        name = opt_str(data, "name")
        if not name:
            raise BadRequest("name is required")
        await self._artifacts.create_tag(principal_of(request), project_ref(request), path, reference, name)
        return web.Response(status=201)

    async def delete_tag(self, request: web.Request) -> web.Response:
        path, reference = _path(request)
        tag = clean_text(request.match_info["tag_name"], "tag_name")
        await self._artifacts.delete_tag(principal_of(request), project_ref(request), path, reference, tag)
        return web.Response(status=200)

    async def addition(self, request: web.Request) -> web.Response:
        path, reference = _path(request)
        name = clean_text(request.match_info["addition"], "addition")
        found = await self._artifacts.addition(principal_of(request), project_ref(request), path, reference, name)
        return web.Response(text=found.body, content_type=found.content_type, charset="utf-8")

    async def add_label(self, request: web.Request) -> web.Response:
        path, reference = _path(request)
        data = await read_object(request)
        no_unknown_fields(data, LABEL_FIELDS, what="label")
        label_id = opt_int(data, "id")
        if not label_id:
            raise BadRequest("id (the label's) is required")
        await self._artifacts.add_label(principal_of(request), project_ref(request), path, reference, label_id)
        return web.Response(status=200)

    async def remove_label(self, request: web.Request) -> web.Response:
        path, reference = _path(request)
        label_id = path_id(request, "label_id")
        await self._artifacts.remove_label(principal_of(request), project_ref(request), path, reference, label_id)
        return web.Response(status=200)
