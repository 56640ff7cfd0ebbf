"""`python -m bench.bare_token <port>`: the token benchmark's baseline.

A bare aiohttp server that answers GET /service/token with a fixed token-shaped JSON body, and nothing
else: no middleware, no database, no password check, no signing, no logging. What the token service
costs on top of aiohttp itself is the difference between the two.
"""

from __future__ import annotations

import json
import sys

from aiohttp import web

# About the size of a real answer (an ES256 JWT with one access entry, twice, plus the two fields).
BODY = json.dumps(
    {"token": "x" * 560, "access_token": "x" * 560, "expires_in": 1800, "issued_at": "2026-01-01T00:00:00Z"}
).encode()


def make_app() -> web.Application:
    headers = {"Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store"}

    async def token(request: web.Request) -> web.StreamResponse:
        return web.Response(status=200, body=BODY, headers=headers)

    app = web.Application()
    app.router.add_get("/service/token", token)
    return app


def main() -> None:
    if len(sys.argv) != 2:
        print("usage: python -m bench.bare_token <port>", file=sys.stderr)
        raise SystemExit(2)
    # Same run_app knobs as services.common.web.run_service, so only the handler differs.
    web.run_app(make_app(), host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None, backlog=1024)


if __name__ == "__main__":
    main()
