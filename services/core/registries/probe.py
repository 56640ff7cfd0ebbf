"""What core asks a remote endpoint, through services.common.remote: does it answer as its type says
(Harbor's IsHealthy, with the reason kept), and which global labels does a Harbor offer to filter by."""

from __future__ import annotations

import aiohttp
import structlog

from services.common.remote.client import RemoteEndpoint, RemoteError, RemoteRegistry
from services.core.registries.models import HARBOR

log = structlog.get_logger()

# A health check is one or two small requests; an endpoint slower than this is unhealthy for replication too.
PROBE_TIMEOUT_S = 15.0
# Harbor's label filter offers what one page of the remote's global labels holds.
LABEL_PAGE = 100


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
        # Harbor's API asks for no challenge-response: global labels are read with Basic credentials sent
        # at once (a Berth shows them to any authenticated caller).
        headers = (
            {"Authorization": aiohttp.BasicAuth(endpoint.username, endpoint.password.reveal()).encode()}
            if endpoint.username
            else {}
        )
        try:
            async with (
                RemoteRegistry(endpoint, timeout=PROBE_TIMEOUT_S) as remote,
                await remote.request(
                    "GET", f"/api/v2.0/labels?scope=g&page_size={LABEL_PAGE}", headers=headers
                ) as response,
            ):
                if response.status != 200:
                    log.warning("registry_labels_unavailable", url=endpoint.url, status=response.status)
                    return ()
                body = await response.json(content_type=None)
        except (RemoteError, ValueError) as exc:
            log.warning("registry_labels_unavailable", url=endpoint.url, reason=str(exc))
            return ()
        if not isinstance(body, list):
            return ()
        return tuple(x["name"] for x in body if isinstance(x, dict) and isinstance(x.get("name"), str))
