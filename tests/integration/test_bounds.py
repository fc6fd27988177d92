"""Bounded values and strict input, through the real intake on both stores (issue 10 §2):
every attack of the issue's "Why" and every bound exceeded by one is refused naming the
field and the rule, and writes nothing; the bound itself is accepted. Commands arrive as
raw JSON text through `command_from_json`, the parser every entry point shares."""

from __future__ import annotations

import json
from datetime import UTC, timedelta
from typing import Any
from uuid import uuid4

import pytest

from domain.base import DomainError
from domain.codes import complete_uscc
from domain.commands import ReportHazard
from domain.values import MAX_COUNT, MAX_FEN, MAX_ITEMS, MAX_TEXT
from infra.intake.importer import import_file
from infra.intake.parsing import command_from_json
from tests.support.builders import ADMIN, World
from tests.support.hazard_paths import Hazards

MAX_BYTES = 262144


def execute(world: World, by: str, raw: str | bytes) -> Any:
    return world.app.execute(command_from_json(raw, MAX_BYTES), world.issuer(by))


def refused(world: World, by: str, raw: str | bytes, field: str, code: str) -> DomainError:
    """`raw` is refused with the rule `code`, naming `field`, and nothing is written."""
    before = world.app.recorder.max_notification_id()
    with pytest.raises(DomainError) as refusal:
        execute(world, by, raw)
    assert (refusal.value.field, refusal.value.code) == (field, code), refusal.value
    assert world.app.recorder.max_notification_id() == before, "a refusal wrote"
    return refusal.value


def as_json(command: str, **fields: Any) -> str:
    return json.dumps({"command": command, **fields}, ensure_ascii=False, default=str)


def hazard(world: World, **fields: Any) -> str:
    return as_json("ReportHazard", **{
        "enterprise_id": world.enterprises["chem"], "channel": "supervisory_inspection",
        "discovered_at": "2021-02-20T10:00", "description": "消防通道堵塞",
        "category": "unsafe_condition", **fields})


@pytest.fixture(scope="module")
def case(hazards: Hazards) -> str:
    """An open enforcement case against the chemical plant, for fines."""
    case_id = uuid4()
    hazards.world.do("OpenEnforcementCase", "county_ema", case_id=case_id,
                     enterprise_id=hazards.world.enterprises["chem"], case_no="汉应急罚〔2021〕1号",
                     opened_on="2021-02-01")
    return str(case_id)


def fine(case: str, amount: Any) -> str:
    return as_json("ImposeFine", case_id=case, decided_on="2021-02-02", amount=amount)


# -- money --------------------------------------------------------------------------------


@pytest.mark.parametrize(("amount", "code"), [
    ("12345678901234567890分", "BOUND-MONEY"),  # stored once, it broke every later stage
    ("99999999999999999999999元", "BOUND-MONEY"),
    (f"{MAX_FEN + 1}分", "BOUND-MONEY"),
    ({"amount": str(MAX_FEN // 1_000_000 + 1), "unit": "万元"}, "BOUND-MONEY"),
    ({"amount": 1e308, "unit": "万元"}, "BOUND-MONEY"),
    ({"amount": "Infinity", "unit": "元"}, "V20"),
    ({"amount": "NaN", "unit": "元"}, "V20"),
    ("Infinity", "V20"),
    ({"amount": True, "unit": "元"}, "V20"),
    ({"amount": "１００", "unit": "元"}, "V20"),  # fullwidth digits
])
def test_money_beyond_its_bound_or_not_a_number_is_refused(hazards, case, amount, code):
    refused(hazards.world, "county_ema", fine(case, amount), "amount", code)


def test_the_largest_amount_is_accepted(hazards, case):
    execute(hazards.world, "county_ema", fine(case, f"{MAX_FEN}分"))


def test_a_json_nan_or_infinity_is_no_number(hazards, case):
    raw = fine(case, {"amount": 1, "unit": "元"}).replace('"amount": 1,', '"amount": Infinity,')
    refused(hazards.world, "county_ema", raw, "command", "STRICT-JSON")


# -- business time ------------------------------------------------------------------------


@pytest.mark.parametrize(("discovered_at", "code"), [
    ("9999-12-31T23:59:59-12:00", "BOUND-TIME"),  # overflowed converting to Asia/Shanghai
    ("0001-01-01T00:00:00+14:00", "BOUND-TIME"),
    ("1949-09-30T23:59:59", "BOUND-TIME"),  # a second before the window opens
    ("1949-10-01T00:30:00+09:00", "BOUND-TIME"),  # its offset takes it out of the window
    (1614556800, "STRICT-TYPE"),  # a Unix time is not a date-time
    ("2021-03-01 10:00:00.5 +08:00 junk", "STRICT-TYPE"),
    ("２０２１-02-20T10:00", "STRICT-TYPE"),
])
def test_a_business_time_outside_the_window_is_refused(hazards, discovered_at, code):
    world = hazards.world
    refused(world, "town", hazard(world, discovered_at=discovered_at), "discovered_at", code)


def test_a_business_time_past_the_clock_and_its_skew_is_refused(hazards):
    """The clock allows five minutes' skew (ZHIBAO_CLOCK_SKEW_SECONDS): a minute more is
    the future (V2), however the offset writes it."""
    world, now = hazards.world, hazards.clock.now
    for late in (now + timedelta(minutes=6), (now + timedelta(minutes=6)).astimezone(UTC)):
        refused(world, "town", hazard(world, discovered_at=late.isoformat()), "discovered_at",
                "V2")
    execute(world, "town", hazard(world, discovered_at=(now + timedelta(minutes=5)).astimezone(
        UTC).isoformat()))
    earliest = command_from_json(hazard(world, discovered_at="1949-10-01T00:00:00+08:00"),
                                 MAX_BYTES)
    assert earliest.discovered_at.isoformat() == "1949-10-01T00:00:00+08:00"


def test_a_deadline_more_than_ten_years_ahead_is_refused(hazards):
    hazard_id = hazards.report()
    world = hazards.world
    confirm = {"hazard_id": str(hazard_id), "grade": "general", "treatment": "deadline"}
    today = hazards.clock.now.date()
    refused(world, "town", as_json("ConfirmHazard", **confirm,
                                   deadline=str(today.replace(year=today.year + 10)
                                                + timedelta(days=1))),
            "deadline", "BOUND-TIME")
    refused(world, "town", as_json("ConfirmHazard", **confirm, deadline="9999-12-31"),
            "deadline", "BOUND-TIME")
    execute(world, "town", as_json("ConfirmHazard", **confirm,
                                   deadline=str(today.replace(year=today.year + 10))))


# -- impossible facts ----------------------------------------------------------------------


def test_an_enterprise_registered_in_the_future_is_refused(hazards):
    world = hazards.world
    for registered_on in ("2099-01-01", str(hazards.clock.now.date() + timedelta(days=1))):
        refused(world, ADMIN, as_json(
            "RegisterEnterprise", uscc=complete_uscc("91610902MA0000100"), name="未来公司",
            unit_code="610902101201", sectors=["fire"], registered_on=registered_on),
            "registered_on", "V2")


def test_a_hazard_discovered_before_its_enterprise_was_registered_is_refused(hazards):
    world = hazards.world  # the world's enterprises were registered on 2010-01-01
    refused(world, "town", hazard(world, discovered_at="2003-05-01T10:00"), "enterprise_id",
            "V9")


def test_a_closed_enterprise_does_not_self_inspect_after_its_closure(hazards):
    world = hazards.world
    closed = world.register_enterprise("closed_shop", "610902101201", ("commerce",),
                                       complete_uscc("91610902MA0000099"))
    closure_day = hazards.clock.now.date() - timedelta(days=3)
    world.do("CloseEnterprise", "county_ema", enterprise_id=closed, on=closure_day)
    refused(world, "closed_shop", as_json(
        "SubmitSelfInspection", enterprise_id=closed, period=f"{closure_day:%Y-%m}",
        submitted_at=f"{closure_day}T18:00", signed_by_principal=True), "enterprise_id", "V9")


# -- codes, texts, lists, counts, types -------------------------------------------------------


def test_a_unit_code_with_non_ascii_digits_is_no_code(hazards):
    world = hazards.world
    refused(world, ADMIN, as_json(
        "RegisterAdminUnit", code="６１０９０２１０１２０３", code_system="NBS12", level="village",
        kind="村委会", name="look-alike", parent_code="610902101000", valid_from="2001-01-01"),
        "code", "V8")
    refused(world, "town", hazard(world, unit_code="６１０９０２１０１２０１"), "unit_code", "V8")


def test_texts_lists_and_counts_beyond_their_bounds_are_refused(hazards):
    world = hazards.world
    refused(world, "town", hazard(world, description="大" * (MAX_TEXT + 1)), "description",
            "BOUND-TEXT")
    refused(world, "town", hazard(world, description="大" * 1_200_000), "command",
            "BOUND-EVENT")
    refused(world, ADMIN, as_json("ChangeEnterpriseSectors",
                                  enterprise_id=world.enterprises["chem"],
                                  sectors=["fire"] * (MAX_ITEMS + 1)), "sectors", "BOUND-LIST")
    self_inspection = {"enterprise_id": world.enterprises["chem"], "period": "2021-01",
                       "submitted_at": "2021-02-01T10:00", "signed_by_principal": True}
    refused(world, "chem", as_json("SubmitSelfInspection", **self_inspection,
                                   hazards_found=MAX_COUNT + 1), "hazards_found", "BOUND-NUMBER")
    for signed in ("yes", 1, "true"):
        refused(world, "chem", as_json("SubmitSelfInspection", **{
            **self_inspection, "signed_by_principal": signed}), "signed_by_principal",
            "STRICT-TYPE")
    execute(world, "town", hazard(world, description="大" * MAX_TEXT))


def test_duplicate_keys_and_broken_text_are_refused(hazards):
    world = hazards.world
    twice = hazard(world).replace('"description": "消防通道堵塞"',
                                  '"description": "消防通道堵塞", "description": "无"')
    refused(world, "town", twice, "description", "STRICT-JSON")
    refused(world, "town", hazard(world).encode().replace(b"\xe5", b"\xff"), "command",
            "STRICT-JSON")
    refused(world, "town", hazard(world, description="\\ud800").replace("\\\\", "\\"),
            "description", "STRICT-JSON")


def test_an_event_larger_than_the_bound_is_refused_when_stored(hazards):
    """Within every field's bound, an event may still be too large for a message: the
    store refuses it whole (BOUND-EVENT)."""
    world = hazards.world
    mapper = world.app.mapper
    bound, mapper.max_event_bytes = mapper.max_event_bytes, 2000
    try:
        refused(world, "town", hazard(world, description="大" * 1000), "command", "BOUND-EVENT")
    finally:
        mapper.max_event_bytes = bound


# -- bulk import: a bad line is that line's rejection only -------------------------------------


def test_in_bulk_a_line_failing_for_any_reason_rejects_only_that_line(hazards, tmp_path):
    world, app = hazards.world, hazards.world.app
    good = [hazard(world, hazard_id=str(uuid4())) for _ in range(3)]
    file = tmp_path / "mixed.jsonl"
    file.write_bytes(b"\n".join([
        good[0].encode(),
        hazard(world, discovered_at="9999-12-31T23:59:59-12:00").encode(),  # 2: bound
        good[1].encode(),
        hazard(world, description="大" * 1000).encode(),  # 4: too large once stored
        b'{"command": "ReportHazard", "command": "VoidHazard"}',  # 5: duplicate key
        hazard(world).encode().replace(b"\xe5", b"\xff"),  # 6: not UTF-8
        good[2].encode(),
    ]))
    mapper = app.mapper
    bound, mapper.max_event_bytes = mapper.max_event_bytes, 2000
    before = app.recorder.max_notification_id()
    try:
        results = list(import_file(app, file, world.issuer("town"), batch_size=100))
    finally:
        mapper.max_event_bytes = bound
    rejected = {r.line: r.field for result in results for r in result.rejections}
    assert rejected == {2: "discovered_at", 4: "command", 5: "command", 6: "command"}
    assert sum(result.applied for result in results) == 3
    stored = app.recorder.select_notifications(start=before, limit=100, inclusive_of_start=False)
    assert len(stored) == 3


def test_in_bulk_a_line_that_fails_unforeseen_or_half_done_rejects_only_that_line(
        hazards, tmp_path, monkeypatch):
    """Faults injected into the step of one command: a line whose step raises an error
    zhibao did not foresee, and a line refused after its step had already triggered an
    event. Each is that line's rejection; the batch's other lines are stored, and nothing
    of the two."""
    world, app = hazards.world, hazards.world.app
    real_step = app.pipeline[ReportHazard]

    def faulty(uow, command, ctx):
        if command.description == "故障":
            raise RuntimeError("a fault of zhibao's own")
        hazard_id = real_step(uow, command, ctx)
        if command.description == "半途":
            raise DomainError("description", "refused after an event was triggered")
        return hazard_id

    monkeypatch.setattr(app, "pipeline", {**app.pipeline, ReportHazard: faulty})
    good = [str(uuid4()) for _ in range(3)]
    file = tmp_path / "faults.jsonl"
    file.write_text("\n".join([
        hazard(world, hazard_id=good[0]), hazard(world, description="故障"),
        hazard(world, hazard_id=good[1]), hazard(world, description="半途"),
        hazard(world, hazard_id=good[2])]), encoding="utf-8")
    before = app.recorder.max_notification_id()
    results = list(import_file(app, file, world.issuer("town"), batch_size=100))
    rejected = {r.line: (r.field, r.error) for result in results for r in result.rejections}
    assert sorted(rejected) == [2, 4]
    assert isinstance(rejected[2][1], RuntimeError) and rejected[4] == ("description", None)
    stored = app.recorder.select_notifications(start=before, limit=100, inclusive_of_start=False)
    assert sorted(str(n.originator_id) for n in stored) == sorted(good)
