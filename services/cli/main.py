"""`berth COMMAND …`: parse argv and run one subcommand.

Each subcommand lives in its own module with `register(commands)`, which adds its parser and sets
`run` (a function of the parsed arguments returning the exit status). Adding `prepare` is one module
and one line in `build_parser`.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence

from services.cli import logs, run
from services.proxy import cli as proxy_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="berth", description="Operate a Berth installation.")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    logs.register(commands)
    run.register(commands)
    proxy_cli.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # A shell starts a script's background jobs with SIGINT ignored, and Python then installs no
    # KeyboardInterrupt handler: `berth logs -f &` would outlive Ctrl-C and `kill -INT`. Ctrl-C ends
    # every command here (see below), so it is taken back.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    args = build_parser().parse_args(argv)
    try:
        status: int = args.run(args)
    except BrokenPipeError:
        # The reader went away (`berth logs | head`): that ends the command, it is not a failure. Point
        # stdout at /dev/null so the interpreter's last flush of anything still buffered cannot fail again
        # and print a traceback (the recipe of Python's signal documentation, "Note on SIGPIPE").
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 0
    except KeyboardInterrupt:
        # A command that treats Ctrl-C as its normal end (logs -f) catches it itself; for the others it
        # is an interruption, reported the way shells expect.
        return 130
    return status


if __name__ == "__main__":
    sys.exit(main())
