"""Helpers every API module shares: the project in the path, pagination headers, Harbor's time format."""

from __future__ import annotations

import datetime as dt

from aiohttp import web
from multidict import MultiDict

from services.core.errors import BadRequest
from services.core.listing import Page, clean_text, parse_bool
from services.core.projects.models import ProjectRef

API = "/api/v2.0"
# The path prefixes the route lists share.
PROJECT = f"{API}/projects/{{project_name_or_id}}"
# `{repository_name}` is one path segment: a `/` in it arrives encoded twice (a%252Fb), decoded by the handler.
REPOSITORY = f"{PROJECT}/repositories/{{repository_name}}"
ARTIFACT = f"{REPOSITORY}/artifacts/{{reference}}"
IS_RESOURCE_NAME = "X-Is-Resource-Name"


def project_ref(request: web.Request) -> ProjectRef:
    """Harbor's rule, made safe for numeric names: with `X-Is-Resource-Name: true` the path names the
    project, with `false` a number is an id; without the header a number names the project of that name
    if there is one, else the project of that id, so a project named `123` is never another's id."""
    text = clean_text(request.match_info["project_name_or_id"], "project_name_or_id")
    flag = request.headers.get(IS_RESOURCE_NAME)
    is_name = parse_bool(flag, IS_RESOURCE_NAME) if flag else None
    if is_name is not True and text.isascii() and text.isdigit() and len(text) <= 18:
        return ProjectRef(id=int(text), name=None if is_name is False else text)
    return ProjectRef(name=text)


def query_flag(request: web.Request, name: str, default: bool) -> bool:
    """A boolean query parameter (Go's ParseBool spellings, as Harbor's); absent or empty: `default`."""
    text = request.query.get(name)
    return default if text is None or text == "" else parse_bool(text, name)


def path_int(request: web.Request, key: str) -> int:
    text = request.match_info[key]
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise BadRequest(f"{key} must be an integer")
    return int(text)


def path_id(request: web.Request, key: str) -> int:
    """A row's id in the path: a positive integer, else a 400 naming `key`."""
    value = path_int(request, key)
    if value <= 0:
        raise BadRequest(f"{key} must be a positive integer")
    return value


def harbor_time(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def page_headers(request: web.Request, page: Page, total: int) -> dict[str, str]:
    """X-Total-Count, and Link with rel="prev"/"next" (Harbor's format), keeping the other parameters."""
    headers = {"X-Total-Count": str(total)}
    links = []

    def url(number: int) -> str:
        query = MultiDict(request.query)
        query["page"] = str(number)
        query["page_size"] = str(page.size)
        return str(request.rel_url.with_query(query))

    if page.number > 1:
        links.append(f'<{url(page.number - 1)}>; rel="prev"')
    if page.number * page.size < total:
        links.append(f'<{url(page.number + 1)}>; rel="next"')
    if links:
        headers["Link"] = " , ".join(links)
    return headers
