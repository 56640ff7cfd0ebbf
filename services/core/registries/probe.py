"""What core asks a remote endpoint, through services.common.remote: does it answer as its type says
(Harbor's IsHealthy, with the reason kept), and which global labels does a Harbor offer to filter by."""

from __future__ import annotations

import structlog

from services.common.remote.client import RemoteEndpoint, RemoteError, RemoteRegistry
from services.core.registries.models import HARBOR

log = structlog.get_logger()

# A health check is one or two small requests; an endpoint slower than this is unhealthy for replication too.
PROBE_TIMEOUT_S = 15.0
# Harbor's adapter reads every page of the remote's global labels; at most this many pages here, so a remote
# that pages forever cannot hold up the info call.
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
        try:
            async with RemoteRegistry(endpoint, timeout=PROBE_TIMEOUT_S) as remote:
                # A Berth shows global labels to any authenticated caller.
                body = await remote.api_pages("/api/v2.0/labels", "&scope=g", max_pages=MAX_LABEL_PAGES)
        except (RemoteError, ValueError) as exc:
            log.warning("registry_labels_unavailable", url=endpoint.url, reason=str(exc))
            return ()
        return tuple(x["name"] for x in body if isinstance(x.get("name"), str))
