"""`python -m services.jobservice`: settings → logging → bind the health port → run workers until a signal."""

from __future__ import annotations

from services.common.web import serve
from services.jobservice.app import create_app


def main() -> None:
    serve("jobservice", create_app, lambda s: (s.jobservice.host, s.jobservice.port), "jobservice.port")


if __name__ == "__main__":
    main()
