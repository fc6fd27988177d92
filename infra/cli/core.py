"""Core subcommands: apply one command, bulk import, import a task list, store summary."""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from rich.table import Table

from domain.base import DomainError
from infra.cli.common import UserError, console, open_app, progress_bar
from infra.intake.service import BatchResult


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    p = subparsers.add_parser("demo", help="build a synthetic city-year of events and summarise it")
    p.add_argument("--seed", type=int, default=2021, help="same seed, same city (default 2021)")
    p.add_argument("--scale", type=int, default=1, choices=[1, 10, 100],
                   help="number of cities: 1 (default), 10 or 100")
    p.add_argument("--fresh", action="store_true",
                   help="replace an existing embedded (SQLite) store and its views")
    p.set_defaults(run=run_demo)

    p = subparsers.add_parser("command", help="apply one command (JSON) and print the outcome")
    p.add_argument("json", help="the command as JSON, or - to read it from standard input")
    p.set_defaults(run=run_command)

    p = subparsers.add_parser("import", help="apply a JSONL file of commands in batches")
    p.add_argument("file", type=Path)
    p.add_argument("--batch-size", type=int, help="commands per transaction")
    p.set_defaults(run=run_import)

    p = subparsers.add_parser("import-tasks", help="import a task list table (CSV)")
    p.add_argument("file", type=Path)
    p.add_argument("--org", required=True, help="id of the org publishing the list")
    p.add_argument("--person", default="importer", help="who performs the import")
    p.add_argument("--doc-no", help="document number (default: the Ankang 2021 list)")
    p.add_argument("--title")
    p.add_argument("--issuer")
    p.add_argument("--issued-on", type=date.fromisoformat)
    p.set_defaults(run=run_import_tasks)

    p = subparsers.add_parser("info", help="summarise the event store")
    p.set_defaults(run=run_info)


def run_command(args: argparse.Namespace) -> int:
    from domain.commands import parse_command
    from infra.intake.unit_of_work import ConflictError

    raw = sys.stdin.buffer.read() if args.json == "-" else args.json.encode()
    try:
        outcome = open_app().execute(parse_command(orjson.loads(raw)))
    except orjson.JSONDecodeError as e:
        raise UserError(f"not valid JSON: {e}") from None
    except DomainError as e:
        raise UserError(f"rejected, nothing written — {e.field}: {e.rule}") from None
    except ConflictError as e:
        raise UserError(str(e)) from None
    sys.stdout.buffer.write(orjson.dumps(outcome, option=orjson.OPT_INDENT_2) + b"\n")
    return 0


def _line_count(path: Path) -> int:
    with path.open("rb") as f:
        return sum(1 for line in f if line.strip())


def run_import(args: argparse.Namespace) -> int:
    from infra.intake.importer import import_file

    if not args.file.is_file():
        raise UserError(f"{args.file}: no such file")
    app = open_app()
    started = time.perf_counter()
    total = BatchResult()
    with progress_bar() as progress:
        task = progress.add_task("importing", total=_line_count(args.file))
        for result in import_file(app, args.file, args.batch_size):
            total.merge(result)
            progress.advance(task, result.applied + result.duplicates + len(result.rejections))
    status = _report(total, time.perf_counter() - started)
    if total.events:
        _checkpoint(app)
    return status


def _report(total: Any, elapsed: float) -> int:
    for warning in total.warnings:
        console.print(f"[cyan]warning[/] {warning}")
    for rejection in total.rejections:
        console.print(f"[yellow]rejected[/] {rejection}")
    console.print(f"{total.applied} commands applied ({total.events} events), "
                  f"{total.duplicates} already applied, {len(total.rejections)} rejected, "
                  f"in {elapsed:.1f} s")
    return 1 if total.rejections else 0


def run_import_tasks(args: argparse.Namespace) -> int:
    from uuid import UUID

    from domain.commands import ActorIn
    from infra.intake.taskcsv import ANKANG_2021, TaskListDocument, task_list_commands

    document = TaskListDocument(
        doc_no=args.doc_no or ANKANG_2021.doc_no, title=args.title or ANKANG_2021.title,
        issuer=args.issuer or ANKANG_2021.issuer, issued_on=args.issued_on or ANKANG_2021.issued_on)
    actor = ActorIn(person_id=args.person, org_id=UUID(args.org), role="importer")
    started = time.perf_counter()
    try:
        commands = list(enumerate(task_list_commands(args.file, document, actor), start=1))
    except (OSError, ValueError) as e:
        raise UserError(str(e)) from None
    total = BatchResult()
    for result in open_app().execute_batch(commands):
        total.merge(result)
    return _report(total, time.perf_counter() - started)


def run_info(args: argparse.Namespace) -> int:
    from infra.store.summary import events_by_type

    app = open_app()
    counts = events_by_type(app.recorder)
    _print_counts(f"events in {app.settings.database_url}", counts)
    return 0


def run_demo(args: argparse.Namespace) -> int:
    from infra.demo import build_demo
    from infra.settings import get_settings
    from infra.store.summary import events_by_type, hazards_by_state

    url = get_settings().database_url
    if args.fresh:
        _remove_embedded_store(url)
    app = open_app()
    existing = app.recorder.max_notification_id() or 0
    if existing:
        raise UserError(f"a store with {existing} events already exists at {url}; "
                        "run `zhibao demo --fresh` to replace it, or set ZHIBAO_DATABASE_URL "
                        "to another location")
    _demo_signing_key(app.settings, fresh=args.fresh)
    started = time.perf_counter()
    with progress_bar() as progress:
        task = progress.add_task(f"simulating {args.scale} city-year(s)", total=1.0)
        result = build_demo(app, seed=args.seed, scale=args.scale,
                            progress=lambda done: progress.update(task, completed=done))
    elapsed = time.perf_counter() - started
    for rejection in result.totals.rejections[:10]:
        console.print(f"[yellow]rejected[/] {rejection}")
    _print_counts("events by type", events_by_type(app.recorder))
    _print_counts("hazards by state", hazards_by_state(app.recorder, app.mapper))
    console.print(f"{result.commands} commands → {result.events} events in {elapsed:.1f} s "
                  f"({len(result.totals.rejections)} rejected); store: {url}")
    _report_the_last_month(app)
    _checkpoint(app)
    return 1 if result.totals.rejections else 0


def _report_last_month_clock(start: datetime) -> Any:
    """The simulation's clock in early January: the month's submissions are assembled
    then, before the first level's deadline, one second apart."""
    ticks = itertools.count()
    return lambda: start + timedelta(seconds=next(ticks))


def _report_the_last_month(app: Any) -> None:
    from infra.demo import REPORTED_PERIOD, REPORTING_STARTS
    from infra.reporting.headlines import report_last_month

    started = time.perf_counter()
    app.clock = _report_last_month_clock(REPORTING_STARTS)
    with console.status(f"projecting the views and cascading {REPORTED_PERIOD} "
                        "village → town → county → city"):
        paths, rows = report_last_month(app, REPORTED_PERIOD)
    table = Table(title=f"{REPORTED_PERIOD} headline figures (一报表)")
    table.add_column("figure")
    table.add_column("value")
    for figure, value in rows:
        table.add_row(figure, value)
    console.print(table)
    console.print(f"submissions for {REPORTED_PERIOD} in {time.perf_counter() - started:.1f} s; "
                  f"files under {paths[0]}")
    for path in paths[1:]:
        console.print(f"  {path}")


def _checkpoint(app: Any) -> None:
    """Sign a checkpoint of what was just recorded, so tampering with it is detectable from
    now on; without a signing key, say how to make one."""
    from infra.audit.checkpoints import take_checkpoint
    from infra.audit.keys import KeyFileError

    try:
        checkpoint = take_checkpoint(app, person="zhibao")
    except KeyFileError as e:
        console.print(f"[yellow]not signed:[/] {e}")
        return
    if checkpoint is not None:
        console.print(f"checkpoint {checkpoint.number} signs the first {checkpoint.size:,} "
                      f"events (root {checkpoint.root_b64}); kept outside the database in "
                      f"{app.settings.output_dir / 'audit'} too")


DEMO_LOG = "demo.zhibao.example/ankang"
"""The demo's log name (checkpoint origin); a real deployment names its own."""


def _demo_signing_key(settings: Any, fresh: bool) -> None:
    """The demo signs its checkpoints: it makes the configured key file when there is none.
    A fresh demo store is a new log, so the checkpoints kept outside for the old one go."""
    from infra.audit.anchors import anchors_path
    from infra.audit.keys import generate, write_key_files

    path = settings.audit_signing_key
    if path is None:
        console.print("[yellow]ZHIBAO_AUDIT_SIGNING_KEY is unset: the demo's checkpoints and "
                      "submissions will not be signed[/]")
        return
    if not path.exists():
        public = write_key_files(generate(DEMO_LOG), path)
        console.print(f"made the demo's signing key {path} (public half {public}); a real "
                      "deployment makes its own with `zhibao audit keygen --name NAME`")
    if fresh:
        anchors_path(settings).unlink(missing_ok=True)


def _remove_embedded_store(url: str) -> None:
    """Delete the SQLite store and its views; a server database is never dropped."""
    from infra.store.databases import eventsourcing_env
    from projections.store import views_url_for

    if not url.startswith("sqlite:"):
        raise UserError("--fresh only replaces the embedded SQLite store; for PostgreSQL "
                        "point ZHIBAO_DATABASE_URL at an empty database or schema")
    for store_url in (url, views_url_for(url)):
        path = Path(eventsourcing_env(store_url)["SQLITE_DBNAME"])
        for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            leftover.unlink(missing_ok=True)


def _print_counts(title: str, counts: Any) -> None:
    table = Table(title=title)
    table.add_column("")
    table.add_column("count", justify="right")
    for name, count in sorted(counts.items(), key=lambda kv: -kv[1]):
        table.add_row(name, f"{count:,}")
    table.add_row("[bold]total", f"[bold]{sum(counts.values()):,}")
    console.print(table)
