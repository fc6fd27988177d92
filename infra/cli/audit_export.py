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
    audit = subparsers.add_parser("audit", help="verify the store, sign checkpoints, prove "
                                                "submissions, replay history")
    commands = audit.add_subparsers(dest="audit_command", required=True, metavar="AUDIT")

    p = commands.add_parser("verify", help="walk the store and report the first broken link")
    p.add_argument("--anchor", action="append", default=[], metavar="CHECKPOINT",
                   help="a checkpoint kept outside the database (a file holding its signed "
                        "note; or, for a store sealed before signed checkpoints, the 64-hex "
                        "chain hash printed then): the store must hold it and extend it")
    p.add_argument("--key", action="append", default=[], metavar="PUBLIC_KEY",
                   help="a trusted public key (or a file of them) besides the configured ones")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(run=run_verify)

    p = commands.add_parser("checkpoint", help="verify, then sign a checkpoint of everything "
                                               "recorded")
    p.set_defaults(run=run_checkpoint)

    p = commands.add_parser("keygen", help="make a signing key file and its public half")
    p.add_argument("--name", required=True,
                   help="the log's name (its checkpoints' origin), e.g. hanbin.ankang.example/"
                        "zhibao; for a witness key, the witness's name")
    p.add_argument("--out", type=Path, default=Path("zhibao-audit.key"),
                   help="where to write the private key (default zhibao-audit.key); the "
                        "public key goes to OUT.pub")
    p.add_argument("--witness", action="store_true",
                   help="a witness's cosigning key (c2sp.org/tlog-cosignature)")
    p.set_defaults(run=run_keygen)

    p = commands.add_parser("prove", help="a proof bundle for a submission (or any event), or "
                                          "a consistency proof between two checkpoints")
    p.add_argument("--unit", metavar="CODE", help="the submitting unit")
    p.add_argument("--period", metavar="YYYY-MM")
    p.add_argument("--version", type=int, help="the submission's version (default: latest)")
    p.add_argument("--position", type=int, help="any event, by its log position")
    p.add_argument("--consistency", metavar="CHECKPOINT",
                   help="prove the newest checkpoint extends this one (a file holding a "
                        "checkpoint kept earlier, or a tree size the store checkpointed)")
    p.add_argument("--checkpoint", type=Path, metavar="FILE",
                   help="prove against this checkpoint of the store (e.g. one a witness "
                        "cosigned) instead of the newest")
    p.add_argument("--out", type=Path, help="write the proof here (default: standard output)")
    p.set_defaults(run=run_prove)

    p = commands.add_parser("check", help="verify a bundle or consistency proof offline, with "
                                          "no database")
    p.add_argument("file", type=Path)
    p.add_argument("--key", action="append", required=True, metavar="PUBLIC_KEY",
                   help="the log's public key (KEY.pub, or its text)")
    p.add_argument("--witness-key", action="append", default=[], metavar="PUBLIC_KEY",
                   help="a witness whose cosignature is required")
    p.add_argument("--document", type=Path,
                   help="the submission's JSON (default: vN.json beside a vN.bundle.json)")
    p.set_defaults(run=run_check)

    p = commands.add_parser("witness", help="as a witness: accept a log's newer checkpoint "
                                            "only if it extends the last one accepted")
    p.add_argument("proof", type=Path, help="a consistency proof (`zhibao audit prove "
                                            "--consistency`) from the last checkpoint accepted")
    p.add_argument("--key", action="append", required=True, metavar="PUBLIC_KEY",
                   help="the watched log's public key")
    p.add_argument("--state", type=Path, required=True,
                   help="the witness's own record of the newest checkpoint per log (JSON)")
    p.add_argument("--cosign", type=Path, metavar="WITNESS_KEY",
                   help="cosign the accepted checkpoint with this key; prints it")
    p.set_defaults(run=run_witness)

    p = commands.add_parser("as-of", help="a unit's submission rebuilt from only the events "
                                          "recorded up to a moment")
    p.add_argument("--known-at", required=True, metavar="TIMESTAMP",
                   help="ISO date-time; without an offset, Asia/Shanghai")
    p.add_argument("--unit", required=True, metavar="CODE")
    p.add_argument("--period", required=True, metavar="PERIOD",
                   help="a month 2021-03, a quarter 2021-Q2 or a year 2021")
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


def _keys(sources: list[str], option: str = "--key") -> tuple[Any, ...]:
    from infra.audit.verifier import ProofError, read_verifier_keys

    try:
        return tuple(key for source in sources for key in read_verifier_keys(source))
    except (ProofError, OSError) as e:
        raise UserError(f"{option}: {e}") from None


def _read_text(path: Path, option: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"{option}: cannot read {path}: {e}") from None


def _anchors(values: list[str]) -> tuple[tuple[Any, ...], str | None]:
    """Checkpoint files given with --anchor, and a legacy 64-hex anchor if one was."""
    from infra.audit.anchors import anchor_from_text
    from infra.audit.verifier import ProofError

    anchors, legacy = [], None
    for value in values:
        if len(value) == 64 and set(value) <= set("0123456789abcdef"):
            legacy = value
            continue
        path = Path(value)
        if not path.is_file():
            raise UserError(f"--anchor: {value!r} is neither a file holding a checkpoint nor "
                            "a legacy anchor (64 lowercase hex digits)")
        try:
            anchors.append(anchor_from_text(str(path), _read_text(path, "--anchor")))
        except ProofError as e:
            raise UserError(f"--anchor: {path}: {e}") from None
    return tuple(anchors), legacy


def run_verify(args: argparse.Namespace) -> int:
    from infra.audit.integrity import describe, verify
    from infra.audit.keys import KeyFileError
    from infra.store.log import last_position

    anchors, legacy = _anchors(args.anchor)
    keys = _keys(args.key)
    app = open_app()
    try:
        with _position_bar("verifying", last_position(app.recorder)) as moved:
            result = verify(app, legacy, progress=moved, anchors=anchors, keys=keys)
    except KeyFileError as e:
        raise UserError(str(e)) from None
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(describe(result), option=orjson.OPT_INDENT_2)
                                + b"\n")
    elif result.ok:
        console.print(f"[green]OK[/] {result.events:,} events, every chain intact; "
                      + _what_was_compared(result))
    else:
        console.print(f"[bold red]BROKEN[/] after {result.events:,} intact events — first "
                      f"broken link: {result.first_break}")
    return 0 if result.ok else 1


def _what_was_compared(result: Any) -> str:
    if not result.checkpoints:
        return ("[yellow]no checkpoints yet: a removed aggregate or cut-off newest events "
                "cannot be detected — run `zhibao audit checkpoint`[/]")
    signed = "signatures checked" if result.signatures_checked else \
        "[yellow]signatures NOT checked (no key: set ZHIBAO_AUDIT_SIGNING_KEY or give --key)[/]"
    outside = (f"; against {len(result.anchors)} checkpoint(s) kept outside: "
               + ", ".join(result.anchors)) if result.anchors else \
        "; [yellow]no checkpoint kept outside the store was found[/]"
    return (f"the Merkle tree of {result.tree_size:,} leaves and {result.checkpoints} "
            f"checkpoint(s) match the log, {signed}{outside}")


def run_checkpoint(args: argparse.Namespace) -> int:
    from infra.audit.checkpoints import TamperedError
    from infra.audit.integrity import verify_then_checkpoint
    from infra.audit.keys import KeyFileError
    from infra.intake.unit_of_work import ConflictError
    from infra.store.log import last_position

    app = open_app()
    try:
        with _position_bar("verifying, then signing", last_position(app.recorder)) as moved:
            _, checkpoint = verify_then_checkpoint(app, progress=moved)
    except (TamperedError, ConflictError, KeyFileError) as e:
        raise UserError(str(e)) from None
    if checkpoint is None:
        console.print("nothing new to sign since the last checkpoint")
        return 0
    console.print(f"checkpoint {checkpoint.number}: the first {checkpoint.size:,} events "
                  f"(through position {checkpoint.through_position:,}) signed; kept outside "
                  "the database too. The signed checkpoint:")
    sys.stdout.write(checkpoint.note)
    return 0


def run_keygen(args: argparse.Namespace) -> int:
    from infra.audit.keys import generate, write_key_files
    from infra.audit.verifier import COSIGNATURE, ED25519

    try:
        signer = generate(args.name, COSIGNATURE if args.witness else ED25519)
        public = write_key_files(signer, args.out)
    except ValueError as e:
        raise UserError(f"--name: {e}") from None
    except FileExistsError:
        raise UserError(f"--out: {args.out} exists; a key is never overwritten (choose "
                        "another path, or move the old key aside)") from None
    except OSError as e:
        raise UserError(f"--out: {e}") from None
    console.print(f"private key: {args.out} (keep it secret, off the database host's "
                  f"backups); public key: {public} — give it to whoever verifies")
    print(signer.public)
    return 0


def run_prove(args: argparse.Namespace) -> int:
    from domain.base import DomainError
    from infra.audit.bundles import ProveError, bundle, consistency, submission_position

    chosen = [name for name in ("unit", "position", "consistency")
              if getattr(args, name) is not None]
    if len(chosen) != 1:
        raise UserError("prove: give one of --unit (with --period), --position or "
                        "--consistency")
    app = open_app()
    checkpoint = _read_text(args.checkpoint, "--checkpoint") if args.checkpoint else None
    try:
        if args.consistency is not None:
            proof = consistency(app, _old_checkpoint(args.consistency))
        else:
            if args.unit is not None and args.period is None:
                raise UserError("--period: needed with --unit")
            position = args.position if args.position is not None else \
                submission_position(app, args.unit, args.period, args.version)
            proof = bundle(app, position, checkpoint)
    except DomainError as e:
        raise UserError(f"{e.field}: {e.rule}") from None
    except ProveError as e:
        raise UserError(str(e)) from None
    if args.out:
        args.out.write_bytes(proof)
        console.print(f"written to {args.out}; check it with `zhibao audit check {args.out} "
                      "--key LOG_KEY.pub`")
    else:
        sys.stdout.buffer.write(proof)
    return 0


def _old_checkpoint(value: str) -> Any:
    from infra.audit.anchors import anchor_from_text
    from infra.audit.verifier import ProofError

    if value.isdigit():
        return int(value)
    try:
        return anchor_from_text(value, _read_text(Path(value), "--consistency"))
    except ProofError as e:
        raise UserError(f"--consistency: {value}: {e}") from None


def run_check(args: argparse.Namespace) -> int:
    from infra.audit.verifier import ProofError, check_file

    keys, witnesses = _keys(args.key), _keys(args.witness_key, "--witness-key")
    data = _read_bytes(args.file, "file")
    document_path = args.document or _beside(args.file)
    document = _read_bytes(document_path, "--document") if document_path else None
    try:
        print(check_file(data, keys, witnesses, document))
    except ProofError as e:
        console.print(f"[bold red]REFUSED[/] {args.file}: {e}")
        return 1
    return 0


def _beside(bundle: Path) -> Path | None:
    """`vN.json` beside a `vN.bundle.json`, if it is there."""
    if not bundle.name.endswith(".bundle.json"):
        return None
    document = bundle.with_name(bundle.name.removesuffix(".bundle.json") + ".json")
    return document if document.is_file() else None


def _read_bytes(path: Path, option: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise UserError(f"{option}: cannot read {path}: {e}") from None


def run_witness(args: argparse.Namespace) -> int:
    from infra.audit.keys import KeyFileError, read_key_file
    from infra.audit.verifier import ProofError
    from infra.audit.witness import FileWitness, ForkDetected

    keys = _keys(args.key)
    cosigner = None
    if args.cosign:
        try:
            signers = read_key_file(args.cosign).signers
        except KeyFileError as e:
            raise UserError(f"--cosign: {e}") from None
        if not signers:
            raise UserError(f"--cosign: {args.cosign} holds no private key")
        cosigner = signers[0]
    witness = FileWitness(args.state, keys, cosigner)
    try:
        accepted = witness.accept_proof(_read_bytes(args.proof, "proof"))
    except ForkDetected as e:
        console.print(f"[bold red]FORK[/] {e}")
        return 1
    except ProofError as e:
        console.print(f"[bold red]REFUSED[/] {args.proof}: {e}")
        return 1
    console.print(f"accepted: {accepted.origin} at {accepted.size:,} leaves")
    sys.stdout.write(accepted.note)
    return 0


def run_as_of(args: argparse.Namespace) -> int:
    from domain.base import DomainError
    from infra.audit.as_of import parse_known_at, recorded_versions, submission_as_of

    if args.out and not args.out.parent.is_dir():
        raise UserError(f"--out: {args.out.parent} is not a directory")
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
