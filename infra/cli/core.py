"""Core subcommands: start a store (admin init), apply one command, bulk import, import a
task list, store summary, the demo. Commands are applied as the registered person named by
`--as` or ZHIBAO_ACTOR."""

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
from infra.cli.common import (
    UserError,
    acting_person,
    add_actor_argument,
    console,
    log_details,
    open_app,
    progress_bar,
)
from infra.intake.service import BatchResult


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    p = subparsers.add_parser("demo", help="build a synthetic city-year of events and summarise it")
    p.add_argument("--seed", type=int, default=2021, help="same seed, same city (default 2021)")
    p.add_argument("--scale", type=int, default=1, choices=range(1, 11), metavar="1-10",
                   help="number of Shaanxi's cities: 1 (default) to 10")
    p.add_argument("--shape", choices=("demo", "province"), default="demo",
                   help="units under each city: demo (4 counties × 6 towns × 10 villages, "
                        "~150k events a city) or province (10 × 8 × 20, ~0.8M events a city)")
    p.add_argument("--months", type=int, default=12, choices=range(1, 13), metavar="1-12",
                   help="simulate only the year's first months and cascade the last of them "
                        "(default 12: the whole year)")
    p.add_argument("--fresh", action="store_true",
                   help="replace an existing embedded (SQLite) store and its views")
    p.set_defaults(run=run_demo)

    p = subparsers.add_parser("admin", help="start a store: its top unit, top org and first "
                                            "administrator")
    admin = p.add_subparsers(dest="admin_command", required=True, metavar="ACTION")
    p = admin.add_parser("init", help="on a store without persons: register the top unit, "
                                      "its top org (holding every power) and the first "
                                      "administrator; prints the administrator's person id")
    p.add_argument("--unit", required=True, metavar="CODE", help="the top unit's code, "
                                                                 "e.g. 610000")
    p.add_argument("--unit-name", required=True, help="e.g. 陕西省")
    p.add_argument("--level", default="province", help="the top unit's level (default "
                                                       "province)")
    p.add_argument("--code-system", default="GB2260", help="GB2260 (default), NBS12 or LOCAL")
    p.add_argument("--kind", default="省", help="the unit's kind (default 省)")
    p.add_argument("--org-name", required=True, help="the top org, e.g. 陕西省安全生产委员会办公室")
    p.add_argument("--org-type", default="committee_office",
                   help="government, safety_committee or committee_office (default)")
    p.add_argument("--admin-name", required=True, help="the first administrator's name")
    p.set_defaults(run=run_admin_init)

    p = subparsers.add_parser("command", help="apply one command (JSON) and print the outcome")
    p.add_argument("json", help="the command as JSON, or - to read it from standard input")
    add_actor_argument(p)
    p.set_defaults(run=run_command)

    p = subparsers.add_parser("import", help="apply a JSONL file of commands in batches")
    p.add_argument("file", type=Path)
    p.add_argument("--batch-size", type=int, help="commands per transaction")
    add_actor_argument(p)
    p.set_defaults(run=run_import)

    p = subparsers.add_parser("import-tasks", help="import a task list table (CSV), published "
                                                   "by the acting person's org")
    p.add_argument("file", type=Path)
    add_actor_argument(p)
    p.add_argument("--doc-no", help="document number (default: the Ankang 2021 list)")
    p.add_argument("--title")
    p.add_argument("--issuer")
    p.add_argument("--issued-on", type=date.fromisoformat)
    p.set_defaults(run=run_import_tasks)

    p = subparsers.add_parser("info", help="summarise the event store")
    p.set_defaults(run=run_info)

    p = subparsers.add_parser("db", help="the store's database")
    database = p.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    p = database.add_parser("create", help="create the PostgreSQL database and schema "
                                           "ZHIBAO_DATABASE_URL names (for users allowed to)")
    p.set_defaults(run=run_db_create)


def run_admin_init(args: argparse.Namespace) -> int:
    from uuid import uuid4

    from pydantic import ValidationError

    from domain.commands import Bootstrap

    app = open_app()
    person_id = uuid4()
    try:
        command = Bootstrap(unit_code=args.unit, code_system=args.code_system,
                            level=args.level, kind=args.kind, unit_name=args.unit_name,
                            org_id=uuid4(), org_name=args.org_name, org_type=args.org_type,
                            person_id=person_id, person_name=args.admin_name)
    except ValidationError as e:
        error = e.errors(include_url=False)[0]
        raise UserError(f"{'.'.join(map(str, error['loc']))}: {error['msg']}") from None
    try:
        app.record(command)
    except DomainError as e:
        raise UserError(f"rejected, nothing written — {e}") from None
    console.print(f"{args.unit_name} {args.unit} is the top unit; {args.org_name} holds every "
                  f"power; {args.admin_name} is its administrator. Act as them with:")
    print(f"ZHIBAO_ACTOR={person_id}")
    return 0


def run_command(args: argparse.Namespace) -> int:
    from infra.intake.parsing import command_from_json
    from infra.intake.unit_of_work import ConflictError

    raw = sys.stdin.buffer.read() if args.json == "-" else args.json
    app = open_app()
    issuer = acting_person(app, args)
    try:
        outcome = app.execute(command_from_json(raw, app.settings.max_event_bytes), issuer)
    except DomainError as e:
        raise UserError(f"rejected, nothing written — {e}") from None
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
    issuer = acting_person(app, args)
    started = time.perf_counter()
    total = BatchResult()
    with progress_bar() as progress:
        task = progress.add_task("importing", total=_line_count(args.file))
        for result in import_file(app, args.file, issuer, args.batch_size):
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
        where = f"; details in {log_details(rejection.error)}" if rejection.error else ""
        console.print(f"[yellow]rejected[/] {rejection}{where}")
    console.print(f"{total.applied} commands applied ({total.events} events), "
                  f"{total.duplicates} already applied, {len(total.rejections)} rejected, "
                  f"in {elapsed:.1f} s")
    return 1 if total.rejections else 0


def run_import_tasks(args: argparse.Namespace) -> int:
    from infra.intake.taskcsv import ANKANG_2021, TaskListDocument, task_list_commands

    document = TaskListDocument(
        doc_no=args.doc_no or ANKANG_2021.doc_no, title=args.title or ANKANG_2021.title,
        issuer=args.issuer or ANKANG_2021.issuer, issued_on=args.issued_on or ANKANG_2021.issued_on)
    app = open_app()
    issuer = acting_person(app, args)
    started = time.perf_counter()
    try:
        commands = [(line, issuer, command) for line, command in
                    enumerate(task_list_commands(args.file, document), start=1)]
    except (OSError, ValueError) as e:
        raise UserError(str(e)) from None
    total = BatchResult()
    for result in app.execute_batch(commands):
        total.merge(result)
    return _report(total, time.perf_counter() - started)


def run_info(args: argparse.Namespace) -> int:
    from infra.store.summary import events_by_type

    app = open_app()
    counts = events_by_type(app.recorder)
    _print_counts(f"events in {app.settings.database_url}", counts)
    return 0


def run_db_create(args: argparse.Namespace) -> int:
    from infra.settings import get_settings
    from infra.store.databases import StoreUnavailable, create_database

    settings = get_settings()
    for url in filter(None, (settings.database_url, settings.views_url)):
        try:
            console.print(create_database(url))
        except (StoreUnavailable, ValueError) as e:
            raise UserError(str(e)) from None
    return 0


def run_demo(args: argparse.Namespace) -> int:
    from infra.demo import DemoSpan, build_demo
    from infra.demo.world import SHAPES
    from infra.reporting.pdf import font_path
    from infra.settings import get_settings
    from infra.store.summary import events_by_type, hazards_by_state

    url = get_settings().database_url
    font_path(get_settings().pdf_font)  # before the year is built, not after: the forms need it
    if args.fresh:
        _remove_embedded_store(url)
    app = open_app()
    existing = app.recorder.max_notification_id() or 0
    if existing:
        instead = ("run `zhibao demo --fresh` to replace it, or set ZHIBAO_DATABASE_URL to "
                   "another location" if url.startswith("sqlite:") else
                   "point ZHIBAO_DATABASE_URL at an empty database or schema (…?schema=NAME; "
                   "`zhibao db create` makes it)")
        raise UserError(f"a store with {existing} events already exists at {url}; {instead}")
    _demo_signing_key(app.settings, fresh=args.fresh)
    span = DemoSpan(args.months)
    started = time.perf_counter()
    with progress_bar() as progress:
        task = progress.add_task(f"simulating {args.scale} city-year(s)", total=1.0)
        result = build_demo(app, seed=args.seed, scale=args.scale, until=span.until,
                            shape=SHAPES[args.shape],
                            progress=lambda done: progress.update(task, completed=done))
    elapsed = time.perf_counter() - started
    for rejection in result.totals.rejections[:10]:
        console.print(f"[yellow]rejected[/] {rejection}")
    _print_counts("events by type", events_by_type(app.recorder))
    _print_counts("hazards by state", hazards_by_state(app.recorder, app.mapper))
    console.print(f"{result.commands} commands → {result.events} events in {elapsed:.1f} s "
                  f"({len(result.totals.rejections)} rejected); store: {url}")
    _report_the_last_month(app, span)
    _checkpoint(app)
    _demo_sign_in(app)
    _views_to_the_head(app)
    return 1 if result.totals.rejections else 0


def _views_to_the_head(app: Any) -> None:
    """Fold what the cascade, the checkpoint and the sign-in set-up recorded, so the demo
    ends with current views: `zhibao status` and `/healthz` then report a healthy store."""
    from infra.reporting.reporter import catch_up, open_views

    views = open_views(app)
    try:
        catch_up(app, views)
    finally:
        views.close()


def _demo_sign_in(app: Any) -> None:
    """How to sign in to the demo's workspace (`zhibao serve`): demo passwords, demo store
    only."""
    from infra.http.credentials import Credentials
    from infra.http.demo import demo_accounts
    from infra.intake.service import now_in_shanghai

    app.clock = now_in_shanghai
    credentials = Credentials(app)
    try:
        accounts = demo_accounts(credentials)
    finally:
        credentials.close()
    table = Table(title="demo sign-in (zhibao serve, then http://127.0.0.1:8000/) — demo only")
    for column in ("login", "password", "person", "role"):
        table.add_column(column)
    for account in accounts:
        table.add_row(account.login, account.password, account.name, account.role)
    console.print(table)


def _report_last_month_clock(start: datetime) -> Any:
    """The simulation's clock in early January: the month's submissions are assembled
    then, before the first level's deadline, one second apart."""
    ticks = itertools.count()
    return lambda: start + timedelta(seconds=next(ticks))


def _report_the_last_month(app: Any, span: Any) -> None:
    from infra.reporting.headlines import report_last_month

    started = time.perf_counter()
    app.clock = _report_last_month_clock(span.reporting_starts)
    with console.status(f"projecting the views and cascading {span.period} "
                        "village → town → county → city"):
        paths, rows = report_last_month(app, span.period)
    table = Table(title=f"{span.period} headline figures (一报表)")
    table.add_column("figure")
    table.add_column("value")
    for figure, value in rows:
        table.add_row(figure, value)
    console.print(table)
    console.print(f"submissions for {span.period} in {time.perf_counter() - started:.1f} s; "
                  f"files under {paths[0]}")
    for path in paths[1:]:
        console.print(f"  {path}")


def _checkpoint(app: Any) -> None:
    """Sign a checkpoint of what was just recorded, so tampering with it is detectable from
    now on; without a signing key, say how to make one."""
    from infra.audit.checkpoints import take_checkpoint
    from infra.audit.keys import KeyFileError

    try:
        checkpoint = take_checkpoint(app)
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
                        "point ZHIBAO_DATABASE_URL at an empty database or schema "
                        "(…?schema=NAME; `zhibao db create` makes it)")
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
