"""Reading published task lists' texts, in memory: deadlines (V27) — a date without a year
takes the list's year, a half-year or quarter its last day, text that names no date is
refused — and the responsible units, split on the separators notices use."""

from __future__ import annotations

from datetime import date

import pytest

from domain.base import DomainError
from domain.tasks import parse_chinese_deadline, split_responsible_units


@pytest.mark.parametrize(("text", "year", "deadline"), [
    ("1月20日前", 2021, date(2021, 1, 20)),
    ("12月31日前", 2021, date(2021, 12, 31)),
    ("1月20日之前", 2021, date(2021, 1, 20)),
    (" 1月 20日前 ", 2021, date(2021, 1, 20)),
    ("6月30日", 2021, date(2021, 6, 30)),
    ("3月底前", 2021, date(2021, 3, 31)),
    ("2月底前", 2020, date(2020, 2, 29)),
    ("2月底", 2021, date(2021, 2, 28)),
    ("11月末", 2021, date(2021, 11, 30)),
    ("2021年3月31日前", 2020, date(2021, 3, 31)),  # a stated year wins over the list's
    ("2022年6月底前", 2021, date(2022, 6, 30)),
    ("年底前", 2021, date(2021, 12, 31)),
    ("下半年", 2021, date(2021, 12, 31)),
    ("上半年", 2021, date(2021, 6, 30)),
    ("一季度", 2021, date(2021, 3, 31)),
    ("三季度末", 2021, date(2021, 9, 30)),
    ("长期坚持", 2021, None),
    ("持续推进", 2021, None),
])
def test_chinese_deadlines(text, year, deadline):
    assert parse_chinese_deadline(text, year) == deadline


@pytest.mark.parametrize("text", ["尽快", "8月2023日前", "2月30日前", "13月底前"])
def test_unreadable_deadlines_are_rejected(text):
    with pytest.raises(DomainError) as rejected:
        parse_chinese_deadline(text, 2021)
    assert (rejected.value.field, rejected.value.code) == ("deadline", "V27")
    assert text in str(rejected.value)


@pytest.mark.parametrize(("text", "units"), [
    ("市委宣传部、市安委办(工作专班办公室)", ("市委宣传部", "市安委办(工作专班办公室)")),
    ("市级各专委会办公室、市生态环境局,各县区(开发区)安委会",
     ("市级各专委会办公室", "市生态环境局", "各县区(开发区)安委会")),
    ("市应急局，市住建局；市交通局", ("市应急局", "市住建局", "市交通局")),
    ("各企业", ("各企业",)),
])
def test_responsible_units_are_split_on_the_separators_notices_use(text, units):
    assert split_responsible_units(text) == units
