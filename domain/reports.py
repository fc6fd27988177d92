"""Report submissions (一报表两清单, DOMAIN §4.15, §5.7, §11): the reporting period with its
per-level deadlines, and each unit's submission for a period with its versions.

A submission's content (the statistical table and the two lists) is assembled outside the
domain, from the views, as canonical JSON; the domain records what identifies it — the
SHA-256 of that JSON, the cut-off the views were read at and their position, the child
submissions it includes — and decides what the rules decide: whether the period may be
reported yet (V16), whether the actor may report for the unit, whether it is late (V17),
and that a correction is a new version, never an overwrite.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from uuid import UUID, uuid5

from eventsourcing.dispatch import singledispatchmethod

from domain.base import (
    SHANGHAI,
    Context,
    Level,
    OrgProfile,
    OrgType,
    ZhibaoAggregate,
    require,
)
from domain.periods import Period

REPORT_NAMESPACE = UUID("9a4d3c21-5b7e-4f0a-8c6d-2e1f0a9b8c7d")
_SHA256 = re.compile(r"[0-9a-f]{64}")


def period_bounds(period: str, field: str = "period") -> tuple[datetime, datetime]:
    """The period's first instant and the first instant after it, in Asia/Shanghai."""
    parsed = Period.parse(period, field)
    return parsed.start, parsed.end


def end_of_day(day: date) -> datetime:
    """The instant a deadline "X日前" (on or before day X, inclusive) runs out."""
    return datetime.combine(day + timedelta(days=1), time(), SHANGHAI)


def period_id(period: str) -> UUID:
    return uuid5(REPORT_NAMESPACE, f"period/{period}")


def submission_id(unit_id: UUID, period: str) -> UUID:
    """One submission stream per unit and period; versions are its events."""
    return uuid5(REPORT_NAMESPACE, f"submission/{unit_id}/{period}")


@dataclass(frozen=True)
class LevelDeadline:
    level: Level
    deadline: date  # inclusive


@dataclass(frozen=True)
class ChildSubmission:
    """A child unit's submission as the parent's report includes it (or its absence)."""

    unit_code: str
    status: str  # on_time | late | missing (漏报) | pending (deadline not yet passed)
    version: int | None
    sha256: str | None


@dataclass(frozen=True)
class SubmissionContent:
    """What identifies an assembled submission."""

    cut_off: datetime  # events recorded after this instant are not in it
    view_position: int  # the store position the views had reached
    sha256: str  # of the canonical JSON
    draft: bool
    children: tuple[ChildSubmission, ...]


@dataclass(frozen=True)
class FigureChange:
    """One figure that differs from the previous version (values as their JSON text)."""

    code: str
    column: str
    old: str | None
    new: str | None


@dataclass(frozen=True)
class RowChanges:
    """Rows of one list added, removed or changed since the previous version."""

    list: str
    added: int
    removed: int
    changed: int


class ReportingPeriod(ZhibaoAggregate):
    """A reporting period as the scheduler opened it: which deadlines apply to each level,
    and which units it found missing at their deadline (漏报)."""

    def __init__(self, unit_code: str, period: str, deadlines: tuple[LevelDeadline, ...]) -> None:
        self.unit_code = unit_code
        self.period = period
        self.deadlines = {entry.level: entry.deadline for entry in deadlines}
        self.missing: set[str] = set()

    class Event(ZhibaoAggregate.Event):
        pass

    @singledispatchmethod
    def when(self, event: Event) -> None:
        """Events that change no state."""

    class ReportingPeriodOpened(ZhibaoAggregate.Created):
        period: str
        deadlines: tuple[LevelDeadline, ...]
        programme_start: date
        stock_cutoff: date

    @classmethod
    def open(cls, ctx: Context, period: str, deadlines: tuple[LevelDeadline, ...],
             programme_start: date, stock_cutoff: date) -> ReportingPeriod:
        _, end = period_bounds(period)
        require(len({entry.level for entry in deadlines}) == len(deadlines), "deadlines",
                "one deadline per level", "INPUT")
        for entry in deadlines:
            require(entry.deadline >= end.date(), "deadlines",
                    f"the {entry.level} deadline {entry.deadline} lies inside the period", "V16")
        require(programme_start < end.date(), "programme_start",
                f"{programme_start} is after the period {period}", "V3")
        return cls._start(cls.ReportingPeriodOpened, ctx, period_id(period), "", ctx.at,
                          period=period, deadlines=tuple(deadlines),
                          programme_start=programme_start, stock_cutoff=stock_cutoff)

    def deadline(self, level: Level) -> date | None:
        return self.deadlines.get(level)

    class ReportMarkedMissing(Event):
        period: str
        deadline: date

    def mark_missing(self, ctx: Context, unit_code: str, level: Level) -> None:
        """漏报: recorded once, only after the unit's deadline has run out."""
        deadline = self.deadlines.get(level)
        require(deadline is not None, "unit_code", f"the period sets no deadline for {level}",
                "V16")
        assert deadline is not None
        require(ctx.recorded_at >= end_of_day(deadline), "unit_code",
                f"the {level} deadline {deadline} has not passed yet", "V16")
        require(unit_code not in self.missing, "unit_code",
                f"{unit_code} is already marked missing for {self.period}", "LIFECYCLE")
        self._record(self.ReportMarkedMissing, ctx, unit_code=unit_code, period=self.period,
                     deadline=deadline)

    @when.register
    def _(self, event: ReportingPeriod.ReportMarkedMissing) -> None:
        self.missing.add(event.unit_code)


class ReportSubmission(ZhibaoAggregate):
    """A unit's submission for one period. Version 1 is `ReportSubmitted`; every later
    version is `ReportAmended`, carrying the SHA-256 it supersedes and a summary of the
    differences. Drafts (for a period still running) are versions marked as drafts."""

    def __init__(self, unit_code: str, period: str, sha256: str, late: bool) -> None:
        self.unit_code = unit_code
        self.period = period
        self.sha256 = sha256
        self.late = late
        self.version = 1

    class Event(ZhibaoAggregate.Event):
        pass

    @singledispatchmethod
    def when(self, event: Event) -> None:
        """Events that change no state."""

    class ReportSubmitted(ZhibaoAggregate.Created):
        period: str
        version: int
        draft: bool
        late: bool
        deadline: date | None
        cut_off: datetime
        view_position: int
        sha256: str
        children: tuple[ChildSubmission, ...]

    @classmethod
    def submit(cls, ctx: Context, aggregate_id: UUID, unit_code: str, period: str,
               content: SubmissionContent, deadline: date | None) -> ReportSubmission:
        _check(ctx, unit_code, period, content)
        return cls._start(cls.ReportSubmitted, ctx, aggregate_id, unit_code, ctx.at,
                          period=period, version=1, draft=content.draft,
                          late=_late(ctx, content, deadline), deadline=deadline,
                          cut_off=content.cut_off, view_position=content.view_position,
                          sha256=content.sha256, children=content.children)

    class ReportAmended(Event):
        period: str
        version: int
        supersedes: str
        draft: bool
        late: bool
        deadline: date | None
        cut_off: datetime
        view_position: int
        sha256: str
        children: tuple[ChildSubmission, ...]
        changes: tuple[FigureChange, ...]
        rows: tuple[RowChanges, ...]

    def amend(self, ctx: Context, content: SubmissionContent, deadline: date | None,
              changes: tuple[FigureChange, ...], rows: tuple[RowChanges, ...]) -> None:
        """A correction is the next version with its differences, never an overwrite."""
        _check(ctx, self.unit_code, self.period, content)
        require(content.sha256 != self.sha256, "sha256",
                f"the content equals version {self.version}; nothing to amend", "LIFECYCLE")
        self._record(self.ReportAmended, ctx, period=self.period, version=self.version + 1,
                     supersedes=self.sha256, draft=content.draft,
                     late=_late(ctx, content, deadline), deadline=deadline,
                     cut_off=content.cut_off, view_position=content.view_position,
                     sha256=content.sha256, children=content.children, changes=changes,
                     rows=rows)

    @when.register
    def _(self, event: ReportSubmission.ReportAmended) -> None:
        self.version = event.version
        self.sha256 = event.sha256
        self.late = event.late


def require_submitter(org: OrgProfile, unit_code: str) -> None:
    """V16: a unit's own bodies report for it (zhibao's cascade reports for every unit);
    which of their persons may is the permission matrix's."""
    require(org.org_type is OrgType.SYSTEM or (
        org.org_type is not OrgType.ENTERPRISE and org.unit_code == unit_code),
        "actor", f"an org of {org.unit_code or 'no unit'} cannot submit the report "
                 f"of {unit_code}: each unit submits its own (V16)", "V16")


def require_reportable(period: str, cut_off: datetime, draft: bool) -> None:
    """V16: only a period that has ended is reported; before then only as a draft."""
    _, end = period_bounds(period)
    require(draft or cut_off >= end, "period",
            f"{period} has not ended (it ends {end.isoformat()}); only a draft can be "
            "assembled before then (V16)", "V16")


def _check(ctx: Context, unit_code: str, period: str, content: SubmissionContent) -> None:
    require_submitter(ctx.org, unit_code)
    require_reportable(period, content.cut_off, content.draft)
    require(content.cut_off <= ctx.recorded_at + ctx.clock_skew, "cut_off",
            f"{content.cut_off.isoformat()} is in the future", "V2")
    require(bool(_SHA256.fullmatch(content.sha256)), "sha256",
            "must be 64 lower-case hexadecimal digits", "INPUT")
    require(content.view_position >= 0, "view_position", "must not be negative", "INPUT")


def _late(ctx: Context, content: SubmissionContent, deadline: date | None) -> bool:
    """V17: accepted, but flagged 迟报 when recorded after the (inclusive) deadline."""
    return not content.draft and deadline is not None and ctx.recorded_at >= end_of_day(deadline)
