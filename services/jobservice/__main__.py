"""`python -m services.jobservice`: settings → logging → bind the health port → run workers until a signal."""

from __future__ import annotations

import os

from aiohttp import web

from services.common.settings import Settings
from services.common.web import serve
from services.jobservice.app import create_app


def lower_priority(nice: int) -> None:
    """Raises this process's niceness to `nice` (never lowers it: that needs privileges). Here, not in
    create_app: the app is also built inside test processes, whose priority is not the app's to change.
    Before any thread starts: on Linux a thread inherits its creator's niceness, so every worker thread
    (storage deletes run in them) is as nice as the event loop."""
    current = os.getpriority(os.PRIO_PROCESS, 0)
    if nice > current:
        os.setpriority(os.PRIO_PROCESS, 0, nice)


def build(settings: Settings) -> web.Application:
    lower_priority(settings.jobservice.nice)
    return create_app(settings)


def main() -> None:
    serve("jobservice", build, lambda s: (s.jobservice.host, s.jobservice.port), "jobservice.port")


if __name__ == "__main__":
    main()
