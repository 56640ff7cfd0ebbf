"""`python -m bench.bare_manifest <port> <file> [content-type]`: the manifest GET baseline.

A bare aiohttp server that answers every GET/HEAD under /v2/ with the bytes of <file>, the given content
type and the digest header, and nothing else: no middleware, no database, no logging. What the registry's
manifest handler costs on top of aiohttp itself is the difference between the two.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

from aiohttp import web

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def make_app(content: bytes, content_type: str) -> web.Application:
    digest = f"sha256:{hashlib.sha256(content).hexdigest()}"
    headers = {"Docker-Content-Digest": digest, "ETag": f'"{digest}"', "Content-Type": content_type}

    async def manifest(request: web.Request) -> web.StreamResponse:
        return web.Response(status=200, body=content, headers=headers)

    app = web.Application()
    app.router.add_route("GET", "/v2/{tail:.*}", manifest)
    return app


def main() -> None:
    if len(sys.argv) not in (3, 4):
        print("usage: python -m bench.bare_manifest <port> <file> [content-type]", file=sys.stderr)
        raise SystemExit(2)
    port, content = int(sys.argv[1]), Path(sys.argv[2]).read_bytes()
    content_type = sys.argv[3] if len(sys.argv) == 4 else OCI_MANIFEST
    # Same run_app knobs as services.common.web.run_service, so only the handler differs.
    web.run_app(make_app(content, content_type), host="127.0.0.1", port=port, print=None, access_log=None, backlog=1024)


if __name__ == "__main__":
    main()
