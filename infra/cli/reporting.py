"""Subcommands for views and submissions: `zhibao project`, `zhibao report`.

The reporting machinery (XlsxWriter, ReportLab) is imported inside the commands that need
it, so `zhibao --help` stays fast.
"""

from __future__ import annotations

import argparse
import threading
import time
from typing import Any

from domain.base import DomainError
from infra.cli.common import (
    UserError,
    acting_person,
    add_actor_argument,
    console,
    open_app,
    parse_period,
    progress_bar,
)


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    p = subparsers.add_parser("project", help="bring the views up to date with the store")
    p.add_argument("--rebuild", action="store_true", help="forget the views and fold every "
                                                          "event again from the first")
    p.add_argument("--follow", action="store_true", help="keep folding new events until "
                                                         "interrupted")
    p.set_defaults(run=run_project)

    p = subparsers.add_parser("report", help="assemble, record and write a unit's submission "
                                             "(一报表两清单) for a month, quarter or year")
    p.add_argument("--unit", required=True, metavar="CODE", help="the reporting unit's code")
    p.add_argument("--period", required=True, metavar="PERIOD",
                   help="a month 2021-03, a quarter 2021-Q2 or a year 2021")
    p.add_argument("--draft", action="store_true",
                   help="allowed before the period has ended; marked as a draft")
    add_actor_argument(p)
    p.set_defaults(run=run_report)


def run_project(args: argparse.Namespace) -> int:
    from infra.reporting.reporter import open_views, projector

    app = open_app()
    views = open_views(app)
    runner = projector(app, views)
    started = time.perf_counter()
    with progress_bar() as progress:
        task = progress.add_task("rebuilding views" if args.rebuild else "catching up",
                                 total=None)

        def advance(position: int, head: int) -> None:
            progress.update(task, completed=position, total=head)

        done = runner.rebuild(advance) if args.rebuild else runner.catch_up(advance)
    _say_done(done, time.perf_counter() - started)
    if args.follow:
        stop = threading.Event()
        console.print(f"following {app.settings.database_url} (Ctrl-C to stop)")
        try:
            runner.follow(stop, app.settings.projection_poll_seconds,
                             on_batch=lambda d: _say_done(d, None))
        except KeyboardInterrupt:
            stop.set()
    return 0


def _say_done(done: Any, elapsed: float | None) -> None:
    took = f" in {elapsed:.1f} s" if elapsed is not None else ""
    console.print(f"views at position {done.position}: {done.applied.folded} events "
                  f"folded{took}")
    for event_type, count in sorted(done.applied.unknown.items()):
        console.print(f"[yellow]skipped[/] {count} events of unknown type {event_type}")


def run_report(args: argparse.Namespace) -> int:
    from infra.reporting.reporter import Reporter, open_views

    period = parse_period(args.period)
    app = open_app()
    issuer = acting_person(app, args)
    try:
        done = Reporter(app, open_views(app)).report(args.unit, period, issuer, args.draft)
    except DomainError as e:
        raise UserError(f"rejected, nothing written — {e}") from None
    state = "unchanged" if done.unchanged else ("draft" if done.draft else "submitted")
    late = " [yellow](迟报 late)[/]" if done.late else ""
    console.print(f"{done.unit_name} {done.unit_code} {period}: version {done.version} "
                  f"{state}{late}, sha256 {done.sha256}")
    for code in done.missing_children:
        console.print(f"[yellow]漏报 missing[/]: {code} has not submitted")
    for path in done.files:
        print(path)
    return 0

