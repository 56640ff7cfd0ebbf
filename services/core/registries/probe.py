"""What core asks a remote endpoint, through services.common.remote: does it answer as its type says
(Harbor's IsHealthy, with the reason kept), and which global labels does a Harbor offer to filter by."""

from __future__ import annotations

import structlog

from services.common.remote.client import RemoteEndpoint, RemoteError, RemoteRegistry
from services.core.registries.models import HARBOR

log = structlog.get_logger()

# A health check is one or two small requests; an endpoint slower than this is unhealthy for replication too.
PROBE_TIMEOUT_S = 15.0
# Harbor's adapter reads every page of the remote's global labels; this many a page, and at most
# MAX_LABEL_PAGES of them, so a remote that pages forever cannot hold up the info call.
LABEL_PAGE = 100
MAX_LABEL_PAGES = 50


class RemoteProbe:
    async def health(self, kind: str, endpoint: RemoteEndpoint) -> str | None:
        try:
            async with RemoteRegistry(endpoint, timeout=PROBE_TIMEOUT_S) as remote:
                if kind == HARBOR:
                    await remote.ping_harbor()
                else:
                    await remote.ping()
        except RemoteError as exc:
            return str(exc)
        return None

    async def labels(self, endpoint: RemoteEndpoint) -> tuple[str, ...]:
        names: list[str] = []
        try:
            async with RemoteRegistry(endpoint, timeout=PROBE_TIMEOUT_S) as remote:
                for page in range(1, MAX_LABEL_PAGES + 1):
                    # Harbor's API issues no challenge: Basic credentials go at once (a Berth shows global
                    # labels to any authenticated caller).
                    path = f"/api/v2.0/labels?scope=g&page={page}&page_size={LABEL_PAGE}"
                    async with await remote.request("GET", path, headers=remote.api_headers()) as response:
                        if response.status != 200:
                            log.warning("registry_labels_unavailable", url=endpoint.url, status=response.status)
                            return ()
                        body = await response.json(content_type=None)
                    if not isinstance(body, list):
                        return ()
                    names += (x["name"] for x in body if isinstance(x, dict) and isinstance(x.get("name"), str))
                    if len(body) < LABEL_PAGE:
                        break
        except (RemoteError, ValueError) as exc:
            log.warning("registry_labels_unavailable", url=endpoint.url, reason=str(exc))
            return ()
        return tuple(names)
