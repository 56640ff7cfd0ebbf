"""`python -m services.token`: settings → logging → bind → serve."""

from __future__ import annotations

import sys

from services.common.ldap.directory import DirectoryConfigError
from services.common.logging import configure_logging
from services.common.settings import SettingsError, load_settings
from services.common.web import PortUnavailable, bind_socket, run_service
from services.token.app import create_app


def main() -> None:
    try:
        settings = load_settings()
        configure_logging("token", settings.log)
        app = create_app(settings)
        sock = bind_socket(settings.token.host, settings.token.port, "token.port")
    except (SettingsError, PortUnavailable, DirectoryConfigError, ValueError) as exc:
        print(f"berth token: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    run_service(app, sock)


if __name__ == "__main__":
    main()
