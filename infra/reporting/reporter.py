"""Submissions as `zhibao report`, the cascade and the daily sweep make them — plain
functions, so tests and the CLI call them without Prefect; `flows.reporting` composes them
into Prefect flows.

A submission is assembled from the views at its cut-off (the moment it is assembled, after
the views caught up), rendered as the printed form (workbook and PDF), recorded as a
ReportSubmitted event — or, when its content differs from the latest version, as a
ReportAmended event with the differences — and then written: canonical JSON (what the
event's SHA-256 covers), .xlsx, .pdf, the SHA-256 of each (`vN.sha256`, as `sha256sum -c`
reads it) and, for an amendment, its differences. A version is never rewritten: when the
content equals the latest version and its files are in place, nothing is written at all.

The cascade assembles the levels bottom-up, each level at its own cut-off, so a town's
submission can include its villages' submissions; a
child with nothing submitted when its deadline has passed is flagged 漏报 in the parent's
report and recorded as missing, never counted as zero (the parent's figures are recomputed
from the events, not summed from the children).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson

from domain import commands as c
from domain.base import DomainError, Level
from domain.periods import Period, PeriodKind
from domain.reports import (
    FigureChange,
    RowChanges,
    period_bounds,
    require_reportable,
    require_submitter,
    submission_id,
)
from infra import files as safe
from infra.audit.bundles import seal_submissions
from infra.collector import collecting_less
from infra.intake.service import Zhibao
from infra.intake.unit_of_work import ZHIBAO, Issuer, authorise
from infra.reporting.forms import FormSettings
from infra.reporting.pdf import font_path
from infra.reporting.render import Job, Renderer
from infra.settings import Settings
from infra.store.log import payloads_many
from projections.report import Assembled, Assembler, Facts, Known, as_number, differences
from projections.runner import CatchUp, Projector
from projections.stats import Window, hazards_sql
from projections.store import ViewStore, views_url_for
from projections.tree import Unit

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


def listed_whole(level: Level, major_only: Collection[Level]) -> bool:
    """Whether a unit's parent lists all of its hazards and measures (one of a level in
    `major_only` lists a few), so that its rows are left for the parent's lists
    (`infra.reporting.render.Shelf`)."""
    above = [parent for parent in Level if parent.rank == level.rank + 1]
    return bool(above) and above[0] not in major_only


def deadlines(period: str, settings: Settings) -> tuple[c.LevelDeadlineIn, ...]:
    """Per level, day N of the month after the period (the last day if the month is
    shorter), N as configured for the period's kind (month, quarter, year)."""
    parsed = Period.parse(period)
    days = {PeriodKind.MONTH: settings.report_deadlines,
            PeriodKind.QUARTER: settings.quarter_deadlines,
            PeriodKind.YEAR: settings.year_deadlines}[parsed.kind]
    return tuple(c.LevelDeadlineIn(level=Level(level), deadline=parsed.deadline(day))
                 for level, day in sorted(days.items()))


def open_period(app: Zhibao, views: ViewStore, period: str) -> None:
    """Record the period with the configured deadlines, unless it is already open."""
    with views.snapshot() as tx:
        if tx.rows("SELECT 1 FROM view_periods WHERE period = ?", (period,)):
            return
    settings = app.settings
    command = c.OpenReportingPeriod(
        command_id=f"open-period/{period}", period=period,
        deadlines=deadlines(period, settings),
        programme_start=settings.programme_start, stock_cutoff=settings.stock_cutoff)
    try:
        app.record(command)
    except DomainError as e:
        if (e.field, e.code) != ("period", "LIFECYCLE"):  # opened meanwhile by another run
            raise


@dataclass(frozen=True, slots=True)
class Submitted:
    """What became of one unit's submission. A cascade holds one for every unit until its
    end (a province's 17,000), so its files are kept as their folder and names, the names
    shared by every unit of the same version: six `Path`s a unit took 1.5 kB."""

    unit_code: str
    unit_name: str
    level: Level
    version: int
    sha256: str
    draft: bool
    late: bool
    unchanged: bool  # the content equals the latest version: nothing recorded
    folder: str
    names: tuple[str, ...]  # of its files in the folder, the JSON first
    missing_children: tuple[str, ...]

    @property
    def files(self) -> tuple[Path, ...]:
        folder = Path(self.folder)
        return tuple(folder / name for name in self.names)

    @property
    def document(self) -> Path:
        """The canonical JSON, what the event's SHA-256 covers."""
        return Path(self.folder, self.names[0])

    def with_file(self, path: Path) -> Submitted:
        """With one more file, written beside the others (its proof bundle)."""
        assert path.parent == Path(self.folder), path
        return replace(self, names=_shared((*self.names, path.name)))


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
        assembler, units = self._assembler(period, draft, lambda a: [a.unit(unit_code)])
        (done,) = self._submit(assembler, units, issuer, draft, self._renderer(1))
        return self._with_bundles(period, [done])[0]

    def cascade(self, period: str, levels: Iterable[Level] = CASCADE_LEVELS,
                progress: Callable[[Submitted], None] | None = None) -> list[Submitted]:
        """Every unit of every level, bottom-up, each level assembled after the one below
        it was recorded. A unit whose submission cannot have changed since its latest
        version (`Assembler.unchanged`) and whose files are in place is skipped without
        being assembled; the facts are counted once, and again only when some were
        recorded meanwhile. A level's units come in code order, so county by county: the
        list rows of one county-level subtree are held while its units are assembled and
        dropped for the next (`Assembler.scope`): the rows held grow with a county, not
        with the province. They are read once for its villages, towns and itself, and kept
        on disk between the levels while the facts stand (`KeptLists`).
        What it records is zhibao's own, so it is recorded through the store's service that
        judges on the unit tree alone (`Zhibao.on_unit_tree`): a cascade never folds the
        persons and enterprises of the directory, which it does not need."""
        as_zhibao = Reporter(self.app.on_unit_tree(), self.views, self.output_dir)
        with collecting_less():
            return as_zhibao._cascade(period, levels, progress)

    def _cascade(self, period: str, levels: Iterable[Level],
                 progress: Callable[[Submitted], None] | None) -> list[Submitted]:
        require_reportable(period, self.app.clock(), draft=False)
        done: list[Submitted] = []
        facts: Facts | None = None
        renderer = self._renderer(os.cpu_count() or 1)
        try:
            catch_up(self.app, self.views)
            renderer.warm(self._first_forms(period))  # (while the period is opened)
            open_period(self.app, self.views, period)
            for level in levels:
                assembler, units = self._assembler(
                    period, False, lambda a, lv=level: a.tree.at_level(lv), facts, renderer)
                facts = assembler.facts or facts
                for submitted in self._submit_level(assembler, units, renderer):
                    done.append(submitted)
                    if progress is not None:
                        progress(submitted)
                facts = facts and facts.without(units)
                del assembler  # and with it the figures of the level done
        finally:
            renderer.close()
        return self._with_bundles(period, done)

    def _first_forms(self, period: str) -> int:
        """The forms the period's first cascade renders — about one for each unit the views
        know (those of other periods too) — if the views show no submission for the
        period; else 0, as a later cascade may render none. Known before the period is
        opened, which folds the unit tree's events (a second on the 1.2M-event store, one
        core idle), so that the render workers start meanwhile."""
        with self.views.snapshot() as tx:
            ((units,),) = tx.rows(
                "SELECT CASE WHEN EXISTS (SELECT 1 FROM view_submissions WHERE period = ?) "
                "THEN 0 ELSE (SELECT COUNT(*) FROM view_units) END", (period,))
        return int(units)

    def _with_bundles(self, period: str, done: list[Submitted]) -> list[Submitted]:
        """Sign a checkpoint over what was recorded and put each submission's proof bundle
        (`vN.bundle.json`, infra/audit/bundles.py) beside its files."""
        bundles = seal_submissions(self.app, [(s.unit_code, period, s.version, s.document)
                                              for s in done])
        return [s.with_file(bundles[s.document]) if s.document in bundles else s
                for s in done]

    def _renderer(self, workers: int) -> Renderer:
        settings = self.app.settings
        return Renderer(FormSettings(settings.form_no, settings.form_authority,
                                     settings.form_approval_no, settings.form_valid_until),
                        font_path(settings.pdf_font), settings.report_workers or workers)

    def _assembler(self, period: str, draft: bool, units: Callable[[Assembler], list[Unit]],
                   reuse: Facts | None = None, renderer: Renderer | None = None
                   ) -> tuple[Assembler, list[Unit]]:
        """The views caught up and read at a cut-off of now; the facts counted (or `reuse`d
        while still valid) only if one of `units` needs assembling — the `renderer`'s
        workers made ready meanwhile for the forms to come."""
        cut_off = self.app.clock()
        catch_up(self.app, self.views)
        with self.views.snapshot() as tx:
            assembler = Assembler(tx, period, cut_off, self.major_only, counted=False)
            chosen = units(assembler)
            needing = sum(self._in_place(assembler, unit, draft) is None for unit in chosen)
            if needing:
                if renderer is not None:
                    renderer.warm(needing)
                assembler.count(tx, reuse, keep_lists=renderer is not None)  # a cascade's
        return assembler, chosen

    def _in_place(self, assembler: Assembler, unit: Unit, draft: bool
                  ) -> tuple[Path, ...] | None:
        """The files of the unit's latest version, if it is still its submission."""
        latest = assembler.latest(unit)
        if latest is None or not assembler.unchanged(unit, draft):
            return None
        return _written(self._folder(assembler.period, unit), version_stem(latest.version, draft),
                        latest.sha256)

    def _folder(self, period: str, unit: Unit) -> Path:
        return submission_folder(self.output_dir, period, unit.code)

    def _submit_level(self, assembler: Assembler, units: Sequence[Unit],
                      renderer: Renderer) -> Iterator[Submitted]:
        """A level's submissions, a chunk at a time; each chunk is assembled while the
        workers render the one before it, so that this process's share of the work (about
        a third) overlaps theirs."""
        waiting: Started | None = None
        for chunk in self._chunks(assembler, units):
            started = Started(chunk, renderer.start(_jobs(chunk)))
            if waiting is not None:
                yield from self._finish(assembler, waiting, ZHIBAO, False)
            waiting = started
        if waiting is not None:
            yield from self._finish(assembler, waiting, ZHIBAO, False)

    def _submit(self, assembler: Assembler, units: Sequence[Unit], issuer: Issuer,
                draft: bool, renderer: Renderer) -> list[Submitted]:
        """Each unit's submission: skipped when its latest version is still it, else
        assembled, rendered (the units together), recorded and written, in that order —
        nothing is recorded for a unit whose files could not be rendered."""
        return self._finish(assembler, self._start(assembler, units, draft, renderer),
                            issuer, draft)

    def _chunks(self, assembler: Assembler, units: Sequence[Unit]
                ) -> Iterator[list[Prepared | Submitted]]:
        """The units assembled (or found unchanged) in turn, cut into chunks of CHUNK units
        or of CHUNK_ROWS list rows, whichever comes first: the documents held at once (two
        chunks') stay within a few thousand rows and the largest document, however many
        counties the level has. The first chunk holds FIRST_CHUNK units, so that the
        workers, idle since the level below ended, start on it sooner."""
        chunk: list[Prepared | Submitted] = []
        rows = 0
        size = FIRST_CHUNK
        for unit in units:
            item = self._prepare(assembler, unit, False)
            chunk.append(item)
            rows += item.rows if isinstance(item, Prepared) else 0
            if len(chunk) == size or rows >= CHUNK_ROWS:
                yield chunk
                chunk, rows, size = [], 0, CHUNK
        if chunk:
            yield chunk

    def _start(self, assembler: Assembler, units: Sequence[Unit], draft: bool,
               renderer: Renderer) -> Started:
        """The units assembled (or found unchanged) and their rendering under way."""
        prepared = [self._prepare(assembler, unit, draft) for unit in units]
        return Started(prepared, renderer.start(_jobs(prepared)))

    def _finish(self, assembler: Assembler, started: Started, issuer: Issuer,
                draft: bool) -> list[Submitted]:
        """Once every file of the units is rendered: their new versions recorded together,
        then each unit's files written."""
        rendered = list(started.rendering)
        prepared = [item for item in started.prepared if isinstance(item, Prepared)]
        versions = self._record(assembler, prepared, issuer, draft)
        late = self._late(assembler.period, prepared, versions)
        completed = iter(zip(prepared, rendered, versions, late, strict=True))
        return [item if isinstance(item, Submitted)
                else self._complete(assembler, *next(completed), draft)
                for item in started.prepared]

    def _late(self, period: str, prepared: list[Prepared], versions: list[int | None]
              ) -> list[bool]:
        """Whether each unit's version was recorded late (迟报, as the domain judged it): a
        new version's read back from its events, all in one query rather than an aggregate
        at a time (a round trip a unit on PostgreSQL); where None, the latest version's."""
        keys = {index: (submission_id(UUID(item.assembled.unit.unit_id), period), version)
                for index, (item, version) in enumerate(zip(prepared, versions, strict=True))
                if version is not None}
        events = payloads_many(self.app.recorder, list(keys.values()))
        return [bool(events[keys[index]]["late"]) if index in keys else _latest(item).late
                for index, item in enumerate(prepared)]

    def _prepare(self, assembler: Assembler, unit: Unit, draft: bool) -> Prepared | Submitted:
        latest = assembler.latest(unit)
        files = self._in_place(assembler, unit, draft)
        if latest is not None and files is not None:  # nothing to assemble or write
            return Submitted(unit.code, unit.name, unit.level, latest.version, latest.sha256,
                             draft, latest.late, True, *_placed(files), ())
        assembler.hold_lists_of(unit, self.views.snapshot)
        assembled = assembler.assemble(unit, draft)
        stem = _stem(latest, assembled, draft)
        folder = self._folder(assembler.period, unit)
        changes = None
        if latest is not None and latest.sha256 != assembled.sha256:
            changes = differences(self._previous(assembled, latest, folder),
                                  assembled.document)
        return Prepared(assembled, latest, stem, folder, changes,
                        listed_whole(unit.level, self.major_only))

    def _complete(self, assembler: Assembler, item: Prepared, rendered: dict[str, bytes],
                  version: int | None, late: bool, draft: bool) -> Submitted:
        """Write the unit's files — of its new `version`, or, when None, of its latest
        version, whose files are restored — and mark its missing children."""
        assembled, latest = item.assembled, item.latest
        files = {".json": assembled.canonical, **rendered}
        unchanged = version is None
        if version is None:
            version = _latest(item).version
        elif item.changes is not None and latest is not None:
            files[".diff.json"] = _diff(item.changes, latest)
        written = write_submission_files(self.output_dir, item.folder, item.stem, files)
        missing = self._mark_missing(assembler.period, assembled)
        unit = assembled.unit
        return Submitted(unit.code, unit.name, unit.level, version, assembled.sha256, draft,
                         late, unchanged, *_placed(written), missing)

    def _record(self, assembler: Assembler, prepared: list[Prepared], issuer: Issuer,
                draft: bool) -> list[int | None]:
        """Record each unit's new version — version 1, or the next with its differences
        from the latest — in one transaction (a commit per submission was a fifth of a
        cascade's time on PostgreSQL); the version each got, None where the content
        equals the latest version's."""
        position = self.views.position()
        commands: list[c.SubmitReport | c.AmendReport] = []
        versions: list[int | None] = []
        for item in prepared:
            assembled, latest = item.assembled, item.latest
            if latest is not None and latest.sha256 == assembled.sha256:
                versions.append(None)
                continue
            content = c.SubmissionContentIn(
                cut_off=assembler.cut_off, view_position=position, sha256=assembled.sha256,
                draft=draft, children=tuple(c.ChildSubmissionIn(**vars(child))
                                            for child in assembled.children))
            fields = {"unit_code": assembled.unit.code, "period": assembler.period,
                      "content": content}
            if latest is None or item.changes is None:
                commands.append(c.SubmitReport(**fields))
                versions.append(1)
                continue
            figures, rows = item.changes
            commands.append(c.AmendReport(
                **fields, changes=tuple(c.FigureChangeIn(**vars(x)) for x in figures),
                rows=tuple(c.RowChangesIn(**vars(x)) for x in rows)))
            versions.append(latest.version + 1)
        self.app.record_all(commands, issuer)
        return versions

    def _previous(self, assembled: Assembled, latest: Known, folder: Path) -> dict[str, Any]:
        """The latest version's document: its JSON file when that still hashes to what
        was recorded, else assembled again from the views at its own cut-off (which must
        hash to it too)."""
        kept = kept_document(folder, latest.version, latest.draft, latest.sha256)
        if kept is not None:
            return kept
        with self.views.snapshot() as tx:
            assembler = Assembler(tx, assembled.document["period"], latest.cut_off,
                                  self.major_only, counted=False)
            assembler.count(tx)
            assembler.read_lists(tx, assembled.unit)
        again = assembler.assemble(assembled.unit, latest.draft)
        if again.sha256 != latest.sha256:
            raise RuntimeError(f"the views no longer reproduce {assembled.unit.code}'s "
                               f"submission {latest.sha256[:12]}…; rebuild them (zhibao "
                               "project --rebuild)")
        return again.document

    def _mark_missing(self, period: str, assembled: Assembled) -> tuple[str, ...]:
        """Record 漏报 for children found missing (once each)."""
        missing = tuple(child.unit_code for child in assembled.children
                        if child.status == "missing")
        if not missing:  # most units: no need to read the views
            return missing
        with self.views.snapshot() as tx:
            marked = {code for (code,) in tx.rows(
                "SELECT unit_code FROM view_missing WHERE period = ?", (period,))}
        for code in missing:
            if code not in marked:
                self.app.record(c.MarkReportMissing(
                    command_id=f"missing/{period}/{code}", unit_code=code, period=period))
        return missing



Changes = tuple[tuple[FigureChange, ...], tuple[RowChanges, ...]]
CHUNK = 64  # units assembled, then rendered together, then recorded and written
FIRST_CHUNK = 8  # the first of a level's chunks (a village's form renders in ~8 ms)
CHUNK_ROWS = 4096  # or fewer, whose hazard and measure lists hold this many rows together


@dataclass(frozen=True)
class Prepared:
    """A unit's submission assembled, its files yet to be rendered."""

    assembled: Assembled
    latest: Known | None
    stem: str  # vN, the version its files are of
    folder: Path
    changes: Changes | None  # from the latest version, if it differs
    shelved: bool  # its rows left for its parent's lists (`listed_whole`)

    @property
    def job(self) -> Job:
        return Job(self.assembled.document,
                   f"{self.stem}; sha256 {self.assembled.sha256} of {self.stem}.json",
                   self.shelved)

    @property
    def rows(self) -> int:
        document = self.assembled.document
        return len(document["hazard_list"]) + len(document["measure_list"])


@dataclass(frozen=True)
class Started:
    """Units assembled, or found unchanged, and their files being rendered."""

    prepared: list[Prepared | Submitted]
    rendering: Iterator[dict[str, bytes]]  # the prepared ones' files, in order


def _latest(item: Prepared) -> Known:
    """The latest version of a unit whose content equals it (so it has one)."""
    assert item.latest is not None
    return item.latest


def _placed(files: tuple[Path, ...]) -> tuple[str, tuple[str, ...]]:
    """The folder of a version's files and their names (`Submitted`'s fields)."""
    return str(files[0].parent), _shared(tuple(path.name for path in files))


@lru_cache(maxsize=256)
def _shared(names: tuple[str, ...]) -> tuple[str, ...]:
    """One tuple for every equal tuple of file names (v1.json, v1.xlsx, …)."""
    return names


def _jobs(prepared: list[Prepared | Submitted]) -> list[Job]:
    """The rendering of the units assembled (the others' files are in place)."""
    return [item.job for item in prepared if isinstance(item, Prepared)]


def _diff(changes: Changes, latest: Known) -> bytes:
    """A correction's differences from the version it supersedes, numbers as numbers."""
    figures, rows = changes
    return orjson.dumps({
        "supersedes_version": latest.version, "supersedes": latest.sha256,
        "figures": [{**vars(x), "old": as_number(x.old), "new": as_number(x.new)}
                    for x in figures],
        "rows": [vars(x) for x in rows]}, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)


def _stem(latest: Known | None, assembled: Assembled, draft: bool) -> str:
    """vN (vN-draft): the version these files are of."""
    version = 1 if latest is None else (
        latest.version if latest.sha256 == assembled.sha256 else latest.version + 1)
    return version_stem(version, draft)


def version_stem(version: int, draft: bool) -> str:
    """The name a version's files share: vN, or vN-draft."""
    return f"v{version}" + ("-draft" if draft else "")


def submission_folder(output_dir: Path, period: str, unit_code: str) -> Path:
    """Where a unit's submissions for a period are written: `reports/<period>/<code>/`."""
    return output_dir / "reports" / period / unit_code


def kept_document(folder: Path, version: int, draft: bool, sha256: str
                  ) -> dict[str, Any] | None:
    """A version's document as its JSON file holds it, if that still hashes to what was
    recorded: a proof of the submitted content that costs no assembling."""
    try:
        kept = (folder / f"{version_stem(version, draft)}.json").read_bytes()
    except FileNotFoundError:
        return None
    if hashlib.sha256(kept).hexdigest() != sha256:
        return None
    return orjson.loads(kept)  # type: ignore[no-any-return]


def _written(folder: Path, stem: str, sha256: str) -> tuple[Path, ...] | None:
    """The files of a version already in place (its checksums name its JSON's SHA-256)."""
    sums = folder / f"{stem}.sha256"
    try:
        lines = sums.read_text().splitlines()
    except FileNotFoundError:
        return None
    if not lines or lines[0] != f"{sha256}  {stem}.json":
        return None
    return (*(folder / line.split("  ", 1)[1] for line in lines), sums)


def write_submission_files(output_dir: Path, folder: Path, stem: str,
                           files: dict[str, bytes]) -> tuple[Path, ...]:
    """Write one version's files — the only place a submission's files are written —
    ending with `<stem>.sha256`, which lists the others' SHA-256 (`sha256sum -c`). Each
    file appears complete or not at all, and no link planted under the output directory
    is followed (infra/files.py)."""
    safe.folder(output_dir, *folder.relative_to(output_dir).parts)
    paths = []
    for suffix, content in files.items():
        path = folder / f"{stem}{suffix}"
        safe.write_over(path, content)
        paths.append(path)
    sums = folder / f"{stem}.sha256"
    safe.write_over(sums, "".join(f"{hashlib.sha256(content).hexdigest()}  {stem}{suffix}\n"
                                  for suffix, content in files.items()).encode())
    return (*paths, sums)


def sweep_overdue(app: Zhibao, views: ViewStore, now: datetime | None = None) -> int:
    """Record HazardBecameOverdue for every hazard the views show overdue today (the
    catalogue's `is_overdue`, evaluated for the running month as of now) and not yet
    recorded for that deadline. The domain records it once per deadline, and
    the command id makes a repeated sweep a no-op, so the sweep may run any number of
    times. Like the cascade's, its commands are zhibao's own, judged on the unit tree
    alone (`Zhibao.on_unit_tree`): the daily sweep never folds the directory's persons and
    enterprises."""
    now = now or app.clock()
    catch_up(app, views)
    settings = app.settings
    window = Window.now(now, settings.programme_start, settings.stock_cutoff)
    with views.snapshot() as tx:
        due = tx.rows(
            f"SELECT hazard_id, deadline_at FROM ({hazards_sql(tx.dialect, ('overdue_for',))}) f "
            "WHERE is_overdue AND (latest_overdue_for IS NULL "
            "OR latest_overdue_for <> deadline_at) ORDER BY hazard_id", window.params())
    return app.on_unit_tree().record_all([c.RecordHazardOverdue(
        command_id=f"overdue/{hazard_id}/{deadline}", occurred_at=now,
        hazard_id=UUID(hazard_id)) for hazard_id, deadline in due])

