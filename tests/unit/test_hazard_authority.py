"""Authority the hazard decides, in memory: which variant of a command applies (a general,
a major or a listed hazard) and so which roles, levels and powers may act — and that the
event records the role that allowed the variant, not merely the command."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from domain import authority
from domain.base import SHANGHAI, Actor, Context, DomainError, Level, OrgProfile, OrgType
from domain.hazards import (
    Category,
    Channel,
    Discovery,
    Grade,
    Hazard,
    ListingLevel,
    RectificationPlan,
    Treatment,
    VerificationMethod,
)

FOUND = datetime(2021, 3, 1, 9, tzinfo=SHANGHAI)


def org(org_type: OrgType, level: Level | None, verifies: bool = False) -> OrgProfile:
    return OrgProfile(uuid4(), org_type, level, "610902", frozenset(), True, verifies)


TOWN = org(OrgType.TOWN_OFFICE, Level.TOWN)
COUNTY_DEPT = org(OrgType.DEPARTMENT, Level.COUNTY)
COUNTY_VERIFIER = org(OrgType.DEPARTMENT, Level.COUNTY, verifies=True)
CITY_VERIFIER = org(OrgType.DEPARTMENT, Level.CITY, verifies=True)
CITY_COMMITTEE = org(OrgType.SAFETY_COMMITTEE, Level.CITY, verifies=True)
ENTERPRISE = org(OrgType.ENTERPRISE, None)


def as_(body: OrgProfile, *roles: str, command: str, hours: int = 0) -> Context:
    """A person of `body` holding `roles`, as the service hands them to the domain: the
    role the command itself is allowed under already chosen."""
    permit = authority.permit("p", roles, body)
    return Context(actor=Actor("p", body.org_id, permit(command)), org=body,
                   recorded_at=FOUND + timedelta(hours=hours), covers=lambda *_: True,
                   permit=permit, occurred_at=FOUND + timedelta(hours=hours))


def rectified(grade: Grade, listed_by: OrgProfile | None = None) -> Hazard:
    found = Discovery("610902101201", "hazchem", Channel.SUPERVISORY_INSPECTION, FOUND,
                      "储罐泄漏", Category.UNSAFE_CONDITION, grade, enterprise_id=ENTERPRISE.org_id)
    hazard = Hazard.report(as_(TOWN, "town_officer", command="ReportHazard"), uuid4(), found,
                           None, False)
    hazard.confirm(as_(COUNTY_VERIFIER, "regulator", command="ConfirmHazard", hours=1), grade,
                   Treatment.DEADLINE, date(2021, 4, 30), criteria_ref="判定标准 第一条")
    if listed_by is not None:
        hazard.list_hazard(as_(listed_by, "committee_staff", command="ListHazard", hours=2),
                           ListingLevel.CITY, date(2021, 4, 30), None, "挂牌1号")
    plan = RectificationPlan("更换阀门", "设备部", "王工", 10_000, "自筹", date(2021, 4, 20),
                             "应急预案")
    hazard.submit_plan(as_(ENTERPRISE, "enterprise_principal",
                           command="SubmitRectificationPlan", hours=3), plan)
    if grade is Grade.MAJOR:
        hazard.review_plan(as_(COUNTY_VERIFIER, "regulator", command="ReviewRectificationPlan",
                               hours=4), True, None)
    hazard.complete(as_(ENTERPRISE, "enterprise_principal", command="DeclareRectified",
                        hours=5), FOUND + timedelta(hours=5), None)
    return hazard


def verify(hazard: Hazard, body: OrgProfile, *roles: str) -> str:
    """Verify as a person of `body`; the role the verification was recorded under."""
    hazard.verify(as_(body, *roles, command="VerifyHazard", hours=6), True,
                  VerificationMethod.ON_SITE, None, FOUND + timedelta(hours=6))
    return hazard.pending_events[-1].actor.role


@pytest.mark.parametrize(("grade", "body", "roles", "allowed"), [
    (Grade.GENERAL, TOWN, ("town_officer",), True),
    (Grade.GENERAL, COUNTY_DEPT, ("sector_inspector",), True),
    (Grade.MAJOR, TOWN, ("town_officer",), False),
    (Grade.MAJOR, COUNTY_DEPT, ("regulator",), False),  # no can_verify_major (V4)
    (Grade.MAJOR, COUNTY_VERIFIER, ("sector_inspector",), False),  # a regulator's act
    (Grade.MAJOR, COUNTY_VERIFIER, ("regulator",), True),
])
def test_who_verifies_depends_on_the_grade(grade, body, roles, allowed):
    hazard = rectified(grade)
    if allowed:
        assert verify(hazard, body, *roles) in roles
    else:
        with pytest.raises(DomainError) as refused:
            verify(hazard, body, *roles)
        assert (refused.value.field, refused.value.code) == ("actor", "AUTH-ROLE")
        assert f"VerifyHazard:{grade}" in str(refused.value)  # names the permission


def test_the_event_records_the_role_that_allowed_the_variant():
    """An inspector-and-regulator passes the service's check as an inspector (a general
    hazard would do); verifying a major one, the hazard records them as the regulator."""
    assert verify(rectified(Grade.MAJOR), COUNTY_VERIFIER, "sector_inspector",
                  "regulator") == "regulator"
    assert verify(rectified(Grade.GENERAL), COUNTY_VERIFIER, "sector_inspector",
                  "regulator") == "sector_inspector"


def test_a_listed_hazard_is_verified_at_its_listing_level_or_by_its_authority():
    with pytest.raises(DomainError) as refused:  # county level, below the city listing
        verify(rectified(Grade.MAJOR, listed_by=CITY_COMMITTEE), COUNTY_VERIFIER, "regulator")
    assert (refused.value.field, refused.value.code) == ("actor", "V5")
    assert verify(rectified(Grade.MAJOR, listed_by=CITY_COMMITTEE), CITY_VERIFIER,
                  "regulator") == "regulator"
    assert verify(rectified(Grade.MAJOR, listed_by=CITY_COMMITTEE), CITY_COMMITTEE,
                  "committee_staff") == "committee_staff"


def test_confirming_a_major_needs_county_level():
    found = Discovery("610902101201", "hazchem", Channel.SUPERVISORY_INSPECTION, FOUND,
                      "储罐泄漏", Category.UNSAFE_CONDITION, Grade.MAJOR)
    hazard = Hazard.report(as_(TOWN, "town_officer", command="ReportHazard"), uuid4(), found,
                           None, False)
    with pytest.raises(DomainError) as refused:
        hazard.confirm(as_(TOWN, "town_officer", command="ConfirmHazard", hours=1),
                       Grade.MAJOR, Treatment.DEADLINE, date(2021, 4, 30), criteria_ref="x")
    assert "ConfirmHazard:major" in str(refused.value)  # names the permission
    hazard.confirm(as_(TOWN, "town_officer", command="ConfirmHazard", hours=1),
                   Grade.GENERAL, Treatment.DEADLINE, date(2021, 4, 30))
    assert isinstance(hazard.treating_org_id, UUID)
