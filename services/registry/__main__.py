"""`python -m services.registry`: settings → logging → bind → serve."""

from __future__ import annotations

from services.common.web import serve
from services.registry.app import create_app


def main() -> None:
    serve("registry", create_app, lambda s: (s.registry.host, s.registry.port), "registry.port")


if __name__ == "__main__":
    main()
