"""`python -m services.core`: settings → logging → bind → serve."""

from __future__ import annotations

import sys

from services.common.logging import configure_logging
from services.common.settings import SettingsError, load_settings
from services.common.web import PortUnavailable, bind_socket, run_service
from services.core.app import create_app


def main() -> None:
    try:
        settings = load_settings()
        configure_logging("core", settings.log)
        sock = bind_socket(settings.core.host, settings.core.port, "core.port")
    except (SettingsError, PortUnavailable, ValueError) as exc:
        print(f"berth core: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    run_service(create_app(settings), sock)


if __name__ == "__main__":
    main()
