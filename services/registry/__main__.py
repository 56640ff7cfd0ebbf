"""`python -m services.registry`: settings → logging → bind → serve."""

from __future__ import annotations

import sys

from services.common.logging import configure_logging
from services.common.settings import SettingsError, load_settings
from services.common.web import PortUnavailable, bind_socket, run_service
from services.registry.app import create_app


def main() -> None:
    try:
        settings = load_settings()
        configure_logging("registry", settings.log)
        sock = bind_socket(settings.registry.host, settings.registry.port, "registry.port")
    except (SettingsError, PortUnavailable, ValueError) as exc:
        print(f"berth registry: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    run_service(create_app(settings), sock)


if __name__ == "__main__":
    main()
