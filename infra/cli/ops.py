"""`zhibao status`: how far behind each stage is, per county — and, with `--check`, an exit
status cron, systemd or a monitor can alarm on. `zhibao find`: the ids a command needs."""

from __future__ import annotations

import argparse
from typing import Any

from rich.table import Table

from infra.cli.common import check_databases, console, open_app


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    p = subparsers.add_parser("status", help="health and lag of the views, the relay and the "
                                             "county consumers; checkpoint and cascades")
    p.add_argument("--check", action="store_true",
                   help="exit 1 when a stage is stalled (ZHIBAO_STATUS_STALL_SECONDS)")
    p.set_defaults(run=run_status)

    p = subparsers.add_parser("find", help="look up units, orgs, persons and enterprises by "
                                           "name, code, USCC or the start of their id")
    p.add_argument("text", help="part of a name, or the start of a code, USCC or id")
    p.add_argument("--kind", choices=("unit", "org", "person", "enterprise"), action="append",
                   help="only these kinds (repeatable; default all)")
    p.add_argument("--limit", type=int, default=50, help="rows shown (default 50)")
    p.set_defaults(run=run_find)


def run_status(args: argparse.Namespace) -> int:
    from infra.ops.health import Probe
    from infra.settings import get_settings

    settings = get_settings()
    check_databases(settings.database_url, settings.views_url)
    probe = Probe(settings)
    try:
        health = probe.read()
    finally:
        probe.close()
    console.print(stages_table(health))
    console.print(cascades_table(health))
    if health.checkpoint_seconds is None:
        console.print("no signed checkpoint yet")
    else:
        console.print(f"newest checkpoint: {health.checkpoint_size:,} events, "
                      f"{_age(health.checkpoint_seconds)} old")
    stalled = health.stalled
    for stage in stalled:
        console.print(f"[bold red]stalled:[/] {stage.stage} {_county(stage.scope)} — "
                      f"{stage.error or f'{stage.behind:,} events behind, the oldest waiting '}"
                      f"{'' if stage.error else _age(stage.oldest_seconds)}")
    return 1 if args.check and stalled else 0


def run_find(args: argparse.Namespace) -> int:
    from infra.ops.find import KINDS, find

    app = open_app()
    found = find(app.directory, args.text, tuple(args.kind or KINDS))
    table = Table(title=f"{len(found)} found for {args.text!r}"
                  + (f" (first {args.limit})" if len(found) > args.limit else ""))
    for column in ("kind", "id", "code / roles", "name", "in"):
        table.add_column(column, no_wrap=column == "id", overflow="fold")
    for row in found[:args.limit]:
        table.add_row(row.kind, row.id, row.code, row.name, row.where)
    console.print(table)
    return 0 if found else 1


def stages_table(health: Any) -> Table:
    table = Table(title=f"stages (store head {health.head:,})")
    for column in ("stage", "county", "position", "head", "behind", "oldest waiting", ""):
        table.add_column(column, justify="right" if column in ("position", "head", "behind")
                         else "left")
    for stage in health.stages:
        verdict = "[red]stalled[/]" if stage.stalled(health.stall_seconds) else "ok"
        table.add_row(stage.stage, _county(stage.scope),
                      f"{stage.position:,}", f"{stage.head:,}", f"{stage.behind:,}",
                      stage.error or _age(stage.oldest_seconds), verdict)
    return table


def cascades_table(health: Any) -> Table:
    table = Table(title="last cascade per level")
    for column in ("level", "period", "submitted", "迟报 late", "漏报 missing", "at"):
        table.add_column(column)
    for run in health.cascades:
        table.add_row(run.level, run.period, str(run.submitted), str(run.late),
                      str(run.missing), run.at.strftime("%Y-%m-%d %H:%M"))
    return table


def _county(scope: str) -> str:
    from infra.ops.health import ALL_COUNTIES

    return "all" if scope == ALL_COUNTIES else scope


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"
