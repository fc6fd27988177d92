"""Snapshot datasets of the submissions (一报表两清单, one report form and two lists): every
submission version recorded in an export run — the statistics, the problem-hazard list and
the measure list exactly as submitted — as rows partitioned by `period=` (a month YYYY-MM,
a quarter YYYY-Qn or a year YYYY).

A submission event carries only the document's SHA-256, so the document is its JSON file as
the reporter wrote it, if that hashes to what was recorded, or else assembled again from the
views at the submission's own cut-off (the views are bitemporal), which must hash to it: an
export never publishes figures other than those submitted. Each
version is exported once, in the run whose range holds its event, so the snapshots are as
incremental as the events. A province's lists repeat at every level above the village, far
too many rows to hold at once: the rows are written `SNAPSHOT_ROWS` at a time and when their
period ends, and one assembler (one cut-off) is held at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
from eventsourcing.utils import get_topic

from domain.base import Level
from domain.money import yuan
from domain.reports import ReportSubmission
from infra.export.columns import DICTIONARY, MONEY, TIMESTAMP
from infra.export.manifest import ExportError
from infra.intake.service import Zhibao
from infra.reporting.reporter import catch_up, kept_document, open_views, submission_folder
from infra.store.log import log_range
from infra.store.records import event_payload
from projections.report import Assembler
from projections.store import ViewStore

SUBMISSION_TOPICS = (get_topic(ReportSubmission.ReportSubmitted),
                     get_topic(ReportSubmission.ReportAmended))
VALUE = pa.decimal128(24, 4)
SNAPSHOT_ROWS = 100_000
"""Rows of one dataset and period written as one file."""
Write = Callable[[str, str, pa.Table], None]
"""Writes one file of a dataset (name, period, rows)."""

SUBMISSION_COLUMNS: tuple[tuple[str, pa.DataType], ...] = (
    ("report_unit_code", pa.string()), ("report_unit_name", pa.string()),
    ("report_unit_level", DICTIONARY), ("version", pa.int64()), ("draft", pa.bool_()),
    ("late", pa.bool_()), ("cut_off", TIMESTAMP), ("sha256", pa.string()),
    ("position", pa.int64()),
)
"""Every snapshot row starts with the submission it belongs to."""

DATASETS: dict[str, tuple[tuple[str, pa.DataType], ...]] = {
    "report_statistics": (
        ("code", DICTIONARY), ("name", DICTIONARY), ("name_en", DICTIONARY),
        ("measure", DICTIONARY), ("month", VALUE), ("cumulative", VALUE), ("at_end", VALUE)),
    "hazard_list": (
        ("no", pa.int64()), ("hazard_id", pa.string()), ("unit_code", DICTIONARY),
        ("location", pa.string()), ("sector", DICTIONARY), ("sector_name", DICTIONARY),
        ("enterprise", pa.string()), ("uscc", pa.string()), ("description", pa.string()),
        ("category", DICTIONARY), ("grade", DICTIONARY), ("local_grade", pa.string()),
        ("criteria_ref", pa.string()), ("channel", DICTIONARY), ("discovered_by", pa.string()),
        ("discovered_on", pa.date32()), ("measures", pa.string()),
        ("responsible_org", pa.string()), ("responsible_person", pa.string()),
        ("funds_yuan", MONEY), ("deadline", pa.date32()), ("contingency_plan", pa.string()),
        ("listed", pa.bool_()), ("listing_level", DICTIONARY), ("supervising_org", pa.string()),
        ("state", DICTIONARY), ("progress", pa.string()), ("completed_on", pa.date32()),
        ("verifier", pa.string()), ("verified_on", pa.date32()), ("closed_on", pa.date32()),
        ("overdue", pa.bool_()), ("tag", DICTIONARY)),
    "measure_list": (
        ("no", pa.int64()), ("measure_id", pa.string()), ("title", pa.string()),
        ("kind", DICTIONARY), ("sector", DICTIONARY), ("sector_name", DICTIONARY),
        ("lead_org", pa.string()), ("partners", pa.string()), ("content", pa.string()),
        ("related_hazards", pa.int64()), ("planned_date", pa.date32()),
        ("done_on", pa.date32()), ("doc_no", pa.string()), ("state", DICTIONARY),
        ("remarks", pa.string())),
}
"""Columns beyond the submission's, in the documents' own names — except money: the lists
carry fen (`funds_fen`), the datasets yuan (`funds_yuan`, decimal(18, 2)), and statistics
measured in fen (分) are given in yuan (measure 元). Values are decimal(24, 4): counts,
amounts and percentages (rates) alike."""


@dataclass(frozen=True)
class Submission:
    position: int
    unit_code: str
    period: str
    version: int
    draft: bool
    late: bool
    cut_off: datetime
    sha256: str


def recorded_submissions(app: Zhibao, after: int, through: int) -> list[Submission]:
    """The submission versions recorded at positions after `after` up to `through`."""
    found: list[Submission] = []
    for page in log_range(app.recorder, after, through, topics=SUBMISSION_TOPICS):
        for notification in page:
            p = event_payload(notification.state)
            found.append(Submission(notification.id, p["unit_code"], p["period"], p["version"],
                                    p["draft"], p["late"], datetime.fromisoformat(p["cut_off"]),
                                    p["sha256"]))
    return found


def write_snapshots(app: Zhibao, submissions: list[Submission], write: Write) -> None:
    """Every submission's rows passed to `write` a file at a time per dataset and period.
    ExportError when a document no longer hashes to what was submitted: the caller then
    publishes nothing. The documents come period by period, so a period's rows are written
    when the next period's begin: at most one period's, `SNAPSHOT_ROWS` a dataset, are held."""
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in sorted(DATASETS)}
    period = ""
    for submission, document in _documents(app, submissions):
        if submission.period != period:
            _write_held(rows, period, write)
            period = submission.period
        head = _submission_row(submission, document["unit"])
        for name, items in (("report_statistics", map(_statistic, document["statistics"])),
                            ("hazard_list", map(_money, document["hazard_list"])),
                            ("measure_list", document["measure_list"])):
            held = rows[name]
            held.extend({**head, **item} for item in items)
            if len(held) >= SNAPSHOT_ROWS:
                write(name, period, _table(name, held))
                held.clear()
    _write_held(rows, period, write)


def _write_held(rows: dict[str, list[dict[str, Any]]], period: str, write: Write) -> None:
    for name, held in rows.items():
        if held:
            write(name, period, _table(name, held))
            held.clear()


def _documents(app: Zhibao, submissions: list[Submission]
               ) -> Iterator[tuple[Submission, dict[str, Any]]]:
    """Each submission's document, by period, cut-off and unit code: its JSON file as the reporter
    wrote it when that hashes to the recorded SHA-256 (reading it costs far less than
    assembling), else assembled again from the views."""
    reassembler = _Reassembler(app)
    try:
        for submission in sorted(submissions, key=lambda s: (s.period, s.cut_off,
                                                             s.unit_code, s.position)):
            folder = submission_folder(app.settings.output_dir, submission.period,
                                       submission.unit_code)
            document = kept_document(folder, submission.version, submission.draft,
                                     submission.sha256)
            if document is None:
                document = reassembler.document(submission)
            yield submission, document
    finally:
        reassembler.close()


class _Reassembler:
    """Documents assembled again from the views at their submissions' cut-offs (bitemporal
    views), each required to hash to what was recorded. The views are opened and caught up
    on first use; one assembler, of one period and cut-off, is held at a time, with the
    list rows of one county (`Assembler.scope`): the submissions come in code order."""

    def __init__(self, app: Zhibao) -> None:
        self.app = app
        self.views: ViewStore | None = None
        self.assembler: Assembler | None = None

    def document(self, submission: Submission) -> dict[str, Any]:
        assembler = self._assembler(submission.period, submission.cut_off)
        unit = assembler.unit(submission.unit_code)
        assert self.views is not None
        assembler.hold_lists_of(unit, self.views.snapshot)
        assembled = assembler.assemble(unit, submission.draft)
        if assembled.sha256 != submission.sha256:
            raise ExportError(
                f"the views no longer reproduce {submission.unit_code}'s submission for "
                f"{submission.period} (version {submission.version}, sha256 "
                f"{submission.sha256[:12]}…); nothing was exported — rebuild them with "
                "`zhibao project --rebuild` and check the store with `zhibao audit verify`")
        return assembled.document

    def _assembler(self, period: str, cut_off: datetime) -> Assembler:
        if self.views is None:
            self.views = open_views(self.app)
            catch_up(self.app, self.views)
        if self.assembler is None or (self.assembler.period, self.assembler.cut_off) != (
                period, cut_off):
            self.assembler = None  # its facts freed before the next's are counted
            major_only = tuple(Level(level) for level in self.app.settings.major_only_list_levels)
            with self.views.snapshot() as tx:
                self.assembler = Assembler(tx, period, cut_off, major_only, counted=False)
                self.assembler.count(tx)
        return self.assembler

    def close(self) -> None:
        if self.views is not None:
            self.views.close()


def _submission_row(submission: Submission, unit: dict[str, Any]) -> dict[str, Any]:
    """The columns naming the submission, `unit` as its document names it."""
    return {"report_unit_code": submission.unit_code, "report_unit_name": unit["name"],
            "report_unit_level": unit["level"], "version": submission.version,
            "draft": submission.draft, "late": submission.late, "cut_off": submission.cut_off,
            "sha256": submission.sha256, "position": submission.position}


def _statistic(figure: dict[str, Any]) -> dict[str, Any]:
    in_fen = figure["measure"] == "分"
    values = {column: None if figure.get(column) is None else
              yuan(figure[column]) if in_fen else Decimal(figure[column])
              for column in ("month", "cumulative", "at_end")}
    return {**figure, **values, "measure": "元" if in_fen else figure["measure"]}


def _money(row: dict[str, Any]) -> dict[str, Any]:
    fen = row["funds_fen"]
    return {**{k: v for k, v in row.items() if k != "funds_fen"},
            "funds_yuan": yuan(fen)}


def _table(name: str, rows: list[dict[str, Any]]) -> pa.Table:
    columns = SUBMISSION_COLUMNS + DATASETS[name]
    known = {column for column, _ in columns}
    unknown = {key for row in rows for key in row} - known
    if unknown:
        raise ExportError(f"views dataset {name}: {sorted(unknown)} not in its Parquet schema "
                          "(infra/export/views.py); nothing was exported")
    arrays = []
    for column, arrow_type in columns:
        values = [row.get(column) for row in rows]
        if arrow_type == DICTIONARY:
            arrays.append(pa.array(values, pa.string()).dictionary_encode())
        elif arrow_type == pa.date32():
            arrays.append(pa.array(values, pa.string()).cast(arrow_type))
        else:
            arrays.append(pa.array(values, arrow_type))
    return pa.Table.from_arrays(arrays, names=[column for column, _ in columns])


def markdown_table() -> str:
    """The README's table of the snapshot datasets (a test keeps it current)."""
    head = ", ".join(f"`{name}`" for name, _ in SUBMISSION_COLUMNS)
    lines = ["| dataset | columns (after the submission's: " + head + ") |", "| --- | --- |"]
    for name, columns in DATASETS.items():
        lines.append(f"| `views/{name}` | " + ", ".join(f"`{column}`" for column, _ in columns)
                     + " |")
    return "\n".join(lines) + "\n"
