"""The Docker token flow for test clients: fetch a bearer token for what a request needs, attach it.

Tokens are fetched before the request is sent (so streamed bodies need no replay) for the scope its URL
implies, and again from the registry's challenge if it still answers 401.
"""

from __future__ import annotations

import re
from collections.abc import Generator
from urllib.parse import urlsplit

import httpx

_REPO_PATH = re.compile(r"/v2/(?P<name>.+?)/(?:blobs|manifests|tags|referrers)/")
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


def scopes_for(request: httpx.Request) -> list[str]:
    path = request.url.path
    if path.rstrip("/") == "/v2":
        return []
    if path.startswith("/v2/_catalog"):
        return ["registry:catalog:*"]
    m = _REPO_PATH.match(path)
    if m is None:
        return []
    scopes = [f"repository:{m.group('name')}:pull,push,delete"]
    source = request.url.params.get("from")
    if source:
        scopes.append(f"repository:{source}:pull")
    return scopes


def fetch_token(token_url: str, service: str, scopes: list[str], credentials: tuple[str, str] | None) -> str:
    params = httpx.QueryParams([("service", service), *(("scope", s) for s in scopes)])
    r = httpx.get(token_url, params=params, auth=credentials, timeout=30)
    r.raise_for_status()
    token: str = r.json()["token"]
    return token


class RegistryTokenAuth(httpx.Auth):
    def __init__(self, token_url: str, service: str, credentials: tuple[str, str] | None) -> None:
        self._token_url = token_url
        self._service = service
        self._credentials = credentials
        self._tokens: dict[str, str] = {}

    def _token(self, scopes: list[str]) -> Generator[httpx.Request, httpx.Response, str]:
        key = " ".join(scopes)
        if key not in self._tokens:
            params = httpx.QueryParams([("service", self._service), *(("scope", s) for s in scopes)])
            request = httpx.Request("GET", self._token_url, params=params)
            if self._credentials is not None:
                request = httpx.BasicAuth(*self._credentials).sync_auth_flow(request).__next__()
            response = yield request
            response.read()
            response.raise_for_status()
            self._tokens[key] = response.json()["token"]
        return self._tokens[key]

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if urlsplit(str(request.url)).path.startswith("/v2"):
            request.headers["Authorization"] = "Bearer " + (yield from self._token(scopes_for(request)))
        response = yield request
        challenge = response.headers.get("WWW-Authenticate", "")
        if response.status_code != 401 or not challenge.startswith("Bearer") or not _safe_to_resend(request):
            return
        params = dict(_CHALLENGE_PARAM.findall(challenge))
        scopes = params.get("scope", "").split()
        # A token cached before the access existed (a project made since) grants nothing: ask again.
        self._tokens.pop(" ".join(scopes), None)
        request.headers["Authorization"] = "Bearer " + (yield from self._token(scopes))
        yield request


def _safe_to_resend(request: httpx.Request) -> bool:
    """Only requests whose body httpx still holds (not a consumed generator) can be sent again."""
    try:
        request.read()
    except httpx.StreamConsumed:
        return False
    return True
