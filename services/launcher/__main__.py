"""`python -m services.launcher [--config berth.yml] [--verbose]`: the whole stack as local processes."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from services.launcher.launch import build_parser, launch


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return launch(args.config, verbose=args.verbose, packages_only=args.missing_packages)


if __name__ == "__main__":
    sys.exit(main())
