"""`prepare`: write the proxy's nginx.conf from berth.yml (`python -m services.proxy prepare`, `berth prepare`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from services.common.settings import SettingsError, load_settings
from services.proxy.prepare import generate_self_signed, prepare_proxy


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "prepare",
        help="render the proxy's nginx.conf from berth.yml",
        description="Check https.certificate/https.private_key, render <data_volume>/proxy/nginx.conf and "
        "print its path.",
    )
    parser.add_argument(
        "--config", metavar="PATH", help="berth.yml (default: $BERTH_CONFIG, ./berth.yml, /etc/berth/berth.yml)"
    )
    parser.add_argument(
        "--self-signed",
        action="store_true",
        help="first write a self-signed certificate for `hostname` to https.certificate and https.private_key "
        "(only when neither file exists yet)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.config)
        if args.self_signed:
            https = settings.https
            if not (https.certificate and https.private_key):
                raise SettingsError(
                    f"{settings.source}: --self-signed writes to 'https.certificate' and 'https.private_key'; "
                    "set both to the paths to create"
                )
            cert, key = Path(https.certificate), Path(https.private_key)
            existing = [p for p in (cert, key) if p.exists()]
            if len(existing) == 1:
                raise SettingsError(
                    f"{settings.source}: --self-signed: {existing[0]} exists but its pair does not; "
                    "remove it or provide both files"
                )
            if not existing:
                try:
                    generate_self_signed(settings.hostname, cert, key)
                except OSError as exc:
                    raise SettingsError(
                        f"{settings.source}: key 'https.certificate': cannot write {exc.filename}: {exc.strerror}"
                    ) from exc
                print(f"generated a self-signed certificate for {settings.hostname}: {cert}", file=sys.stderr)
        files = prepare_proxy(settings)
    except SettingsError as exc:
        print(f"berth prepare: {exc}", file=sys.stderr)
        return 2
    print(files.config)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.proxy", description="The proxy's configuration.")
    register(parser.add_subparsers(title="commands", metavar="COMMAND", required=True))
    args = parser.parse_args(argv)
    status: int = args.run(args)
    return status
