"""`python -m services.core`: settings → logging → bind → serve."""

from __future__ import annotations

from services.common.web import serve
from services.core.app import create_app


def main() -> None:
    serve("core", create_app, lambda s: (s.core.host, s.core.port), "core.port")


if __name__ == "__main__":
    main()
