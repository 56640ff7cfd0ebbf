"""`berth run [--config berth.yml] [--verbose]`: the whole stack in the foreground (what `make run` execs)."""

from __future__ import annotations

import argparse

from services.launcher.launch import add_arguments, launch


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "run",
        help="start every service as a local process under a supervisor (Ctrl-C stops them)",
        description="Check berth.yml and every port, start PostgreSQL and Redis when none answers, then the "
        "log collector, token, core, registry, jobservice and nginx; restart what crashes.",
    )
    add_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return launch(args.config, verbose=args.verbose, packages_only=args.missing_packages)
