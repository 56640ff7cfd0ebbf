"""`python -m services.proxy prepare [--config berth.yml] [--self-signed]`."""

from __future__ import annotations

import sys

from services.proxy.cli import main

if __name__ == "__main__":
    sys.exit(main())
