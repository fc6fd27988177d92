"""Institutional measures (制度措施): the rules, mechanisms and projects each sector or
member unit commits to — the second of the two lists."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from uuid import UUID

from eventsourcing.dispatch import singledispatchmethod

from domain.base import Context, ZhibaoAggregate, require, start_of_day
from domain.sectors import require_sector


class MeasureKind(StrEnum):
    REGULATION = "regulation"  # 法规规章
    NORMATIVE_DOCUMENT = "normative_document"  # 规范性文件
    STANDARD = "standard"  # 标准
    WORK_MECHANISM = "work_mechanism"  # 工作机制
    PLAN = "plan"  # 方案/预案
    ENGINEERING = "engineering"  # 工程技术措施


class MeasureStatus(StrEnum):
    PLANNED = "planned"
    IN_PROGRESS = "in_progress"
    DONE = "done"


class Measure(ZhibaoAggregate):
    def __init__(self, unit_code: str) -> None:
        self.unit_code = unit_code
        self.status = MeasureStatus.PLANNED

    class Event(ZhibaoAggregate.Event):
        pass

    @singledispatchmethod
    def when(self, event: Event) -> None:
        """Events that change no state."""

    class MeasurePlanned(ZhibaoAggregate.Created):
        org_id: UUID
        title: str
        kind: MeasureKind
        sector: str | None
        content: str | None
        partners: tuple[str, ...]
        planned_date: date
        related_hazard_ids: tuple[UUID, ...]

    @classmethod
    def plan(cls, ctx: Context, measure_id: UUID, title: str, kind: MeasureKind,
             sector: str | None, content: str | None, partners: tuple[str, ...],
             planned_date: date, related_hazard_ids: tuple[UUID, ...]) -> Measure:
        require(bool(title.strip()), "title", "must not be empty", "INPUT")
        if sector is not None:
            require_sector("sector", sector)
        require(planned_date >= ctx.today, "planned_date",
                f"a planned completion date cannot lie before the planning date {ctx.today}", "V3")
        return cls._start(
            cls.MeasurePlanned, ctx, measure_id, ctx.org.unit_code, ctx.at,
            org_id=ctx.actor.org_id, title=title, kind=kind, sector=sector, content=content,
            partners=tuple(partners), planned_date=planned_date,
            related_hazard_ids=tuple(related_hazard_ids),
        )

    class MeasureIssued(Event):
        doc_no: str
        issued_on: date

    def issue(self, ctx: Context, doc_no: str, issued_on: date) -> None:
        require(self.status is MeasureStatus.PLANNED, "measure_id",
                f"only a planned measure is issued, this one is {self.status}", "LIFECYCLE")
        require(bool(doc_no.strip()), "doc_no", "an issued measure has a document number", "INPUT")
        self._require_owner(ctx)
        self._record(self.MeasureIssued, ctx, start_of_day(issued_on), doc_no=doc_no,
                     issued_on=issued_on)

    @when.register
    def _(self, event: Measure.MeasureIssued) -> None:
        self.status = MeasureStatus.IN_PROGRESS

    class MeasureCompleted(Event):
        completed_on: date
        evidence: str | None

    def complete(self, ctx: Context, completed_on: date, evidence: str | None) -> None:
        require(self.status is not MeasureStatus.DONE, "measure_id", "already completed",
                "LIFECYCLE")
        require(start_of_day(completed_on) <= ctx.recorded_at, "completed_on",
                "cannot lie in the future", "V2")
        self._require_owner(ctx)
        self._record(self.MeasureCompleted, ctx, start_of_day(completed_on),
                     completed_on=completed_on, evidence=evidence)

    @when.register
    def _(self, event: Measure.MeasureCompleted) -> None:
        self.status = MeasureStatus.DONE

    def _require_owner(self, ctx: Context) -> None:
        ctx.require_jurisdiction("measure_id", self.unit_code)
