"""Hazards in memory, for domain rule tests without a database: the bodies that act on them,
a person of a body as the service hands them to the domain (`as_`), and hazards driven to a
state through the aggregate's own methods."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from uuid import uuid4

from domain import authority
from domain.base import SHANGHAI, Actor, Context, Level, OrgProfile, OrgType
from domain.hazards import (
    Category,
    Channel,
    Discovery,
    Grade,
    Hazard,
    ListingLevel,
    RectificationPlan,
    Treatment,
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


DEADLINE = date(2021, 4, 30)
PLAN = RectificationPlan("更换阀门", "设备部", "王工", 10_000, "自筹", date(2021, 4, 20),
                         "应急预案")
"""A plan with all of 五到位."""


def reported(grade: Grade = Grade.GENERAL) -> Hazard:
    """A hazard the town reported at FOUND, at an enterprise in 一村."""
    found = Discovery("610902101201", "hazchem", Channel.SUPERVISORY_INSPECTION, FOUND,
                      "储罐泄漏", Category.UNSAFE_CONDITION, grade, enterprise_id=ENTERPRISE.org_id)
    return Hazard.report(as_(TOWN, "town_officer", command="ReportHazard"), uuid4(), found,
                         None, False)


def confirmed(grade: Grade) -> Hazard:
    """Reported, then confirmed an hour later by a county regulator, due DEADLINE."""
    hazard = reported(grade)
    hazard.confirm(as_(COUNTY_VERIFIER, "regulator", command="ConfirmHazard", hours=1), grade,
                   Treatment.DEADLINE, DEADLINE, criteria_ref="判定标准 第一条")
    return hazard


def rectified(grade: Grade, listed_by: OrgProfile | None = None) -> Hazard:
    """Confirmed, listed by `listed_by` if given, its plan submitted (and for a major one
    approved) and declared rectified five hours after it was found."""
    hazard = confirmed(grade)
    if listed_by is not None:
        hazard.list_hazard(as_(listed_by, "committee_staff", command="ListHazard", hours=2),
                           ListingLevel.CITY, DEADLINE, None, "挂牌1号")
    hazard.submit_plan(as_(ENTERPRISE, "enterprise_principal",
                           command="SubmitRectificationPlan", hours=3), PLAN)
    if grade is Grade.MAJOR:
        hazard.review_plan(as_(COUNTY_VERIFIER, "regulator", command="ReviewRectificationPlan",
                               hours=4), True, None)
    hazard.complete(as_(ENTERPRISE, "enterprise_principal", command="DeclareRectified",
                        hours=5), FOUND + timedelta(hours=5), None)
    return hazard
