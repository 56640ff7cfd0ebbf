"""The client of a remote registry (Harbor, Berth, CNCF Distribution, any OCI Distribution registry), talking
to it as Docker clients do: Basic or Bearer challenge-response, tokens cached per scope, TLS as the endpoint
says, and every failure turned into a RemoteError of one line an operator can act on.

Endpoint health checks use `ping`/`ping_harbor`; replication builds on `request`, which returns the aiohttp
response unread so that the caller streams the body (blobs are many GiB):

    async with RemoteRegistry(endpoint, timeout=30) as remote:
        async with await remote.request("GET", f"/v2/{name}/blobs/{digest}", scope=f"repository:{name}:pull") as r:
            async for chunk in r.content.iter_chunked(1 << 20):
                ...

Errors while the caller reads a body (a stalled or cut connection) are aiohttp's own; `translated` turns
them into RemoteError the same way.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import socket
import ssl
import time
from collections.abc import AsyncIterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from services.common.secret import Secret

API_VERSION_HEADER = "Docker-Distribution-API-Version"
DEFAULT_TIMEOUT_S = 30.0
# The token spec: a token answer without `expires_in` is good for 60 seconds.
DEFAULT_TOKEN_LIFETIME_S = 60
# A token is renewed this long before it expires, so that none lapses while its request is in flight.
TOKEN_RENEW_MARGIN_S = 10.0
USER_AGENT = "berth-remote"
# How much of an unexpected answer's body an error message quotes.
EXCERPT_BYTES = 200
# Items a page of a Harbor API listing asks for (Harbor's own maximum page size is 100).
API_PAGE_SIZE = 100

# Streamed bodies (an upload from another registry's blob) can be sent once only; bytes can be sent again.
Body = bytes | AsyncIterable[bytes] | None

_CHALLENGE_PARAM = re.compile(r'(\w+)=(?:"([^"]*)"|([^\s,]*))')
_SSL_CODE = re.compile(r"^\[[^\]]*\]\s*")
_SSL_LOCATION = re.compile(r"\s*\(_ssl\.c:\d+\)$")
# OpenSSL's words for a TLS handshake answered in plain HTTP.
_PLAIN_HTTP_REASONS = {"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "HTTP_REQUEST"}


def _no_password() -> Secret:
    return Secret("")


@dataclass(frozen=True)
class RemoteEndpoint:
    """Where a remote registry is and how to reach it. `url` is its base (`https://host:5000`)."""

    url: str
    username: str = ""
    password: Secret = field(default_factory=_no_password)
    insecure: bool = False  # no certificate or host name verification at all
    ca_certificate: str = ""  # PEM text: the only CA trusted for this endpoint
    # The token service to ask instead of the realm the challenge names: Berth reaching its own registry from
    # inside, where the public URL the challenge gives may not resolve. Empty: the challenge's.
    token_url: str = ""

    def __post_init__(self) -> None:
        # Paths ("/v2/...") are appended to the base, and a trailing slash would double theirs.
        object.__setattr__(self, "url", self.url.rstrip("/"))


class RemoteError(Exception):
    """Why talking to a remote registry failed, in one line naming the URL."""


class RemoteUnauthorized(RemoteError):
    """The remote (or its token service) refused the endpoint's credentials."""


@dataclass(frozen=True)
class _Realm:
    url: URL
    service: str


@dataclass(frozen=True)
class _Token:
    authorization: str  # "Bearer <token>"
    renew_at: float  # time.monotonic()


class RemoteRegistry:
    """One session with one remote registry: `async with RemoteRegistry(endpoint) as remote:`.

    `timeout` bounds each wait (connecting, then each read of the answer), not a whole transfer, which may
    rightly take long. An instance may serve concurrent tasks; at worst two fetch the same token.
    """

    def __init__(self, endpoint: RemoteEndpoint, *, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        self.endpoint = endpoint
        self._base = URL(endpoint.url)
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        # What the remote asked for, learned from its first challenge and kept for the session, so that
        # later requests carry credentials at once instead of meeting a 401 each.
        self._challenged = False
        self._basic = False
        self._realm: _Realm | None = None
        self._tokens: dict[str, _Token] = {}

    @property
    def timeout(self) -> float:
        """Seconds each wait on the remote may take (connecting, each read)."""
        return self._timeout

    async def __aenter__(self) -> RemoteRegistry:
        if self._base.scheme not in ("http", "https") or not self._base.host:
            raise RemoteError(f"{self.endpoint.url!r} is not an http:// or https:// URL")
        context = _ssl_context(self.endpoint)
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=context),
            # No total: copying a large blob takes as long as it takes; a stalled connection must not.
            timeout=aiohttp.ClientTimeout(total=None, connect=self._timeout, sock_read=self._timeout),
            headers={"User-Agent": USER_AGENT},
            # Blobs must arrive byte for byte (digests are checked): ask for no content coding, decode none.
            skip_auto_headers=("Accept-Encoding",),
            auto_decompress=False,
        )
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def request(
        self,
        method: str,
        path: str,
        *,
        scope: str | None = None,
        headers: Mapping[str, str] | None = None,
        data: Body = None,
        allow_redirects: bool = True,
    ) -> aiohttp.ClientResponse:
        """Sends `method path` (a path under the endpoint's URL, or an absolute URL such as a Location
        header's) authenticated as Docker clients are, and returns the response unread: use it as
        `async with await remote.request(...) as response:`.

        `scope` is the token scope the request needs (`repository:a/b:pull,push`; several separated by
        spaces); None takes the one the remote's challenge names. A 401 is answered once (Basic, or a Bearer
        token for the scope) and the request sent again when its body is bytes or absent. A streamed body is
        sent once, with credentials fetched beforehand: the first such request of a session learns the
        challenge from GET /v2/, so pass `scope` with it. A 401 that remains is returned, not raised.

        Credentials go only to the endpoint's own origin, never to another (a storage backend a redirect or
        Location names); a caller's own Authorization header is sent as it is, with no challenge answered.
        """
        url = self._url(path)
        sent: CIMultiDict[str] = CIMultiDict(headers or {})
        if "Authorization" in sent or url.origin() != self._base.origin():
            return await self._send(method, url, sent, data, allow_redirects)
        replayable = data is None or isinstance(data, bytes)
        if not replayable and not self._challenged:
            await self._learn_challenge()
        authorization, fetched = await self._authorization(scope)
        if authorization is not None:
            sent["Authorization"] = authorization
        response = await self._send(method, url, sent, data, allow_redirects)
        if response.status != 401 or not replayable:
            return response
        try:
            retry = await self._answer(response, scope, authorization, fetched)
        except BaseException:
            response.release()
            raise
        if retry is None:
            return response
        response.release()
        sent["Authorization"] = retry
        return await self._send(method, url, sent, data, allow_redirects)

    async def ping(self) -> None:
        """Raises RemoteError unless the endpoint is an OCI Distribution registry that answers GET /v2/: with
        a username, it must answer 200 once authenticated (RemoteUnauthorized otherwise); without one, a
        401 or 403 counts too (Harbor's PingSimple: only reachability and TLS are checked)."""
        if self.endpoint.username:
            response = await self.request("GET", "/v2/")
        else:
            # No anonymous token is asked for: a token service may refuse one to a registry that is fine.
            response = await self._send("GET", self._url("/v2/"), {}, None, True)
        async with response:
            await self._check_base_answer(response)

    async def ping_harbor(self) -> None:
        """`ping`, and the endpoint serves Harbor's API (GET /api/v2.0/ping answers 200); with a username,
        the API accepts it too (replication creates projects through that API)."""
        await self.ping()
        where = self.endpoint.url
        async with await self._send("GET", self._url("/api/v2.0/ping"), {}, None, True) as response:
            if response.status != 200:
                raise RemoteError(f"{where} has no Harbor API: GET /api/v2.0/ping answered {response.status}")
        basic = self.basic_authorization()
        if basic is None:
            return
        # Harbor's API takes Basic credentials sent at once; it issues no challenge to answer.
        path = "/api/v2.0/projects?page_size=1"
        async with await self._send("GET", self._url(path), {"Authorization": basic}, None, True) as response:
            if response.status == 401:
                raise RemoteUnauthorized(f"the credentials were refused by {where} (401 on GET /api/v2.0/projects)")
            if response.status >= 500:
                raise RemoteError(f"{where} answered {response.status} to GET /api/v2.0/projects")

    # --- authentication ------------------------------------------------------------------------------------

    async def _authorization(self, scope: str | None) -> tuple[str | None, bool]:
        """What to send before any challenge, and whether it is a token fetched just now: Basic once the
        remote asked for it; else a cached token for `scope`, or one fetched now when the realm is known
        and a scope is named (saving the 401 round trip)."""
        if self._basic:
            return self.basic_authorization(), False
        if self._realm is None:
            return None, False
        key = _scope_key(scope or "")
        token = self._tokens.get(key)
        if token is not None and token.renew_at > time.monotonic():
            return token.authorization, False
        if scope is None:
            return None, False
        return await self._fetch_token(key), True

    async def _answer(
        self, response: aiohttp.ClientResponse, scope: str | None, sent: str | None, fetched: bool
    ) -> str | None:
        """The Authorization that answers this 401's challenge; None when there is nothing new to offer."""
        challenges = self._learn(response)
        bearer = challenges.get("bearer")
        if bearer is not None and self._realm is not None:
            if fetched:
                return None  # a token made a moment ago for this very scope: a new one would say the same
            key = _scope_key(scope if scope is not None else bearer.get("scope", ""))
            token = self._tokens.get(key)
            if token is not None and token.renew_at > time.monotonic() and token.authorization != sent:
                return token.authorization
            return await self._fetch_token(key)
        if "basic" in challenges:
            basic = self.basic_authorization()
            return basic if basic != sent else None
        return None

    def _learn(self, response: aiohttp.ClientResponse) -> dict[str, dict[str, str]]:
        challenges = _challenges(response)
        bearer = challenges.get("bearer")
        if bearer is not None and bearer.get("realm"):
            realm = URL(self.endpoint.token_url) if self.endpoint.token_url else self._base.join(URL(bearer["realm"]))
            self._realm = _Realm(realm, bearer.get("service", ""))
        elif "basic" in challenges:
            self._basic = True
        self._challenged = True
        return challenges

    async def _learn_challenge(self) -> None:
        async with await self._send("GET", self._url("/v2/"), {}, None, True) as response:
            if response.status == 401:
                self._learn(response)
        self._challenged = True

    async def _fetch_token(self, key: str) -> str:
        """A token for the scopes in `key` from the realm (with Basic credentials when a username is set,
        anonymously otherwise), cached until shortly before it expires."""
        assert self._realm is not None
        realm = self._realm
        query = [("service", realm.service)] if realm.service else []
        query += [("scope", s) for s in key.split()]
        basic = self.basic_authorization()
        headers = {"Authorization": basic} if basic is not None else {}
        where = str(realm.url.origin())
        started = time.monotonic()
        async with await self._send("GET", realm.url.extend_query(query), headers, None, True) as response:
            status = response.status
            if status in (401, 403):
                whose = "the credentials were" if basic is not None else "an anonymous token was"
                raise RemoteUnauthorized(f"{whose} refused by {where} ({status} on GET {realm.url.path})")
            if status != 200:
                raise RemoteError(f"{where} answered {status} to the token request GET {realm.url.path}")
            with translated(where, f"GET {realm.url.path}", self._timeout):
                try:
                    body = await response.json(content_type=None)
                except ValueError as exc:
                    raise RemoteError(f"{where} answered the token request GET {realm.url.path} with no JSON") from exc
        token = (body.get("token") or body.get("access_token")) if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise RemoteError(f"{where} answered the token request GET {realm.url.path} with no token")
        lifetime = body.get("expires_in")
        if isinstance(lifetime, bool) or not isinstance(lifetime, int | float) or lifetime <= 0:
            lifetime = DEFAULT_TOKEN_LIFETIME_S
        authorization = f"Bearer {token}"
        renew_at = started + max(lifetime - TOKEN_RENEW_MARGIN_S, lifetime / 2)
        self._tokens[key] = _Token(authorization, renew_at)
        return authorization

    def basic_authorization(self) -> str | None:
        """HTTP Basic credentials of the endpoint's user (None without one): what Harbor's API takes at once,
        with no challenge to answer."""
        if not self.endpoint.username:
            return None
        # UTF-8, as Docker (Go's SetBasicAuth) sends it; aiohttp's BasicAuth would encode Latin-1.
        pair = f"{self.endpoint.username}:{self.endpoint.password.reveal()}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")

    def api_headers(self) -> dict[str, str]:
        """The headers of a request to a Harbor's (or a Berth's) REST API: its Basic credentials at once,
        as it issues no challenge to answer."""
        basic = self.basic_authorization()
        return {"Authorization": basic} if basic else {}

    async def api_pages(
        self, path: str, query: str = "", *, missing_ok: bool = False, max_pages: int | None = None
    ) -> list[dict[str, Any]]:
        """Every item of a paginated Harbor API listing, page by page until a short one (or `max_pages`).
        With `missing_ok`, a 404 on the first page is an empty listing (what it lists was deleted meanwhile);
        any other answer than a JSON list is a RemoteError saying what came back."""
        headers = self.api_headers()
        items: list[dict[str, Any]] = []
        page = 1
        while max_pages is None or page <= max_pages:
            url = f"{path}?page={page}&page_size={API_PAGE_SIZE}{query}"
            async with await self.request("GET", url, headers=headers) as response:
                if response.status == 404 and page == 1 and missing_ok:
                    return items
                if response.status != 200:
                    text = await body_excerpt(response)
                    raise RemoteError(f"{self.endpoint.url} answered {response.status} to GET {url}: {text}")
                body = await response.json(content_type=None)
            if not isinstance(body, list):
                raise RemoteError(f"{self.endpoint.url} answered GET {url} with no list: not a Harbor API")
            items.extend(b for b in body if isinstance(b, dict))
            if len(body) < API_PAGE_SIZE:
                break
            page += 1
        return items

    # --- transport -----------------------------------------------------------------------------------------

    def _url(self, path: str) -> URL:
        if path.startswith(("http://", "https://")):
            return URL(path)
        return URL(self.endpoint.url + path)

    async def _send(
        self, method: str, url: URL, headers: Mapping[str, str], data: Body, allow_redirects: bool
    ) -> aiohttp.ClientResponse:
        if self._session is None:
            raise RuntimeError("RemoteRegistry is used outside `async with`")
        where = self.endpoint.url if url.origin() == self._base.origin() else str(url.origin())
        with translated(where, f"{method} {url.path}", self._timeout):
            return await self._session.request(method, url, headers=headers, data=data, allow_redirects=allow_redirects)

    async def _check_base_answer(self, response: aiohttp.ClientResponse) -> None:
        where, status = self.endpoint.url, response.status
        versioned = API_VERSION_HEADER in response.headers
        if status == 404 or response.content_type == "text/html" or (status in (200, 401) and not versioned):
            content_type = response.content_type or "no content type"
            missing = "" if versioned else f", no {API_VERSION_HEADER} header"
            raise RemoteError(f"{where} is not a registry: GET /v2/ answered {status} ({content_type}{missing})")
        if status == 200:
            return
        if status in (401, 403):
            if not self.endpoint.username:
                return
            raise RemoteUnauthorized(f"the credentials were refused by {where} ({status} on GET /v2/)")
        with translated(where, "GET /v2/", self._timeout):
            excerpt = await body_excerpt(response)
        raise RemoteError(f"{where} answered {status} to GET /v2/" + (f": {excerpt}" if excerpt else ""))


async def body_excerpt(response: aiohttp.ClientResponse) -> str:
    """The start of an answer's body as one line: what a message saying what a remote answered quotes."""
    return _one_line((await response.content.read(EXCERPT_BYTES)).decode(errors="replace"))


@contextlib.contextmanager
def translated(where: str, what: str, timeout: float) -> Iterator[None]:
    """aiohttp's and the socket layer's exceptions as RemoteError naming `where` (a URL) and, where it
    helps, `what` was asked ("GET /v2/"): the boundary at which those libraries meet ours."""
    try:
        yield
    except aiohttp.ClientConnectorCertificateError as exc:
        raise RemoteError(f"TLS error talking to {where}: {_certificate_reason(exc.certificate_error)}") from exc
    except aiohttp.ClientSSLError as exc:
        raise RemoteError(f"TLS error talking to {where}: {_ssl_reason(exc.os_error)}") from exc
    except aiohttp.ClientConnectorDNSError as exc:
        raise RemoteError(f"cannot resolve the host of {where}: {_os_reason(exc.os_error)}") from exc
    except aiohttp.ClientConnectorError as exc:
        raise RemoteError(f"cannot connect to {where}: {_os_reason(exc.os_error)}") from exc
    except TimeoutError as exc:  # aiohttp's connect and read timeouts are TimeoutErrors
        raise RemoteError(f"timed out after {timeout:g} s talking to {where} ({what})") from exc
    except ssl.SSLError as exc:
        raise RemoteError(f"TLS error talking to {where}: {_ssl_reason(exc)}") from exc
    except aiohttp.ClientError as exc:
        raise RemoteError(f"error talking to {where} ({what}): {_one_line(str(exc)) or type(exc).__name__}") from exc
    except OSError as exc:
        raise RemoteError(f"error talking to {where} ({what}): {_os_reason(exc)}") from exc


def _ssl_context(endpoint: RemoteEndpoint) -> ssl.SSLContext:
    if endpoint.insecure:
        context = ssl.create_default_context()
        context.check_hostname = False  # before CERT_NONE, which ssl refuses while host names are checked
        context.verify_mode = ssl.CERT_NONE
        return context
    if endpoint.ca_certificate.strip():
        try:
            # cadata alone: the endpoint's CA is trusted instead of the system's, not besides them.
            return ssl.create_default_context(cadata=endpoint.ca_certificate)
        except (ssl.SSLError, ValueError) as exc:
            reason = _ssl_reason(exc) if isinstance(exc, ssl.SSLError) else _one_line(str(exc))
            raise RemoteError(f"the CA certificate does not parse: {reason}") from exc
    return ssl.create_default_context()


def _challenges(response: aiohttp.ClientResponse) -> dict[str, dict[str, str]]:
    """`WWW-Authenticate: Bearer realm="…",service="…",scope="…"` as {"bearer": {"realm": …, …}}."""
    found: dict[str, dict[str, str]] = {}
    for header in response.headers.getall("WWW-Authenticate", ()):
        scheme, _, rest = header.strip().partition(" ")
        params = {k.lower(): quoted or bare for k, quoted, bare in _CHALLENGE_PARAM.findall(rest)}
        found.setdefault(scheme.lower(), params)
    return found


def _scope_key(scope: str) -> str:
    return " ".join(scope.split())


def _certificate_reason(error: BaseException) -> str:
    message = getattr(error, "verify_message", None)
    if isinstance(message, str) and message:
        return f"certificate verify failed: {message}"
    return _ssl_reason(error)


def _ssl_reason(error: BaseException) -> str:
    """`[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)` as `wrong version number`, with a
    hint where the remote answered TLS in plain HTTP."""
    text = error.strerror if isinstance(error, OSError) and isinstance(error.strerror, str) else str(error)
    reason = _SSL_LOCATION.sub("", _SSL_CODE.sub("", _one_line(text))) or type(error).__name__
    if getattr(error, "reason", None) in _PLAIN_HTTP_REASONS:
        reason += " (it seems to speak plain HTTP: try an http:// URL)"
    return reason


def _os_reason(error: OSError) -> str:
    if not isinstance(error, socket.gaierror) and error.errno is not None and error.errno > 0:
        text = os.strerror(error.errno)
    else:
        text = error.strerror or str(error) or type(error).__name__
    text = _one_line(text)
    return text[:1].lower() + text[1:]


def _one_line(text: str) -> str:
    return " ".join(text.split())[:EXCERPT_BYTES]
