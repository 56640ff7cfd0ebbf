"""A container's HEALTHCHECK: `python -m services.deploy.healthcheck http URL [STATUS...]` or `tcp HOST:PORT`.

The images have no curl; this uses only the standard library and imports nothing of Berth, so it starts in
a few tens of milliseconds every interval. Exit 0: healthy, 1: not (Docker's convention).
"""

from __future__ import annotations

import socket
import sys
import urllib.error
import urllib.request

TIMEOUT_S = 2.0


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # The answer itself is the health signal: the proxy's HTTP port answers 308 to HTTPS when TLS is on.
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def http_ok(url: str, accepted: set[int]) -> bool:
    """An HTTP answer with one of the accepted statuses (any status below 500 when none are listed)."""
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(url, timeout=TIMEOUT_S) as response:
            status = int(response.status)
    except urllib.error.HTTPError as exc:  # 4xx/5xx arrive as exceptions; e.g. the registry's 401 on /v2/
        status = exc.code
    except (OSError, ValueError):
        return False
    return status in accepted if accepted else status < 500


def tcp_ok(address: str) -> bool:
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=TIMEOUT_S):
            return True
    except (OSError, ValueError):
        return False


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "http":
        return 0 if http_ok(argv[1], {int(s) for s in argv[2:]}) else 1
    if len(argv) == 2 and argv[0] == "tcp":
        return 0 if tcp_ok(argv[1]) else 1
    print("usage: python -m services.deploy.healthcheck http URL [STATUS...] | tcp HOST:PORT", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
