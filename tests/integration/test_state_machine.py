"""The hazard state machine against the table of DOMAIN.md §6.2 (see tests/hazard_model.py):
every transition the table allows lands where the model says, and every other (state,
command) pair is rejected with a rule naming the state — writing nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from domain.hazards import Hazard, HazardState
from tests.support.hazard_model import (
    ALL_STATES,
    ALLOWED_FROM,
    CLOSED,
    CONFIRMED,
    ELIMINATED,
    OPEN,
    RECTIFIED,
    RECTIFYING,
    RELAPSE,
    REPORTED,
    VERIFIED,
    VOIDED,
    ModelHazard,
    apply,
)
from tests.support.hazard_paths import CRITERIA_REF, FULL_PLAN, Hazards


@dataclass(frozen=True)
class Attempt:
    """One command against a hazard: who sends it and with which fields. `stamp` names the
    command's own time field, filled in when it is sent."""

    command: str
    by: str
    fields: dict[str, Any]
    stamp: str | None = None


def attempt(hazards: Hazards, hazard_id: UUID, name: str, passed: bool = True,
            approve: bool = True) -> Attempt:
    """An authorised actor and valid fields for `name` on a hazard driven by `Hazards`, so
    the only thing that can stand in the command's way is the hazard's state."""
    hazard = hazards.get(hazard_id)
    grade = (hazard.grade or hazard.proposed_grade).value
    authority = hazards.authority(grade)
    enterprise = hazards.world.owner(hazard.enterprise_id)
    deadline = hazard.deadline or hazards.due(hazard_id)
    target = {"hazard_id": hazard_id}
    attempts = {
        "ConfirmHazard": lambda: Attempt(name, authority, {
            **target, "grade": grade, "treatment": "deadline", "deadline": deadline,
            "criteria_ref": CRITERIA_REF}),
        "RectifyHazardOnSpot": lambda: Attempt(name, "town", {
            **target, "rectified_at": hazard.discovered_at, "evidence": "现场整改照片"}),
        "VoidHazard": lambda: Attempt(name, "county_ema", {**target, "reason": "重复录入"}),
        "SubmitRectificationPlan": lambda: Attempt(name, enterprise, {
            **target, "plan": {**FULL_PLAN, "deadline": deadline}}),
        "ReviewRectificationPlan": lambda: Attempt(name, "county_ema", {
            **target, "approve": approve, "opinion": None if approve else "资金来源不明"}),
        "ReportRectificationProgress": lambda: Attempt(name, enterprise, {
            **target, "percent": 50}),
        "DeclareRectified": lambda: Attempt(name, enterprise, target, "completed_at"),
        "VerifyHazard": lambda: Attempt(name, authority, {
            **target, "passed": passed, "opinion": None if passed else "仍有渗漏"},
            "verified_at"),
        "CloseHazard": lambda: Attempt(name, authority, target, "closed_at"),
        "DelistHazard": lambda: Attempt(name, "county_gov", {**target, "delisting_doc": "摘牌"}),
        "TransferHazard": lambda: Attempt(name, "county_ema", {
            **target, "to_org_id": hazards.world.orgs["county_chem"], "reason": "危化品专项"}),
        "EliminateHazardByClosure": lambda: Attempt(name, "county_ema", target),
        "DecideDeadlineExtension": lambda: Attempt(
            name, "county_gov" if hazard.listing and not hazard.delisted else authority,
            {**target, "approve": True}),
        "RegradeHazard": lambda: Attempt(name, "county_ema", {
            **target, "to_grade": "general" if grade == "major" else "major",
            "reason": "复核", "criteria_ref": CRITERIA_REF}),
        "RequestDeadlineExtension": lambda: Attempt(name, enterprise, {
            **target, "new_deadline": deadline + timedelta(days=7), "reason": "设备到货延迟"},
            "requested_at"),
        "ListHazard": lambda: Attempt(name, "county_gov", {
            **target, "level": "county", "deadline": deadline}),
        RELAPSE: lambda: Attempt("ReportHazard", "town", {
            "hazard_id": uuid4(), "relapse_of": hazard_id, "unit_code": hazard.unit_code,
            "sector": hazard.sector, "channel": "supervisory_inspection",
            "description": "回头看发现复发",
            "category": "unsafe_condition"}, "discovered_at"),
        "CloseEnterprise": lambda: Attempt(name, "county_ema", {
            "enterprise_id": hazard.enterprise_id, "on": hazards.clock.now.date(),
            "reason": "关闭取缔"}),
    }
    return attempts[name]()


def send(hazards: Hazards, hazard_id: UUID, name: str, **choice: bool) -> None:
    a = attempt(hazards, hazard_id, name, **choice)
    hazards.do(a.command, a.by, stamp=a.stamp, **a.fields)


# -- everything else is rejected -------------------------------------------------------------

SUBJECTS = {  # the hazard each state is tried on: listed majors wherever a listing can be
    REPORTED: ("general", False),
    VOIDED: ("general", False),
    CONFIRMED: ("major", True),
    RECTIFYING: ("major", True),
    RECTIFIED: ("major", True),
    VERIFIED: ("major", True),
    CLOSED: ("major", True),
    ELIMINATED: ("major", True),
}

OTHER_CODES = {"CloseHazard": "V4"}  # closing before a passing verification is V4's own case


def test_the_model_covers_every_state():
    assert SUBJECTS.keys() == ALL_STATES
    assert all(allowed <= ALL_STATES for allowed in ALLOWED_FROM.values())


@pytest.mark.parametrize("state", sorted(ALL_STATES))
def test_every_transition_outside_the_table_is_rejected(hazards, state):
    grade, listed = SUBJECTS[state]
    hazard_id = hazards.drive(state, grade, listed)
    version = hazards.get(hazard_id).version
    wrong: list[str] = []
    forbidden = sorted(name for name, allowed in ALLOWED_FROM.items() if state not in allowed)
    assert forbidden, f"nothing is forbidden from {state}?"
    for name in forbidden:
        a = attempt(hazards, hazard_id, name)
        fields = {**a.fields, **({a.stamp: hazards.clock.now} if a.stamp else {})}
        error = hazards.world.rejects(a.command, a.by, **fields)
        expected_field = "relapse_of" if name == RELAPSE else "hazard_id"
        expected_code = OTHER_CODES.get(name, "LIFECYCLE")
        if (error.field, error.code) != (expected_field, expected_code):
            wrong.append(f"{name}: {error}")
    hazard = hazards.get(hazard_id)
    assert (hazard.state, hazard.version) == (state, version)
    assert not wrong, f"from {state}, rejected for the wrong reason:\n" + "\n".join(wrong)


# -- what the table allows lands where the model says ------------------------------------


@dataclass(frozen=True)
class Scenario:
    """`command` tried on a hazard in state `start`: driven to `drive_to` (by default
    `start`), then set up by the commands `before`."""

    command: str
    start: HazardState
    grade: str = "general"
    listed: bool = False
    before: tuple[str, ...] = ()
    drive_to: HazardState | None = None
    choice: dict[str, bool] = field(default_factory=dict)


def _in(command: str, states: frozenset[HazardState], **kwargs: Any) -> list[Scenario]:
    return [Scenario(command, state, **kwargs) for state in sorted(states)]


SCENARIOS = [
    Scenario("ConfirmHazard", REPORTED),
    Scenario("ConfirmHazard", REPORTED, "major"),
    Scenario("RectifyHazardOnSpot", REPORTED),
    *_in("VoidHazard", frozenset({REPORTED, CONFIRMED})),
    Scenario("SubmitRectificationPlan", CONFIRMED),
    Scenario("SubmitRectificationPlan", CONFIRMED, "major"),
    Scenario("ReviewRectificationPlan", CONFIRMED, "major", before=("SubmitRectificationPlan",)),
    Scenario("ReviewRectificationPlan", CONFIRMED, "major", before=("SubmitRectificationPlan",),
             choice={"approve": False}),
    Scenario("ReportRectificationProgress", RECTIFYING),
    Scenario("DeclareRectified", CONFIRMED),
    Scenario("DeclareRectified", RECTIFYING, "major"),
    Scenario("VerifyHazard", RECTIFIED),
    Scenario("VerifyHazard", RECTIFIED, choice={"passed": False}),
    Scenario("VerifyHazard", RECTIFIED, "major", listed=True),
    Scenario("CloseHazard", VERIFIED),
    Scenario("CloseHazard", VERIFIED, "major", listed=True, before=("DelistHazard",)),
    Scenario("DelistHazard", VERIFIED, "major", listed=True),
    *_in("TransferHazard", OPEN),
    *_in("EliminateHazardByClosure", OPEN, before=("CloseEnterprise",)),
    Scenario("DecideDeadlineExtension", CONFIRMED, before=("RequestDeadlineExtension",)),
    Scenario("DecideDeadlineExtension", RECTIFYING, before=("RequestDeadlineExtension",)),
    Scenario("DecideDeadlineExtension", RECTIFYING, "major", listed=True,
             before=("RequestDeadlineExtension",)),
    Scenario("DecideDeadlineExtension", RECTIFIED, drive_to=RECTIFYING,
             before=("RequestDeadlineExtension", "DeclareRectified")),
    Scenario("DecideDeadlineExtension", VERIFIED, drive_to=RECTIFYING,
             before=("RequestDeadlineExtension", "DeclareRectified", "VerifyHazard")),
    *_in("RegradeHazard", OPEN - {REPORTED}),
    Scenario("RegradeHazard", CONFIRMED, "major"),
    *_in("RequestDeadlineExtension", frozenset({CONFIRMED, RECTIFYING})),
    *_in("ListHazard", frozenset({CONFIRMED, RECTIFYING, RECTIFIED}), grade="major"),
    Scenario(RELAPSE, CLOSED),
]


def test_the_scenarios_cover_the_table():
    """Every allowed (command, state) pair is tried, but deciding an extension before the
    hazard has a deadline that could have been extended (REPORTED)."""
    tried = {(s.command, s.start) for s in SCENARIOS}
    table = {(name, state) for name, states in ALLOWED_FROM.items() for state in states}
    assert table - tried == {("DecideDeadlineExtension", REPORTED)}


def test_every_transition_in_the_table_lands_where_the_model_says(hazards):
    wrong: list[str] = []
    for s in SCENARIOS:
        hazard_id = hazards.drive(s.drive_to or s.start, s.grade, s.listed,
                                  hazards.new_enterprise())
        for step in s.before:
            send(hazards, hazard_id, step)
        hazard: Hazard = hazards.get(hazard_id)
        assert hazard.state is s.start, s
        model = ModelHazard(hazard.state, hazard.grade and hazard.grade.value,
                            hazard.listing is not None, hazard.delisted)
        a = attempt(hazards, hazard_id, s.command, **s.choice)
        outcome = hazards.do(a.command, a.by, stamp=a.stamp, **a.fields)
        apply(model, s.command, {**a.fields, **s.choice})
        after = hazards.get(hazard_id)
        if outcome.events == 0 or after.state is not model.state or \
                (after.grade and after.grade.value) != model.grade:
            wrong.append(f"{s}: now {after.state} {after.grade}, model {model}")
    assert not wrong, "\n".join(wrong)
