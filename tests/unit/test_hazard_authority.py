"""Authority the hazard decides, in memory: which variant of a command applies (a general,
a major or a listed hazard) and so which roles, levels and powers may act — and that the
event records the role that allowed the variant, not merely the command."""

from __future__ import annotations

from datetime import date, timedelta
from uuid import UUID

import pytest

from domain.base import DomainError, OrgProfile
from domain.hazards import Grade, Hazard, Treatment, VerificationMethod
from tests.support.hazard_memory import (
    CITY_COMMITTEE,
    CITY_VERIFIER,
    COUNTY_DEPT,
    COUNTY_VERIFIER,
    FOUND,
    TOWN,
    as_,
    rectified,
    reported,
)


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
    hazard = reported(Grade.MAJOR)
    with pytest.raises(DomainError) as refused:
        hazard.confirm(as_(TOWN, "town_officer", command="ConfirmHazard", hours=1),
                       Grade.MAJOR, Treatment.DEADLINE, date(2021, 4, 30), criteria_ref="x")
    assert "ConfirmHazard:major" in str(refused.value)  # names the permission
    hazard.confirm(as_(TOWN, "town_officer", command="ConfirmHazard", hours=1),
                   Grade.GENERAL, Treatment.DEADLINE, date(2021, 4, 30))
    assert isinstance(hazard.treating_org_id, UUID)
