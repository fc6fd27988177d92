"""`zhibao flows`: run a Prefect flow once, or serve every deployment on its schedule.

Flows are the outermost layer: nothing imports them. Like a Prefect worker, this command
refers to them by their entrypoints and loads them only when asked to run one.
"""

from __future__ import annotations

import argparse
from typing import Any

from rich.table import Table

from domain.base import DomainError
from infra.cli.common import UserError, check_databases, console, parse_period

FLOWS = {
    "cascade": "flows.reporting:cascade_flow",
    "overdue": "flows.reporting:overdue_flow",
}
SERVE = "flows.deployments:serve"
DEPLOY = "flows.deployments:deploy"


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    flows = subparsers.add_parser("flows", help="scheduled reporting flows (Prefect)")
    commands = flows.add_subparsers(dest="flows_command", required=True, metavar="FLOWS")
    p = commands.add_parser("serve", help="serve every zhibao deployment on its cron schedule "
                                          "(needs a Prefect server: PREFECT_API_URL)")
    p.set_defaults(run=run_serve)
    p = commands.add_parser("deploy", help="register every zhibao deployment with the Prefect "
                                           "server for a process work pool, for `prefect "
                                           "worker start --pool POOL` to run")
    p.add_argument("--pool", default="zhibao", help="the process work pool (default zhibao; "
                                                    "created when missing)")
    p.set_defaults(run=run_deploy)
    p = commands.add_parser("run", help="run a flow once, now (Prefect's ephemeral mode)")
    p.add_argument("flow", choices=sorted(FLOWS))
    p.add_argument("--period", metavar="PERIOD", help="cascade: a month 2021-03, a quarter "
                                                      "2021-Q2 or a year 2021 (default: the "
                                                      "previous month)")
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


def run_deploy(args: argparse.Namespace) -> int:
    try:
        names = _load(DEPLOY)(args.pool)
    except RuntimeError as e:
        raise UserError(str(e)) from None
    console.print(f"{len(names)} deployments on work pool {args.pool}: {', '.join(names)}; "
                  f"run them with `prefect worker start --pool {args.pool}`")
    return 0


def run_flow(args: argparse.Namespace) -> int:
    from infra.settings import get_settings

    settings = get_settings()
    check_databases(settings.database_url, settings.views_url)
    flow = _load(FLOWS[args.flow])
    if args.flow == "overdue":
        console.print(f"{flow()} hazards recorded overdue")
        return 0
    period = parse_period(args.period) if args.period else None
    try:
        rows = flow(period=period)
    except DomainError as e:
        raise UserError(f"rejected — {e.field}: {e.rule}") from None
    console.print(submissions_table(rows))
    return 0


STATUS = {"submitted": "submitted 已报送", "amended": "amended 已更正",
          "unchanged": "unchanged 无变化"}


def submissions_table(rows: list[dict[str, Any]]) -> Table:
    """Each unit's submission as recorded: version, what this run did, 迟报, 漏报 children."""
    table = Table(title="submissions")
    for column in ("unit", "name", "level", "version", "status", "迟报 late", "漏报 missing"):
        table.add_column(column)
    for row in rows:
        missing = row["missing_children"]
        table.add_row(row["unit_code"], row["unit_name"], row["level"], str(row["version"]),
                      STATUS[row["status"]], "[yellow]迟报[/]" if row["late"] else "",
                      f"[yellow]{len(missing)}[/]: {' '.join(missing)}" if missing else "")
    late = sum(row["late"] for row in rows)
    missing_total = sum(len(row["missing_children"]) for row in rows)
    table.caption = (f"{len(rows)} units; {late} 迟报 (late); {missing_total} children 漏报 "
                     "(missing)")
    return table
