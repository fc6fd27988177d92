"""Subcommands for auditors and warehouses: `zhibao audit …` (verify, checkpoint) and
`zhibao export parquet DIR`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from infra.cli.common import UserError, console, open_app


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    register_audit(subparsers)
    register_export(subparsers)


def register_audit(subparsers: argparse._SubParsersAction[Any]) -> None:
    audit = subparsers.add_parser("audit", help="verify the store, seal it, replay history")
    commands = audit.add_subparsers(dest="audit_command", required=True, metavar="AUDIT")

    p = commands.add_parser("verify", help="walk the store and report the first broken link")
    p.add_argument("--anchor", metavar="HASH",
                   help="a checkpoint's chain hash kept outside the database: it must exist")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(run=run_verify)

    p = commands.add_parser("checkpoint", help="seal everything recorded since the last one")
    p.set_defaults(run=run_checkpoint)

    p = commands.add_parser("as-of", help="a unit's submission rebuilt from only the events "
                                          "recorded up to a moment")
    p.add_argument("--known-at", required=True, metavar="TIMESTAMP",
                   help="ISO date-time; without an offset, Asia/Shanghai")
    p.add_argument("--unit", required=True, metavar="CODE")
    p.add_argument("--period", required=True, metavar="YYYY-MM")
    p.add_argument("--out", type=Path, help="write the canonical JSON here (default: stdout)")
    p.set_defaults(run=run_as_of)

    p = commands.add_parser("history", help="a hazard's timeline: who did what, when (both "
                                            "clocks)")
    p.add_argument("hazard_id")
    p.add_argument("--json", action="store_true", help="print the timeline as JSON")
    p.set_defaults(run=run_history)


@contextmanager
def _position_bar(description: str, total: int) -> Iterator[Callable[[int], None]]:
    """A progress bar over log positions; yields the callback that moves it."""
    with Progress(TextColumn("{task.description}"), BarColumn(),
                  TextColumn("position {task.completed:,.0f} of {task.total:,.0f}"),
                  TimeElapsedColumn(), console=console) as progress:
        task = progress.add_task(description, total=total)
        yield lambda position: progress.update(task, completed=position)


def run_verify(args: argparse.Namespace) -> int:
    from infra.audit.seal import describe, verify
    from infra.store.log import last_position

    anchor = args.anchor
    if anchor is not None and (len(anchor) != 64 or not set(anchor) <= set("0123456789abcdef")):
        raise UserError(f"--anchor: {anchor!r} is not a SHA-256 hash (64 lowercase hex digits)")
    app = open_app()
    with _position_bar("verifying", last_position(app.recorder)) as moved:
        result = verify(app, anchor, progress=moved)
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(describe(result), option=orjson.OPT_INDENT_2)
                                + b"\n")
    elif result.ok:
        sealed = (f"positions up to {result.sealed_through:,} also against "
                  f"{result.checkpoints} checkpoint(s)" if result.checkpoints else
                  "[yellow]no checkpoints yet: a removed aggregate or cut-off newest events "
                  "cannot be detected — run `zhibao audit checkpoint`[/]")
        console.print(f"[green]OK[/] {result.events:,} events, every chain intact; {sealed}")
    else:
        console.print(f"[bold red]BROKEN[/] after {result.events:,} intact events — first "
                      f"broken link: {result.first_break}")
    return 0 if result.ok else 1


def run_checkpoint(args: argparse.Namespace) -> int:
    from infra.audit.seal import TamperedError, take_checkpoint
    from infra.intake.unit_of_work import ConflictError
    from infra.store.log import last_position

    app = open_app()
    try:
        with _position_bar("sealing", last_position(app.recorder)) as moved:
            checkpoint = take_checkpoint(app, progress=moved)
    except (TamperedError, ConflictError) as e:
        raise UserError(str(e)) from None
    if checkpoint is None:
        console.print("nothing new to seal since the last checkpoint")
        return 0
    console.print(f"checkpoint {checkpoint.number}: sealed {checkpoint.events:,} events through "
                  f"position {checkpoint.through_position:,} in {checkpoint.blocks} block(s)")
    console.print("anchor (keep it outside the database; `zhibao audit verify --anchor` checks "
                  "it):")
    print(checkpoint.anchor)
    return 0


def run_as_of(args: argparse.Namespace) -> int:
    from domain.base import DomainError
    from infra.audit.as_of import parse_known_at, recorded_versions, submission_as_of

    app = open_app()
    try:
        known_at = parse_known_at(args.known_at)
        with console.status(f"replaying the events recorded up to {known_at.isoformat()}"):
            assembled = submission_as_of(app, known_at, args.unit, args.period)
    except DomainError as e:
        raise UserError(f"{e.field}: {e.rule}") from None
    if args.out:
        args.out.write_bytes(assembled.canonical)
    else:
        sys.stdout.buffer.write(assembled.canonical + b"\n")
    console.print(f"{assembled.unit.name} {args.unit} {args.period} as known at "
                  f"{known_at.isoformat()}: sha256 {assembled.sha256}")
    for version in recorded_versions(app, args.unit, args.period):
        same = "[green]the same document[/]" if version.sha256 == assembled.sha256 else \
            "a different document"
        console.print(f"  recorded version {version.version} (cut-off "
                      f"{version.cut_off.isoformat()}, sha256 {version.sha256[:12]}…): {same}")
    return 0


def run_history(args: argparse.Namespace) -> int:
    from domain.base import DomainError
    from infra.audit.history import hazard_history, parse_hazard_id

    app = open_app()
    try:
        steps = hazard_history(app, parse_hazard_id(args.hazard_id))
    except DomainError as e:
        raise UserError(f"{e.field}: {e.rule}") from None
    if args.json:
        sys.stdout.buffer.write(orjson.dumps([step.as_json() for step in steps],
                                             option=orjson.OPT_INDENT_2) + b"\n")
        return 0
    table = Table(title=f"hazard {args.hazard_id}", show_lines=True)
    for column in ("#", "happened (business time)", "recorded (system time)", "event"):
        table.add_column(column, no_wrap=True)
    for column in ("who", "where", "details"):
        table.add_column(column)
    for step in steps:
        details = "; ".join(f"{key}={_brief(value)}" for key, value in step.details.items())
        table.add_row(str(step.version), f"{step.occurred_at:%Y-%m-%d %H:%M}",
                      f"{step.recorded_at:%Y-%m-%d %H:%M:%S}", step.event_type,
                      f"{step.person_name} · {step.org_name} · {step.role}",
                      f"{step.unit_name} {step.unit_code}", details)
    Console().print(table)  # the timeline is the output: standard output
    return 0


def _brief(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={v}" for k, v in value.items() if v is not None) + "}"
    return str(value)


def register_export(subparsers: argparse._SubParsersAction[Any]) -> None:
    export = subparsers.add_parser("export", help="export the events for data warehouses")
    formats = export.add_subparsers(dest="export_format", required=True, metavar="FORMAT")
    p = formats.add_parser("parquet", help="incremental, hive-partitioned Parquet datasets")
    p.add_argument("directory", type=Path, nargs="?",
                   help="export directory (default: ZHIBAO_OUTPUT_DIR/parquet)")
    p.set_defaults(run=run_export_parquet)


def run_export_parquet(args: argparse.Namespace) -> int:
    from infra.export.manifest import ExportError
    from infra.export.parquet import export_parquet
    from infra.store.log import last_position

    app = open_app()
    directory = args.directory or app.settings.output_dir / "parquet"
    try:
        with _position_bar("exporting", last_position(app.recorder)) as moved:
            result = export_parquet(app, directory, progress=moved)
    except ExportError as e:
        raise UserError(str(e)) from None
    if not result.events:
        console.print(f"nothing new since position {result.after:,}; {directory} is current")
        return 0
    rows = sum(entry.rows for entry in result.files)
    datasets = len({entry.dataset for entry in result.files})
    console.print(f"run {result.run}: positions {result.after + 1:,}–{result.through:,}, "
                  f"{rows:,} rows in {len(result.files):,} files of {datasets} datasets → "
                  f"{directory}")
    return 0
