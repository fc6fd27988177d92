"""Bad input through the application service, on both stores (DOMAIN.md §12, issue 2 "Bad
input"): each rejection names the field and the rule, and writes nothing (World.rejects
compares the notification log before and after)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from uuid import uuid4

import pytest

from domain.base import DomainError
from domain.codes import complete_uscc
from domain.commands import RecordHazardOverdue, parse_command
from domain.hazards import HazardState
from infra.intake.unit_of_work import UnitOfWork
from infra.store.records import event_payload
from tests.support.builders import ADMIN, World, build_world
from tests.support.hazard_paths import Hazards

CONFIRMED = HazardState.CONFIRMED
RECTIFIED = HazardState.RECTIFIED
VERIFIED = HazardState.VERIFIED


@pytest.fixture
def world(hazards: Hazards) -> World:
    return hazards.world


@pytest.fixture
def fresh_world(app) -> World:
    """A world of its own, for tests that change the unit tree."""
    return build_world(app)


def test_a_rejected_command_leaves_no_trace_in_the_directory(fresh_world):
    """A rejection rolls back the directory too: the code can still be registered."""
    village = {"code": "610902101203", "code_system": "NBS12", "level": "village",
               "kind": "村委会", "name": "五村", "parent_code": "610902101000",
               "valid_from": "2000-01-01"}
    error = fresh_world.rejects("RegisterAdminUnit", ADMIN, **village, urban_rural_class="22")
    assert (error.field, error.code) == ("urban_rural_class", "INPUT")
    assert "610902101203" not in fresh_world.app.directory.codes
    fresh_world.do("RegisterAdminUnit", ADMIN, **village)



def test_a_unit_of_work_not_stored_leaves_the_directory_as_it_was(fresh_world, clock):
    """A batch's reference changes are applied as it runs; when its write does not happen
    they are undone — registrations, recodings and closures alike — and lookups answer as
    before."""
    app, world = fresh_world.app, fresh_world
    tables = ("units", "codes", "orgs", "enterprises", "usccs")
    before = {name: dict(getattr(app.directory, name)) for name in tables}
    uow = UnitOfWork(app, cached=True)
    for name, fields in [
        ("RegisterEnterprise", {"uscc": complete_uscc("91610902123456789"), "name": "新店",
                                "unit_code": "610902102201", "sectors": ["commerce"],
                                "registered_on": "2021-02-01"}),
        ("RecodeAdminUnit", {"code": "610902102201", "new_code": "610902102202",
                             "valid_from": "2021-01-01"}),
        ("CloseEnterprise", {"enterprise_id": str(world.enterprises["chem"]),
                             "on": "2021-02-01"}),
    ]:
        uow.run(parse_command({"command": name, **fields}), world.issuer(ADMIN))
    assert "610902102202" in app.directory.codes

    uow.abandon()

    assert {name: dict(getattr(app.directory, name)) for name in tables} == before
    assert app.directory.unit("unit_code", "610902102201").code == "610902102201"
    world.do("RecodeAdminUnit", ADMIN, code="610902102201", new_code="610902102202",
             valid_from="2021-01-01")

# -- V2 the future (V1, V3 and the hazard's other own rules: tests/unit/test_hazard_rules.py) --


def test_discovery_in_the_future_is_rejected(hazards):
    tomorrow = hazards.clock.now + timedelta(days=1)
    error = hazards.world.rejects(
        "ReportHazard", "town", enterprise_id=hazards.world.enterprises["chem"],
        channel="supervisory_inspection", discovered_at=tomorrow, description="储罐泄漏",
        category="unsafe_condition")
    assert (error.field, error.code) == ("discovered_at", "V2")


def test_business_time_may_run_ahead_of_the_clock_by_the_allowed_skew(hazards):
    outcome = hazards.world.do(
        "ReportHazard", "town", enterprise_id=hazards.world.enterprises["chem"],
        channel="supervisory_inspection", discovered_at=hazards.clock.now + timedelta(minutes=4),
        description="储罐泄漏", category="unsafe_condition")
    assert outcome.events == 1


def test_a_command_dated_in_the_future_is_rejected(hazards):
    hazard_id = hazards.report()
    error = hazards.world.rejects("ConfirmHazard", "town", hazard_id=hazard_id, grade="general",
                                  treatment="deadline", deadline=hazards.due(hazard_id),
                                  occurred_at=hazards.clock.now + timedelta(hours=2))
    assert (error.field, error.code) == ("occurred_at", "V2")


# -- V4 verification by an authorised body, V5 delisting by the listing authority -----------


@pytest.mark.parametrize("verifier", ["town", "county_gov"])
def test_a_major_hazard_is_verified_only_by_an_authorised_body(hazards, verifier):
    """The town office and the county government are not authorised to verify majors."""
    hazard_id = hazards.drive(RECTIFIED, "major")
    error = hazards.world.rejects("VerifyHazard", verifier, hazard_id=hazard_id, passed=True,
                                  verified_at=hazards.clock.now)
    assert (error.field, error.code) == ("actor", "AUTH-ROLE")


def test_an_authorised_body_above_the_county_verifies_and_closes_a_major(hazards):
    hazard_id = hazards.drive(RECTIFIED, "major")
    hazards.do("VerifyHazard", "city_office", stamp="verified_at", hazard_id=hazard_id,
               passed=True)
    error = hazards.world.rejects("CloseHazard", "county_gov", hazard_id=hazard_id,
                                  closed_at=hazards.clock.now)
    assert (error.field, error.code) == ("actor", "AUTH-ROLE")
    hazards.do("CloseHazard", "city_office", stamp="closed_at", hazard_id=hazard_id)
    assert hazards.get(hazard_id).state is HazardState.CLOSED


def test_a_hazard_upgraded_to_major_after_verification_is_verified_again(hazards):
    """The town's verification of a general hazard does not stand for a major one (V4)."""
    hazard_id = hazards.drive(VERIFIED)
    hazards.do("RegradeHazard", "county_ema", hazard_id=hazard_id, to_grade="major",
               reason="复核认定为重大隐患", criteria_ref="判定标准 第一条")
    error = hazards.world.rejects("CloseHazard", "county_ema", hazard_id=hazard_id,
                                  closed_at=hazards.clock.now)
    assert (error.field, error.code) == ("hazard_id", "V4")
    hazards.verify(hazard_id, "major")
    hazards.close(hazard_id, "major")
    assert hazards.get(hazard_id).state is HazardState.CLOSED


def test_only_the_listing_authority_delists(hazards):
    hazard_id = hazards.drive(VERIFIED, "major", listed=True)
    error = hazards.world.rejects("DelistHazard", "city_office", hazard_id=hazard_id)
    assert (error.field, error.code) == ("actor", "V5")


# -- V7 jurisdiction ---------------------------------------------------------------------------


@pytest.mark.parametrize(("by", "enterprise"), [
    ("village", "shop"),  # 一村's committee recording for an enterprise in 二村
    ("other_town", "chem"),  # 张滩镇 recording in 关庙镇
    ("other_county_ema", "chem"),  # 汉阴县 recording in 汉滨区
    ("county_chem", "shop"),  # the hazchem department at a fire/commerce site
    ("chem", "shop"),  # one enterprise recording for another
])
def test_recording_outside_the_jurisdiction_is_rejected(hazards, by, enterprise):
    error = hazards.world.rejects(
        "ReportHazard", by, enterprise_id=hazards.world.enterprises[enterprise],
        channel="supervisory_inspection", discovered_at=hazards.clock.now,
        description="灭火器过期", category="unsafe_condition")
    assert (error.field, error.code) == ("unit_code", "V7")
    assert "HazardTransferred" in str(error)  # names the command to use instead


def test_a_village_records_within_its_own_territory(hazards):
    outcome = hazards.world.do(
        "ReportHazard", "village", enterprise_id=hazards.world.enterprises["chem"],
        channel="supervisory_inspection", discovered_at=hazards.clock.now,
        description="灭火器过期", category="unsafe_condition")
    assert outcome.events == 1


def test_only_zhibao_records_a_hazard_overdue(hazards):
    """Overdue is zhibao's own finding (the daily sweep), never a person's command."""
    hazard_id = hazards.drive(CONFIRMED)
    hazards.clock.advance(days=20)
    error = hazards.world.rejects("RecordHazardOverdue", "town", hazard_id=hazard_id)
    assert (error.field, error.code) == ("command", "SYSTEM-ONLY")
    overdue = RecordHazardOverdue(hazard_id=hazard_id)
    with pytest.raises(DomainError) as refused:  # nor through the service's entry path
        hazards.world.app.execute(overdue, hazards.world.issuer("town"))
    assert refused.value.code == "SYSTEM-ONLY"
    assert hazards.world.app.record(overdue).events == 1


# -- V8 unit codes -----------------------------------------------------------------------------


@pytest.mark.parametrize(("code", "system", "level", "parent", "rule"), [
    ("6109021", "GB2260", "county", "610900", "GB/T 2260 code '6109021' must be exactly 6 digits"),
    ("610910", "GB2260", "city", "610000", "city code 610910 must be PPCC00 with CC ≠ 00"),
    ("61090210100", "NBS12", "town", "610902",
     "statistical code '61090210100' must be exactly 12 digits"),
    ("610902600000", "NBS12", "town", "610902",
     "township segment 600 of 610902600000 must be 001–599"),
    ("610902105000", "NBS12", "village", "610902101000",
     "village segment 000 of 610902105000 must be 001–599"),
])
def test_a_malformed_unit_code_is_rejected(world, code, system, level, parent, rule):
    error = world.rejects("RegisterAdminUnit", ADMIN, code=code, code_system=system,
                          level=level, kind="x", name="坏代码", parent_code=parent,
                          valid_from="2000-01-01")
    assert (error.field, error.code) == ("code", "V8")
    assert code in str(error)


def test_a_retired_unit_code_is_rejected_with_its_successor(fresh_world, clock):
    fresh_world.do("MergeAdminUnit", ADMIN, code="610902101202",
                   successor_code="610902101201", valid_from="2021-02-01")
    error = fresh_world.rejects(
        "ReportHazard", "town", unit_code="610902101202", sector="fire",
        channel="supervisory_inspection", discovered_at=clock.now,
        description="公共区域电线私拉乱接", category="unsafe_condition")
    assert (error.field, error.code) == ("unit_code", "V8")
    assert "use 610902101201" in str(error)  # names the successor


def test_a_recoded_unit_is_known_by_its_new_code_only(fresh_world, clock):
    fresh_world.do("RecodeAdminUnit", ADMIN, code="610902102201", new_code="610902102202",
                   valid_from="2021-01-01")
    error = fresh_world.rejects(
        "RegisterEnterprise", ADMIN, uscc=complete_uscc("91610902123456789"), name="新店",
        unit_code="610902102201", sectors=["commerce"], registered_on="2021-02-01")
    assert (error.field, error.code) == ("unit_code", "V8")
    assert "use 610902102202" in str(error)  # names the new code


def test_a_unit_is_not_referred_to_before_it_exists(fresh_world, clock):
    fresh_world.do("RegisterAdminUnit", ADMIN, code="610902101203", code_system="NBS12",
                   level="village", kind="村委会", name="新村", parent_code="610902101000",
                   valid_from="2021-06-01")
    error = fresh_world.rejects(
        "ReportHazard", "town", unit_code="610902101203", sector="fire",
        channel="supervisory_inspection", discovered_at=clock.now,
        description="临时用电不规范", category="unsafe_condition")
    assert (error.field, error.code) == ("unit_code", "V8")
    assert "2021-06-01" in str(error)  # names the day it becomes valid


def test_an_unknown_unit_code_is_rejected(hazards):
    error = hazards.world.rejects(
        "ReportHazard", "town", unit_code="610902101299", sector="fire",
        channel="supervisory_inspection", discovered_at=hazards.clock.now, description="x",
        category="unsafe_condition")
    assert (error.field, error.code) == ("unit_code", "V8")


# -- identifiers, enums and money at the intake ------------------------------------------------


def test_a_credit_code_with_a_wrong_check_character_is_rejected(world):
    good = complete_uscc("91610902MA0000042")
    wrong = good[:-1] + ("0" if good[-1] != "0" else "1")
    error = world.rejects("RegisterEnterprise", ADMIN, uscc=wrong, name="错码公司",
                          unit_code="610902101201", sectors=["hazchem"], registered_on="2015-01-01")
    assert (error.field, error.code) == ("uscc", "INPUT")
    assert f"expected {good[-1]}" in str(error)  # names the right check character


@pytest.mark.parametrize(("command", "field", "value", "allowed"), [
    ("ReportHazard", "channel", "telepathy", "'self_inspection'"),
    ("ReportHazard", "category", "bad_luck", "'unsafe_condition'"),
    ("ConfirmHazard", "grade", "catastrophic", "'general' or 'major'"),
    ("ConfirmHazard", "treatment", "someday", "'immediate' or 'deadline'"),
])
def test_an_unknown_enum_value_is_rejected(hazards, command, field, value, allowed):
    hazard_id = hazards.report()
    fields = {
        "ReportHazard": {"enterprise_id": hazards.world.enterprises["chem"],
                         "channel": "self_inspection", "discovered_at": hazards.clock.now,
                         "description": "x", "category": "unsafe_condition"},
        "ConfirmHazard": {"hazard_id": hazard_id, "grade": "general", "treatment": "deadline",
                          "deadline": hazards.due(hazard_id)},
    }[command]
    error = hazards.world.rejects(command, "town", **{**fields, field: value})
    assert (error.field, error.code) == (field, "INPUT")
    assert allowed in str(error)  # names what is allowed


@pytest.mark.parametrize("amount", [5000, "5000", "5000 dollars", {"amount": "5000"}])
def test_money_without_its_unit_is_rejected(world, amount):
    case_id = uuid4()
    world.do("OpenEnforcementCase", "county_ema", case_id=case_id,
             enterprise_id=world.enterprises["chem"], case_no="汉应急罚〔2021〕1号",
             opened_on="2021-02-20")
    error = world.rejects("ImposeFine", "county_ema", case_id=case_id, amount=amount,
                          decided_on="2021-02-25")
    assert (error.field, error.code) == ("amount", "V20")
    world.do("ImposeFine", "county_ema", case_id=case_id, amount="1.5万元",
             decided_on="2021-02-25")
    stored = list(world.app.recorder.select_events(case_id, desc=True, limit=1))
    assert event_payload(stored[0].state)["amount_fen"] == 1_500_000


# -- V11 idempotency -------------------------------------------------------------------------


def test_a_replayed_creation_is_recognised(hazards):
    report = {"enterprise_id": hazards.world.enterprises["chem"], "channel": "self_inspection",
              "discovered_at": hazards.clock.now, "description": "配电箱未上锁",
              "category": "unsafe_condition", "command_id": "chem/2021-03-01/1"}
    first = hazards.world.do("ReportHazard", "chem", **report)
    before = hazards.world.app.recorder.max_notification_id()
    again = hazards.world.do("ReportHazard", "chem", **report)
    assert (first.duplicate, first.events) == (False, 1)
    assert again == replace(first, duplicate=True)  # the original outcome (V11)
    assert hazards.world.app.recorder.max_notification_id() == before


def test_a_replayed_command_on_a_hazard_is_recognised(hazards):
    hazard_id = hazards.report()
    confirm = {"hazard_id": hazard_id, "grade": "general", "treatment": "deadline",
               "deadline": hazards.due(hazard_id), "command_id": "town/confirm/1"}
    assert hazards.do("ConfirmHazard", "town", **confirm).duplicate is False
    before = hazards.world.app.recorder.max_notification_id()
    again = hazards.do("ConfirmHazard", "town", **confirm)
    assert (again.duplicate, again.events) == (True, 1)
    assert hazards.world.app.recorder.max_notification_id() == before
    assert hazards.get(hazard_id).version == 2
    different = hazards.world.rejects("ConfirmHazard", "town", **{**confirm, "command_id": "x"})
    assert (different.field, different.code) == ("hazard_id", "LIFECYCLE")


def test_a_replayed_batch_line_is_recognised_too(hazards):
    """The import path (execute_batch, cached aggregates) honours command ids as well."""
    hazard_id = hazards.report()
    confirm = parse_command({
        "command": "ConfirmHazard", "hazard_id": str(hazard_id), "grade": "general",
        "treatment": "deadline", "deadline": hazards.due(hazard_id).isoformat(),
        "command_id": "batch/confirm/1"})
    town = hazards.world.issuer("town")
    first, again = (list(hazards.world.app.execute_batch([(1, town, confirm)]))
                    for _ in range(2))
    assert (first[0].applied, first[0].duplicates, first[0].events) == (1, 0, 1)
    assert (again[0].applied, again[0].duplicates, again[0].events) == (0, 1, 0)
    assert hazards.get(hazard_id).version == 2
