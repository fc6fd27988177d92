"""Reporting periods (报告期, DOMAIN §7.1, §7.3): a calendar month `YYYY-MM`, a quarter
`YYYY-Qn` or a year `YYYY`, always in Asia/Shanghai (V24). The one place a period is parsed,
bounded and named; deadlines are days of the month after the period ends (§11.1)."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from domain.base import SHANGHAI, DomainError
from domain.values import EARLIEST, LATEST

MONTH_PATTERN = r"([0-9]{4})-(0[1-9]|1[0-2])"
"""A month as text, `YYYY-MM` (groups: year, month)."""
PATTERN = r"([0-9]{4})(?:-(0[1-9]|1[0-2])|-Q([1-4]))?"
"""A period as text: a month, a quarter or a year (groups: year, month, quarter) — the one
pattern the command schemas and `Period.parse` use."""
_PARTS = re.compile(PATTERN)
_QUARTER_NAMES = "一二三四"
FIRST_YEAR, LAST_YEAR = EARLIEST.year, LATEST.year - 1
"""The years a period may lie in: every date of them is representable (domain.values)."""


class PeriodKind(StrEnum):
    MONTH = "month"  # 月报
    QUARTER = "quarter"  # 季报
    YEAR = "year"  # 年报


@dataclass(frozen=True)
class Period:
    year: int
    kind: PeriodKind
    number: int  # the month (1–12), the quarter (1–4), or 1 for a year

    @classmethod
    def parse(cls, text: str, field: str = "period") -> Period:
        match = _PARTS.fullmatch(text)
        if match is None:
            raise DomainError(field, f"{text!r} is not a period: a month 2021-03, a quarter "
                                     "2021-Q2 or a year 2021", "V24")
        year, month, quarter = match.groups()
        if not FIRST_YEAR <= int(year) <= LAST_YEAR:
            raise DomainError(field, f"{text} lies outside the years {FIRST_YEAR}–{LAST_YEAR}",
                              "BOUND-TIME")
        if month:
            return cls(int(year), PeriodKind.MONTH, int(month))
        if quarter:
            return cls(int(year), PeriodKind.QUARTER, int(quarter))
        return cls(int(year), PeriodKind.YEAR, 1)

    @classmethod
    def month(cls, year: int, month: int) -> Period:
        return cls(year, PeriodKind.MONTH, month)

    def __str__(self) -> str:
        if self.kind is PeriodKind.MONTH:
            return f"{self.year:04d}-{self.number:02d}"
        if self.kind is PeriodKind.QUARTER:
            return f"{self.year:04d}-Q{self.number}"
        return f"{self.year:04d}"

    @property
    def first_month(self) -> int:
        return {PeriodKind.MONTH: self.number, PeriodKind.QUARTER: 3 * self.number - 2,
                PeriodKind.YEAR: 1}[self.kind]

    @property
    def months(self) -> int:
        return {PeriodKind.MONTH: 1, PeriodKind.QUARTER: 3, PeriodKind.YEAR: 12}[self.kind]

    @property
    def first_day(self) -> date:
        return date(self.year, self.first_month, 1)

    @property
    def following_month(self) -> tuple[int, int]:
        """The month after the period: its deadlines fall in it."""
        index = self.year * 12 + self.first_month - 1 + self.months
        return index // 12, index % 12 + 1

    @property
    def last_day(self) -> date:
        year, month = self.following_month
        return date(year, month, 1) - timedelta(days=1)

    @property
    def start(self) -> datetime:
        """The period's first instant."""
        return datetime.combine(self.first_day, datetime.min.time(), SHANGHAI)

    @property
    def end(self) -> datetime:
        """The first instant after the period."""
        return datetime.combine(self.last_day + timedelta(days=1), datetime.min.time(),
                                SHANGHAI)

    @property
    def year_start(self) -> datetime:
        """1 January of the report year: where the national monthly table counts from."""
        return datetime(self.year, 1, 1, tzinfo=SHANGHAI)

    @property
    def label(self) -> str:
        """As a form prints it: 2021年12月, 2021年第二季度, 2021年度."""
        if self.kind is PeriodKind.MONTH:
            return f"{self.year}年{self.number}月"
        if self.kind is PeriodKind.QUARTER:
            return f"{self.year}年第{_QUARTER_NAMES[self.number - 1]}季度"
        return f"{self.year}年度"

    def deadline(self, day: int) -> date:
        """Day `day` of the month after the period (its last day if the month is shorter)."""
        year, month = self.following_month
        return date(year, month, min(day, calendar.monthrange(year, month)[1]))

    def previous(self) -> Period:
        """The period of the same kind before this one."""
        if self.kind is PeriodKind.YEAR:
            return Period(self.year - 1, self.kind, 1)
        count = 12 if self.kind is PeriodKind.MONTH else 4
        index = self.year * count + self.number - 2
        return Period(index // count, self.kind, index % count + 1)

    @classmethod
    def containing(cls, at: datetime, kind: PeriodKind) -> Period:
        """The period of `kind` that the instant falls in."""
        local = at.astimezone(SHANGHAI)
        number = {PeriodKind.MONTH: local.month, PeriodKind.QUARTER: (local.month + 2) // 3,
                  PeriodKind.YEAR: 1}[kind]
        return cls(local.year, kind, number)
