"""Submissions as `zhibao report`, the monthly cascade and the daily sweep make them — plain
functions, so tests and the CLI call them without Prefect; `flows.reporting` composes them
into Prefect flows.

A submission is assembled from the views at its cut-off (the moment it is assembled, after
the views caught up), recorded as a ReportSubmitted event — or, when its content differs
from the latest version, as a ReportAmended event with the differences — and then written
as canonical JSON and an .xlsx workbook. The cascade assembles the levels bottom-up, each
level at its own cut-off, so a town's submission can include its villages' submissions; a
child with nothing submitted when its deadline has passed is flagged 漏报 in the parent's
report and recorded as missing, never counted as zero (the parent's figures are recomputed
from the events, not summed from the children).
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from uuid import UUID

import orjson

from domain import commands as c
from domain.base import SHANGHAI, DomainError, Level
from domain.enterprises import parse_period
from domain.reports import (
    period_bounds,
    require_reportable,
    require_submitter,
    submission_id,
)
from infra.audit.bundles import seal_submissions
from infra.intake.service import Zhibao
from infra.intake.unit_of_work import ZHIBAO, Issuer, authorise
from projections.fold import micros
from projections.report import Assembled, Assembler, Known, differences
from projections.runner import CatchUp, Projector
from projections.stats import hazards_sql
from projections.store import ViewStore, views_url_for
from projections.tree import Unit
from projections.xlsx import LABELS, write_workbook

CASCADE_LEVELS = (Level.VILLAGE, Level.TOWN, Level.COUNTY, Level.CITY)


def open_views(app: Zhibao) -> ViewStore:
    settings = app.settings
    return ViewStore(settings.views_url or views_url_for(settings.database_url))


def projector(app: Zhibao, views: ViewStore) -> Projector:
    settings = app.settings
    return Projector(app.recorder, views, settings.projection_page_size,
                     database_url=settings.database_url, workers=settings.projection_workers)


def catch_up(app: Zhibao, views: ViewStore) -> CatchUp:
    return projector(app, views).catch_up()


def deadlines(period: str, days: dict[str, int]) -> tuple[c.LevelDeadlineIn, ...]:
    """Per level, day N of the month after the period (the last day if the month is
    shorter)."""
    year, month = parse_period("period", period)
    year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    last = calendar.monthrange(year, month)[1]
    return tuple(c.LevelDeadlineIn(level=Level(level), deadline=date(year, month, min(day, last)))
                 for level, day in sorted(days.items()))


def open_period(app: Zhibao, views: ViewStore, period: str) -> None:
    """Record the period with the configured deadlines, unless it is already open."""
    with views.snapshot() as tx:
        if tx.rows("SELECT 1 FROM view_periods WHERE period = ?", (period,)):
            return
    settings = app.settings
    command = c.OpenReportingPeriod(
        command_id=f"open-period/{period}", period=period,
        deadlines=deadlines(period, settings.report_deadlines),
        programme_start=settings.programme_start, stock_cutoff=settings.stock_cutoff)
    try:
        app.record(command)
    except DomainError as e:
        if "already open" not in e.rule:  # opened meanwhile by another run: fine
            raise


@dataclass(frozen=True)
class Submitted:
    """What became of one unit's submission."""

    unit_code: str
    unit_name: str
    level: Level
    version: int
    sha256: str
    draft: bool
    late: bool
    unchanged: bool  # the content equals the latest version: nothing recorded
    files: tuple[Path, ...]
    missing_children: tuple[str, ...]


class Reporter:
    """Assembles, records and writes submissions for one store and its views."""

    def __init__(self, app: Zhibao, views: ViewStore, output_dir: Path | None = None) -> None:
        self.app = app
        self.views = views
        self.output_dir = output_dir or app.settings.output_dir
        self.major_only = tuple(Level(level) for level in app.settings.major_only_list_levels)

    def report(self, unit_code: str, period: str, issuer: Issuer = ZHIBAO,
               draft: bool = False) -> Submitted:
        """One unit's submission, asked for by `issuer` (a person allowed to submit for
        the unit, or zhibao). Bad input (unknown unit, period not ended, a person who may
        not submit, or not for this unit) is rejected before anything is recorded or
        written."""
        now = self.app.clock()
        _, end = period_bounds(period)
        require_reportable(period, now, draft)
        self.app.refresh_directory()
        self.app.directory.unit("unit_code", unit_code, end.date() - timedelta(days=1))
        _, org, _ = authorise(self.app.directory, issuer, "SubmitReport")
        require_submitter(org, unit_code)
        open_period(self.app, self.views, period)
        assembler = self._assembler(period)
        return self._with_bundles(
            period, [self._submit(assembler, assembler.unit(unit_code), issuer, draft)])[0]

    def cascade(self, period: str, levels: Iterable[Level] = CASCADE_LEVELS,
                progress: Callable[[Submitted], None] | None = None) -> list[Submitted]:
        """Every unit of every level, bottom-up, each level assembled after the one below
        it was recorded."""
        require_reportable(period, self.app.clock(), draft=False)
        open_period(self.app, self.views, period)
        done = []
        for level in levels:
            assembler = self._assembler(period)
            for unit in assembler.tree.at_level(level):
                done.append(self._submit(assembler, unit, ZHIBAO, draft=False))
                if progress is not None:
                    progress(done[-1])
        return self._with_bundles(period, done)

    def _with_bundles(self, period: str, done: list[Submitted]) -> list[Submitted]:
        """Sign a checkpoint over what was recorded and put each submission's proof bundle
        (`vN.bundle.json`, infra/audit/bundles.py) beside its files."""
        bundles = seal_submissions(self.app, [(s.unit_code, period, s.version, s.files[0])
                                              for s in done])
        return [replace(s, files=(*s.files, bundles[s.files[0]])) if s.files[0] in bundles
                else s for s in done]

    def _assembler(self, period: str) -> Assembler:
        cut_off = self.app.clock()
        catch_up(self.app, self.views)
        with self.views.snapshot() as tx:
            return Assembler(tx, period, cut_off, self.major_only)

    def _submit(self, assembler: Assembler, unit: Unit, issuer: Issuer,
                draft: bool) -> Submitted:
        assembled = assembler.assemble(unit, draft)
        latest = assembler.latest(unit)
        unchanged = latest is not None and latest.sha256 == assembled.sha256
        if latest is not None and unchanged:
            version, diff = latest.version, None  # files written again, the same bytes
        else:
            version, diff = self._record(assembler, assembled, latest, issuer, draft)
        files = self._files(assembled, version, draft, diff)
        missing = self._mark_missing(assembler.period, assembled)
        stored = self.app.repository.get(submission_id(UUID(unit.unit_id), assembler.period))
        return Submitted(unit.code, unit.name, unit.level, version, assembled.sha256, draft,
                         stored.late, unchanged, files, missing)

    def _record(self, assembler: Assembler, assembled: Assembled, latest: Known | None,
                issuer: Issuer, draft: bool) -> tuple[int, dict[str, object] | None]:
        """Record version 1, or the next version with its differences from the latest."""
        content = c.SubmissionContentIn(
            cut_off=assembler.cut_off, view_position=self.views.position(),
            sha256=assembled.sha256, draft=draft,
            children=tuple(c.ChildSubmissionIn(**vars(child)) for child in assembled.children))
        fields = {"unit_code": assembled.unit.code, "period": assembler.period,
                  "content": content}
        if latest is None:
            self.app.record(c.SubmitReport(**fields), issuer)
            return 1, None
        previous = self._regenerate(assembled, latest)
        changes, rows = differences(previous, assembled.document)
        self.app.record(c.AmendReport(
            **fields, changes=tuple(c.FigureChangeIn(**vars(x)) for x in changes),
            rows=tuple(c.RowChangesIn(**vars(x)) for x in rows)), issuer)
        return latest.version + 1, {
            "supersedes_version": latest.version, "supersedes": latest.sha256,
            "figures": [vars(x) for x in changes], "rows": [vars(x) for x in rows]}

    def _regenerate(self, assembled: Assembled, latest: Known) -> dict[str, object]:
        """The latest version's document, assembled again from the views at its own
        cut-off; it must hash to what was recorded."""
        with self.views.snapshot() as tx:
            again = Assembler(tx, assembled.document["period"], latest.cut_off,
                              self.major_only).assemble(assembled.unit, latest.draft)
        if again.sha256 != latest.sha256:
            raise RuntimeError(f"the views no longer reproduce {assembled.unit.code}'s "
                               f"submission {latest.sha256[:12]}…; rebuild them (zhibao "
                               "project --rebuild)")
        return again.document

    def _mark_missing(self, period: str, assembled: Assembled) -> tuple[str, ...]:
        """Record 漏报 for children found missing (once each)."""
        missing = tuple(child.unit_code for child in assembled.children
                        if child.status == "missing")
        with self.views.snapshot() as tx:
            marked = {code for (code,) in tx.rows(
                "SELECT unit_code FROM view_missing WHERE period = ?", (period,))}
        for code in missing:
            if code not in marked:
                self.app.record(c.MarkReportMissing(
                    command_id=f"missing/{period}/{code}", unit_code=code, period=period))
        return missing

    def _files(self, assembled: Assembled, version: int, draft: bool,
               diff: dict[str, object] | None = None) -> tuple[Path, ...]:
        document = assembled.document
        folder = self.output_dir / "reports" / str(document["period"]) / assembled.unit.code
        folder.mkdir(parents=True, exist_ok=True)
        stem = f"v{version}" + ("-draft" if draft else "")
        json_path, xlsx_path = folder / f"{stem}.json", folder / f"{stem}.xlsx"
        json_path.write_bytes(assembled.canonical)
        level = LABELS["level"][assembled.unit.level.value]
        write_workbook(
            xlsx_path, document,
            title=f"{assembled.unit.name}（{level}）{document['period']} 一报表两清单"
                  + ("（草稿）" if draft else ""),
            description=f"version {version}; sha256 {assembled.sha256}")
        paths = [json_path, xlsx_path]
        if diff is not None:
            diff_path = folder / f"{stem}.diff.json"
            diff_path.write_bytes(orjson.dumps(diff, option=orjson.OPT_INDENT_2
                                               | orjson.OPT_SORT_KEYS))
            paths.append(diff_path)
        return tuple(paths)


def sweep_overdue(app: Zhibao, views: ViewStore, now: datetime | None = None) -> int:
    """Record HazardBecameOverdue for every hazard the views show open past its deadline
    and not yet recorded for that deadline. The domain records it once per deadline, and
    the command id makes a repeated sweep a no-op, so the sweep may run any number of
    times."""
    now = now or app.clock()
    catch_up(app, views)
    today = now.astimezone(SHANGHAI).date().isoformat()
    at = micros(now)
    params = {"T": at + 1, "C": at, "T0": at, "S": at, "stock_end": at, "first_day": today,
              "last_day": today, "period": ""}
    hazards = hazards_sql(("grade", "deadline", "overdue_for"))
    with views.snapshot() as tx:
        due = tx.rows(
            f"SELECT hazard_id, deadline_at FROM ({hazards}) f WHERE is_overdue AND "
            "(latest_overdue_for IS NULL OR latest_overdue_for <> deadline_at) "
            "ORDER BY hazard_id", params)
    commands = [(n, ZHIBAO, c.RecordHazardOverdue(
        command_id=f"overdue/{hazard_id}/{deadline}", occurred_at=now,
        hazard_id=UUID(hazard_id))) for n, (hazard_id, deadline) in enumerate(due, start=1)]
    recorded = 0
    for result in app.execute_batch(commands, internal=True):
        if result.rejections:
            raise DomainError(result.rejections[0].field, str(result.rejections[0]))
        recorded += result.events
    return recorded
