"""Identifiers and intake values, no store needed: administrative-division codes (GB/T 2260,
NBS 12-digit, local codes; DOMAIN.md §3), the unified social credit code (GB 32100), money
with its unit (V20), Asia/Shanghai business time (V24) and what parsing rejects."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest

from domain.base import SHANGHAI, DomainError, Level, business_date
from domain.codes import (
    CodeSystem,
    complete_uscc,
    prefix_mismatch,
    validate_unit_code,
    validate_uscc,
)
from domain.commands import ImposeFine, ReportHazard, parse_command

GB, NBS, LOCAL = CodeSystem.GB2260, CodeSystem.NBS12, CodeSystem.LOCAL

# -- administrative-division codes -------------------------------------------------------------


@pytest.mark.parametrize(("code", "system", "level"), [
    ("610000", GB, Level.PROVINCE),
    ("610900", GB, Level.CITY),
    ("610902", GB, Level.COUNTY),
    ("110119", GB, Level.COUNTY),  # 延庆区: outside the "01–18" convention, still valid
    ("610981", GB, Level.COUNTY),  # county-level city
    ("6109A1", LOCAL, Level.COUNTY),  # a development zone without a GB/T 2260 code
    ("3601WL", LOCAL, Level.COUNTY),  # a management bureau
    ("410122102000", NBS, Level.TOWN),  # 官渡镇, TTT 100–199: 镇
    ("410182001000", NBS, Level.TOWN),  # TTT 001–099: 街道
    ("610902400000", NBS, Level.TOWN),  # TTT 400–599: 类似乡级单位 (development zone)
    ("610902599000", NBS, Level.TOWN),
    ("410122102201", NBS, Level.VILLAGE),  # VVV 200–399: 村委会
    ("410122102001", NBS, Level.VILLAGE),  # VVV 001–199: 居委会
    ("410122102599", NBS, Level.VILLAGE),
])
def test_valid_unit_codes_are_accepted(code, system, level):
    validate_unit_code(code, system, level)


@pytest.mark.parametrize(("code", "system", "level", "field"), [
    ("61090", GB, Level.COUNTY, "code"),
    ("61090a", GB, Level.COUNTY, "code"),
    ("610900", GB, Level.COUNTY, "code"),
    ("610902", GB, Level.CITY, "code"),
    ("610900", GB, Level.PROVINCE, "code"),
    ("6109-1", LOCAL, Level.COUNTY, "code"),
    ("610902000000", NBS, Level.TOWN, "code"),
    ("610902600000", NBS, Level.TOWN, "code"),
    ("610902101201", NBS, Level.TOWN, "code"),
    ("610902101600", NBS, Level.VILLAGE, "code"),
    ("6109021012010", NBS, Level.VILLAGE, "code"),
    ("610902101000", GB, Level.TOWN, "code_system"),
    ("6109A1", LOCAL, Level.PROVINCE, "code_system"),
    ("610902", NBS, Level.COUNTY, "code_system"),
])
def test_malformed_unit_codes_are_rejected(code, system, level, field):
    with pytest.raises(DomainError) as rejected:
        validate_unit_code(code, system, level)
    assert (rejected.value.field, rejected.value.code) == (field, "V8")


@pytest.mark.parametrize(("child", "level", "parent", "warning"), [
    ("610902101201", Level.VILLAGE, "610902101000", None),
    ("610902101000", Level.TOWN, "610902", None),
    ("610902102201", Level.VILLAGE, "610902101000",
     "code 610902102201 does not start with its parent's 9-digit prefix 610902101"),
    ("610921100000", Level.TOWN, "610902",
     "code 610921100000 does not start with its parent's 6-digit prefix 610902"),
    ("610902400000", Level.TOWN, "6109A1", None),  # a local-coded parent: no convention
    ("610902", Level.COUNTY, "610000", None),  # county and above: not checked
])
def test_a_code_off_its_parents_prefix_is_a_warning(child, level, parent, warning):
    assert prefix_mismatch(child, level, parent) == warning


# -- the unified social credit code ----------------------------------------------------------


def test_the_check_character_is_computed_and_verified():
    code = complete_uscc("91350100M000100Y4")
    assert len(code) == 18
    assert validate_uscc(code) == code


def test_a_credit_code_is_normalised():
    code = complete_uscc("91610902MA0000042")
    assert validate_uscc(f" {code[:8]} {code[8:].lower()} ") == code


def test_a_wrong_check_character_names_the_expected_one():
    code = complete_uscc("91610902MA0000042")
    wrong = code[:-1] + ("1" if code[-1] == "0" else "0")
    with pytest.raises(DomainError) as rejected:
        validate_uscc(wrong)
    assert (rejected.value.field, rejected.value.code) == ("uscc", "INPUT")
    assert f"expected {code[-1]}" in str(rejected.value)  # names the right check character


@pytest.mark.parametrize("code", ["91610902MA000004", "91610902MA000004200", "91610902MA00O0042",
                                  "not a code at all!"])
def test_a_malformed_credit_code_is_rejected(code):
    with pytest.raises(DomainError) as rejected:
        validate_uscc(code)
    assert (rejected.value.field, rejected.value.code) == ("uscc", "INPUT")


# -- money with its unit (V20) -----------------------------------------------------------------


def fine(amount: Any) -> ImposeFine:
    command = parse_command({"command": "ImposeFine", "case_id": str(uuid4()),
                             "decided_on": "2021-03-01", "amount": amount})
    assert isinstance(command, ImposeFine)
    return command


@pytest.mark.parametrize(("amount", "fen"), [
    ("1.5万元", 1_500_000),
    ("1.5 万元", 1_500_000),
    ("200元", 20_000),
    ("0.01元", 1),
    ("35分", 35),
    ({"amount": "2", "unit": "万元"}, 2_000_000),
    ({"amount": 2.5, "unit": "元"}, 250),
    ({"amount": 7, "unit": "fen"}, 7),
    ({"amount": "3", "unit": "yuan"}, 300),
    ({"amount": "0.25", "unit": "wan_yuan"}, 250_000),
])
def test_money_is_stored_in_whole_fen(amount, fen):
    assert fine(amount).amount == fen


@pytest.mark.parametrize("amount", [
    1500,
    "1500",
    "1500 dollars",
    "-5元",
    {"amount": "5"},
    {"amount": "5", "unit": "美元"},
    {"amount": "five", "unit": "元"},
    {"amount": "-5", "unit": "元"},
    "0.001元",
    "1.5分",
])
def test_money_without_a_clear_unit_or_in_fractions_of_a_fen_is_rejected(amount):
    with pytest.raises(DomainError) as rejected:
        fine(amount)
    assert (rejected.value.field, rejected.value.code) == ("amount", "V20")


def test_a_plans_funds_need_their_unit_too():
    with pytest.raises(DomainError) as rejected:
        parse_command({"command": "SubmitRectificationPlan",
                       "hazard_id": str(uuid4()), "plan": {"measures": "x", "funds": 30000}})
    assert rejected.value.field == "plan.funds"


# -- business time (V24) -----------------------------------------------------------------------


def report(discovered_at: str) -> ReportHazard:
    command = parse_command({"command": "ReportHazard",
                             "enterprise_id": str(uuid4()), "channel": "self_inspection",
                             "discovered_at": discovered_at, "description": "x",
                             "category": "unsafe_condition"})
    assert isinstance(command, ReportHazard)
    return command


def test_a_naive_date_time_is_read_in_asia_shanghai():
    at = report("2021-03-01T08:30").discovered_at
    assert at == datetime(2021, 3, 1, 8, 30, tzinfo=SHANGHAI)
    assert at.utcoffset() == timedelta(hours=8)


def test_an_explicit_offset_is_kept_as_the_same_instant_in_shanghai_time():
    at = report("2021-02-28T20:00:00Z").discovered_at
    assert at.isoformat() == "2021-03-01T04:00:00+08:00"
    assert business_date(at) == date(2021, 3, 1)  # March in Shanghai, though February in UTC


# -- what parsing rejects ----------------------------------------------------------------------


@pytest.mark.parametrize(("data", "field", "code"), [
    ([1, 2], "command", "INPUT"),
    ({"command": "LaunchRocket"}, "command", "INPUT"),
    ({"command": "VoidHazard", "hazard_id": str(uuid4()), "reason": "x",
      "colour": "red"}, "colour", "INPUT"),
    ({"command": "VoidHazard", "hazard_id": "H-1", "reason": "x"},
     "hazard_id", "INPUT"),
    ({"command": "VoidHazard", "hazard_id": str(uuid4()), "reason": "  "},
     "reason", "INPUT"),
    ({"command": "VoidHazard", "actor": {"person_id": "p1", "org_id": str(uuid4()),
                                         "role": "superadmin"}, "hazard_id": str(uuid4()),
      "reason": "x"}, "actor", "AUTH-ACTOR"),
    ({"command": "AmendReport", "unit_code": "610902", "period": "2021-03"},
     "command", "SYSTEM-ONLY"),
    ({"command": "ConfirmHazard", "hazard_id": str(uuid4()),
      "grade": "general", "treatment": "deadline", "deadline": "2021-02-30"},
     "deadline", "STRICT-TYPE"),
    ({"command": "ConfirmHazard", "hazard_id": str(uuid4()),
      "grade": "重大", "treatment": "deadline"}, "grade", "INPUT"),
    ({"command": "SubmitSelfInspection", "enterprise_id": str(uuid4()),
      "period": "2021-13", "submitted_at": "2021-03-01T10:00", "signed_by_principal": True},
     "period", "INPUT"),
])
def test_parsing_rejects_naming_the_field(data, field, code):
    with pytest.raises(DomainError) as rejected:
        parse_command(data)
    assert (rejected.value.field, rejected.value.code) == (field, code)
