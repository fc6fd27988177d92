"""Work tasks (工作任务) from published task lists such as Ankang's 2021 list, with progress
(完成进展) and completion per responsible unit."""

from __future__ import annotations

import calendar
import re
from datetime import date
from uuid import UUID

from eventsourcing.dispatch import singledispatchmethod

from domain.base import Context, DomainError, ZhibaoAggregate, require, start_of_day

_MONTH_DAY = re.compile(r"(?:(\d{4})年)?(\d{1,2})月(\d{1,2})日(?:前|之前|以前)?")
_MONTH_END = re.compile(r"(?:(\d{4})年)?(\d{1,2})月(?:底|末)(?:前)?")
_ONGOING = ("长期", "持续", "常态", "全年")
_YEAR_END = ("年底", "年末", "年内", "下半年")
_QUARTERS = {"一季度": 3, "二季度": 6, "三季度": 9, "四季度": 12, "上半年": 6}


def parse_chinese_deadline(text: str, year: int) -> date | None:
    """Read a deadline written the way notices write it, in the list's year (V27).

    "1月20日前" is inclusive: due on or before 20 January. "3月底前" is the month's last day.
    Ongoing duties ("长期坚持") have no deadline and return None.
    """
    cleaned = re.sub(r"\s", "", text)
    if match := _MONTH_DAY.fullmatch(cleaned):
        return _make_date(text, int(match[1] or year), int(match[2]), int(match[3]))
    if match := _MONTH_END.fullmatch(cleaned):
        y, m = int(match[1] or year), int(match[2])
        return _make_date(text, y, m, calendar.monthrange(y, m)[1] if 1 <= m <= 12 else 0)
    for phrase, month in _QUARTERS.items():
        if phrase in cleaned:
            return date(year, month, calendar.monthrange(year, month)[1])
    if any(phrase in cleaned for phrase in _YEAR_END):
        return date(year, 12, 31)
    if any(phrase in cleaned for phrase in _ONGOING):
        return None
    raise DomainError("deadline", f"cannot read the deadline {text!r} (expected e.g. 1月20日前)",
                      "V27")


def _make_date(text: str, year: int, month: int, day: int) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        raise DomainError("deadline", f"{text!r} is not a calendar date in {year}", "V27") from None


BARE_ORGANS = frozenset({"党委", "政府", "人民政府", "人大", "政协", "纪委", "监委", "安委会",
                         "安委办"})
"""Bodies named without a place of their own: "各县区(开发区)党委、政府" is one responsible
unit (the county-level Party committees and governments together), not a bare "政府"."""


def split_responsible_units(text: str) -> tuple[str, ...]:
    """Responsible units are listed with 、 or commas in the notices; a bare organ after 、
    shares the place named before it and stays with it as one unit."""
    units: list[str] = []
    for group in re.split(r"[,，;；]", text):
        for part in (p.strip() for p in group.split("、")):
            if part in BARE_ORGANS and units and units[-1].endswith(tuple(BARE_ORGANS)):
                units[-1] = f"{units[-1]}、{part}"
            elif part:
                units.append(part)
    return tuple(units)


class TaskList(ZhibaoAggregate):
    def __init__(self, unit_code: str, doc_no: str, issued_on: date) -> None:
        self.unit_code = unit_code
        self.doc_no = doc_no
        self.issued_on = issued_on

    class TaskListPublished(ZhibaoAggregate.Created):
        doc_no: str
        title: str
        issuer: str
        issued_on: date

    @classmethod
    def publish(cls, ctx: Context, list_id: UUID, doc_no: str, title: str, issuer: str,
                issued_on: date) -> TaskList:
        require(bool(doc_no.strip()), "doc_no", "a task list has a document number", "INPUT")
        require(bool(title.strip()), "title", "must not be empty", "INPUT")
        ctx.require_jurisdiction("actor", ctx.org.unit_code)
        return cls._start(cls.TaskListPublished, ctx, list_id, ctx.org.unit_code,
                          start_of_day(issued_on), doc_no=doc_no, title=title, issuer=issuer,
                          issued_on=issued_on)


class WorkTask(ZhibaoAggregate):
    def __init__(self, unit_code: str, responsible_units: tuple[str, ...],
                 born_overdue: bool) -> None:
        self.unit_code = unit_code
        self.responsible_units = responsible_units
        self.born_overdue = born_overdue
        self.completed_units: set[str] = set()

    class Event(ZhibaoAggregate.Event):
        pass

    @singledispatchmethod
    def when(self, event: Event) -> None:
        """Events that change no state."""

    @property
    def completed(self) -> bool:
        return self.completed_units == set(self.responsible_units)

    class TaskDefined(ZhibaoAggregate.Created):
        task_list_id: UUID
        doc_no: str
        task_no: int
        section: str
        item: str
        requirement: str
        responsible_units: tuple[str, ...]
        deadline: date | None
        deadline_text: str
        born_overdue: bool

    @classmethod
    def define(cls, ctx: Context, task_id: UUID, task_list: TaskList, task_no: int, section: str,
               item: str, requirement: str, responsible_units: tuple[str, ...],
               deadline_text: str) -> WorkTask:
        """A deadline before the list's issue date is real data (Ankang task 34): kept and
        flagged "born overdue" (V29), never rejected."""
        require(task_no > 0, "task_no", "must be a positive number", "INPUT")
        require(bool(requirement.strip()), "requirement", "must not be empty", "INPUT")
        require(len(responsible_units) > 0, "responsible_units", "at least one responsible unit",
                "INPUT")
        deadline = parse_chinese_deadline(deadline_text, task_list.issued_on.year)
        ctx.require_jurisdiction("task_list_id", task_list.unit_code)
        return cls._start(
            cls.TaskDefined, ctx, task_id, task_list.unit_code, start_of_day(task_list.issued_on),
            task_list_id=task_list.id, doc_no=task_list.doc_no, task_no=task_no,
            section=section, item=item, requirement=requirement,
            responsible_units=tuple(responsible_units), deadline=deadline,
            deadline_text=deadline_text,
            born_overdue=deadline is not None and deadline < task_list.issued_on,
        )

    class TaskProgressReported(Event):
        responsible_unit: str
        text: str

    def report_progress(self, ctx: Context, responsible_unit: str, text: str) -> None:
        self._require_responsible(responsible_unit)
        require(bool(text.strip()), "text", "progress needs words", "INPUT")
        ctx.require_jurisdiction("task_id", self.unit_code)
        self._record(self.TaskProgressReported, ctx, responsible_unit=responsible_unit, text=text)

    class TaskCompletedByUnit(Event):
        responsible_unit: str

    class TaskCompleted(Event):
        pass

    def complete_for(self, ctx: Context, responsible_unit: str) -> None:
        """One responsible unit finished its part; the last one completes the task."""
        self._require_responsible(responsible_unit)
        require(responsible_unit not in self.completed_units, "responsible_unit",
                f"{responsible_unit} already completed this task", "LIFECYCLE")
        ctx.require_jurisdiction("task_id", self.unit_code)
        self._record(self.TaskCompletedByUnit, ctx, responsible_unit=responsible_unit)
        if self.completed:
            self._record(self.TaskCompleted, ctx)

    @when.register
    def _(self, event: WorkTask.TaskCompletedByUnit) -> None:
        self.completed_units.add(event.responsible_unit)

    def _require_responsible(self, responsible_unit: str) -> None:
        require(responsible_unit in self.responsible_units, "responsible_unit",
                f"{responsible_unit!r} is not responsible for this task "
                f"({'、'.join(self.responsible_units)})", "REF")
