"""The hazard's own rules (DOMAIN §12), in memory — the aggregate refuses by its field and
rule code and records nothing: deadlines (V1), dates that go back (V3), closure only after a
passing verification (V4) and delisting (V5), 五到位 (V6), a major grading's standard (V13),
extensions (V14), downgrading a listed hazard (V15). The service-level rules (clock skew,
jurisdiction, unit codes, replays) are in tests/integration/test_domain_rules.py."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from domain.base import DomainError
from domain.hazards import Grade, Hazard, HazardState, Treatment, VerificationMethod
from tests.support.hazard_memory import (
    CITY_COMMITTEE,
    CITY_VERIFIER,
    COUNTY_VERIFIER,
    DEADLINE,
    ENTERPRISE,
    FOUND,
    PLAN,
    as_,
    confirmed,
    rectified,
    reported,
)


def refused(hazard: Hazard, act: object, *args: object, **kwargs: object) -> DomainError:
    """Apply `act` (a bound method of `hazard`), which must be refused without an event."""
    before = len(hazard.pending_events)
    with pytest.raises(DomainError) as refusal:
        act(*args, **kwargs)  # type: ignore[operator]
    assert len(hazard.pending_events) == before, "a refused command recorded an event"
    return refusal.value


def rule_of(error: DomainError) -> tuple[str, str]:
    return error.field, error.code


@pytest.mark.parametrize(("treatment", "days_after_discovery"), [
    (Treatment.DEADLINE, -9), (Treatment.DEADLINE, 0), (Treatment.IMMEDIATE, 4),
])
def test_v1_a_deadline_lies_after_discovery_and_on_its_day_only_when_immediate(
        treatment, days_after_discovery):
    hazard = reported()
    error = refused(hazard, hazard.confirm,
                    as_(COUNTY_VERIFIER, "regulator", command="ConfirmHazard", hours=1),
                    Grade.GENERAL, treatment, FOUND.date() + timedelta(days=days_after_discovery))
    assert rule_of(error) == ("deadline", "V1")


def test_v3_completion_does_not_go_back_before_discovery():
    hazard = confirmed(Grade.GENERAL)
    error = refused(hazard, hazard.complete,
                    as_(ENTERPRISE, "enterprise_principal", command="DeclareRectified",
                        hours=2), FOUND - timedelta(minutes=1), None)
    assert rule_of(error) == ("completed_at", "V3")


def test_v3_verification_does_not_go_back_before_completion():
    hazard = rectified(Grade.GENERAL)
    error = refused(hazard, hazard.verify,
                    as_(COUNTY_VERIFIER, "regulator", command="VerifyHazard", hours=6), True,
                    VerificationMethod.ON_SITE, None, FOUND + timedelta(hours=4))
    assert rule_of(error) == ("verified_at", "V3")


@pytest.mark.parametrize("grade", [Grade.GENERAL, Grade.MAJOR])
def test_v4_a_hazard_is_closed_only_after_a_passing_verification(grade):
    hazard = rectified(grade)
    close = as_(COUNTY_VERIFIER, "regulator", command="CloseHazard", hours=7)
    assert rule_of(refused(hazard, hazard.close, close, FOUND + timedelta(hours=7))) == (
        "hazard_id", "V4")
    hazard.verify(as_(COUNTY_VERIFIER, "regulator", command="VerifyHazard", hours=6), False,
                  VerificationMethod.ON_SITE, "阀门仍漏", FOUND + timedelta(hours=6))
    assert hazard.state is HazardState.RECTIFYING  # a failed verification opens no way
    assert rule_of(refused(hazard, hazard.close, close, FOUND + timedelta(hours=7))) == (
        "hazard_id", "V4")


def test_v5_a_listed_hazard_is_closed_only_after_delisting():
    hazard = rectified(Grade.MAJOR, listed_by=CITY_COMMITTEE)
    hazard.verify(as_(CITY_VERIFIER, "regulator", command="VerifyHazard", hours=6), True,
                  VerificationMethod.ON_SITE, None, FOUND + timedelta(hours=6))
    error = refused(hazard, hazard.close,
                    as_(CITY_VERIFIER, "regulator", command="CloseHazard", hours=7),
                    FOUND + timedelta(hours=7))
    assert rule_of(error) == ("hazard_id", "V5")


@pytest.mark.parametrize(("element", "value"), [
    ("responsible_org", None), ("responsible_person", None), ("funds_fen", None),
    ("funds_source", None), ("deadline", None), ("contingency_plan", None),
])
def test_v6_a_major_hazards_plan_needs_all_of_the_five_elements(element, value):
    hazard = confirmed(Grade.MAJOR)
    error = refused(hazard, hazard.submit_plan,
                    as_(ENTERPRISE, "enterprise_principal", command="SubmitRectificationPlan",
                        hours=3), replace(PLAN, **{element: value}))
    assert error.code == "V6" and error.field.startswith("plan.")


def test_v6_a_general_hazards_plan_needs_only_its_measures():
    hazard = confirmed(Grade.GENERAL)
    submit = as_(ENTERPRISE, "enterprise_principal", command="SubmitRectificationPlan", hours=3)
    assert rule_of(refused(hazard, hazard.submit_plan, submit, replace(PLAN, measures=" "))) == (
        "plan.measures", "INPUT")
    hazard.submit_plan(submit, type(PLAN)("清理通道"))
    assert hazard.state is HazardState.RECTIFYING


def test_v13_a_major_grading_cites_the_determination_standard():
    hazard = reported(Grade.MAJOR)
    error = refused(hazard, hazard.confirm,
                    as_(COUNTY_VERIFIER, "regulator", command="ConfirmHazard", hours=1),
                    Grade.MAJOR, Treatment.DEADLINE, DEADLINE)
    assert rule_of(error) == ("criteria_ref", "V13")


def test_v14_an_extension_is_requested_by_the_deadline_day_and_moves_it_later():
    hazard = confirmed(Grade.GENERAL)
    late = as_(ENTERPRISE, "enterprise_principal", command="RequestDeadlineExtension",
               hours=24 * 61)  # 1 May, the day after the deadline
    error = refused(hazard, hazard.request_extension, late, DEADLINE + timedelta(days=10),
                    "缺材料", late.recorded_at)
    assert rule_of(error) == ("requested_at", "V14")
    on_time = as_(ENTERPRISE, "enterprise_principal", command="RequestDeadlineExtension",
                  hours=2)
    error = refused(hazard, hazard.request_extension, on_time, DEADLINE, "缺材料",
                    on_time.recorded_at)
    assert rule_of(error) == ("new_deadline", "V14")
    hazard.request_extension(on_time, DEADLINE + timedelta(days=10), "缺材料",
                             on_time.recorded_at)
    assert hazard.pending_extension == DEADLINE + timedelta(days=10)


def test_v15_a_listed_major_is_not_downgraded_before_delisting():
    hazard = rectified(Grade.MAJOR, listed_by=CITY_COMMITTEE)
    error = refused(hazard, hazard.regrade,
                    as_(CITY_VERIFIER, "regulator", command="RegradeHazard", hours=6),
                    Grade.GENERAL, "复核")
    assert rule_of(error) == ("to_grade", "V15")

