"""`zhibao flows`: run a Prefect flow once, or serve every deployment on its schedule.

Flows are the outermost layer: nothing imports them. Like a Prefect worker, this command
refers to them by their entrypoints and loads them only when asked to run one.
"""

from __future__ import annotations

import argparse
import re
from typing import Any

from rich.table import Table

from domain.base import DomainError
from infra.cli.common import UserError, console

PERIOD = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
FLOWS = {
    "cascade": "flows.reporting:cascade_flow",
    "overdue": "flows.reporting:overdue_flow",
}
SERVE = "flows.deployments:serve"


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    flows = subparsers.add_parser("flows", help="scheduled reporting flows (Prefect)")
    commands = flows.add_subparsers(dest="flows_command", required=True, metavar="FLOWS")
    p = commands.add_parser("serve", help="serve every zhibao deployment on its cron schedule "
                                          "(needs a Prefect server: PREFECT_API_URL)")
    p.set_defaults(run=run_serve)
    p = commands.add_parser("run", help="run a flow once, now (Prefect's ephemeral mode)")
    p.add_argument("flow", choices=sorted(FLOWS))
    p.add_argument("--period", metavar="YYYY-MM", help="cascade: the month (default: the "
                                                       "previous one)")
    p.set_defaults(run=run_flow)


def _load(entrypoint: str) -> Any:
    from prefect.utilities.importtools import import_object

    return import_object(entrypoint)


def run_serve(args: argparse.Namespace) -> int:
    try:
        _load(SERVE)()
    except RuntimeError as e:
        raise UserError(str(e)) from None
    return 0


def run_flow(args: argparse.Namespace) -> int:
    flow = _load(FLOWS[args.flow])
    if args.flow == "overdue":
        console.print(f"{flow()} hazards recorded overdue")
        return 0
    if args.period and not PERIOD.fullmatch(args.period):
        raise UserError(f"period: {args.period!r} is not a month written YYYY-MM")
    try:
        rows = flow(period=args.period)
    except DomainError as e:
        raise UserError(f"rejected — {e.field}: {e.rule}") from None
    table = Table(title="submissions")
    for column in ("unit", "level", "version", "status"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["unit_code"], row["level"], str(row["version"]), row["status"])
    console.print(table)
    return 0
