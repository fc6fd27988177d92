"""The `zhibao` command line.

Each feature module contributes its subcommands through a `register(subparsers)` function.
Heavy libraries (Prefect, Kafka, Arrow) are imported inside the subcommand that needs them,
so `zhibao --help` stays fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from infra.cli import audit_export, core, flows, kafka, ops, reporting
from infra.cli.common import UserError, console

FEATURES = (core, reporting, flows, audit_export, kafka, ops)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zhibao",
        description="直报 — event-sourced work-safety reporting: record, project, report.",
    )
    parser.add_argument("--database-url", metavar="URL",
                        help="event store and views (overrides ZHIBAO_DATABASE_URL)")
    subparsers = parser.add_subparsers(dest="subcommand", required=True, metavar="COMMAND")
    for feature in FEATURES:
        feature.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.database_url:
        os.environ["ZHIBAO_DATABASE_URL"] = args.database_url
    try:
        return int(args.run(args) or 0)
    except UserError as e:
        console.print(f"[bold red]error:[/] {e}")
        return 2
    except KeyboardInterrupt:
        console.print("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
