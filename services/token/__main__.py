"""`python -m services.token`: settings → logging → bind → serve."""

from __future__ import annotations

from services.common.web import serve
from services.token.app import create_app


def main() -> None:
    serve("token", create_app, lambda s: (s.token.host, s.token.port), "token.port")


if __name__ == "__main__":
    main()
