"""A reference model of the hazard state machine, written from the table in DOMAIN.md §6.2
(not from domain/hazards.py), that the tests hold the real aggregate against.

The model says from which states each command may start and where an accepted command
leads. It does not judge the other guards (who acts, dates, grades): a command the model
allows may still be rejected, but a command it forbids must be, and an accepted command
must land exactly where the model says.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from domain.hazards import HazardState

REPORTED = HazardState.REPORTED
CONFIRMED = HazardState.CONFIRMED
RECTIFYING = HazardState.RECTIFYING
RECTIFIED = HazardState.RECTIFIED
VERIFIED = HazardState.VERIFIED
CLOSED = HazardState.CLOSED
VOIDED = HazardState.VOIDED
ELIMINATED = HazardState.ELIMINATED_BY_CLOSURE

OPEN = frozenset({REPORTED, CONFIRMED, RECTIFYING, RECTIFIED, VERIFIED})
TERMINAL = frozenset({CLOSED, VOIDED, ELIMINATED})
ALL_STATES = OPEN | TERMINAL

RELAPSE = "ReportHazard(relapse_of)"
"""Reporting a new hazard as the relapse of an old one is a step of the old hazard too."""

ALLOWED_FROM: dict[str, frozenset[HazardState]] = {
    # REPORTED → CONFIRMED
    "ConfirmHazard": frozenset({REPORTED}),
    # REPORTED → CLOSED: the on-the-spot fast path of a general hazard
    "RectifyHazardOnSpot": frozenset({REPORTED}),
    # REPORTED → VOIDED by "the recording unit (before confirmation) or its parent": the
    # parent may still void a confirmed record
    "VoidHazard": frozenset({REPORTED, CONFIRMED}),
    # CONFIRMED → RECTIFYING: RectificationPlanSubmitted (+ Approved for a major)
    "SubmitRectificationPlan": frozenset({CONFIRMED}),
    "ReviewRectificationPlan": frozenset({CONFIRMED}),
    # progress is what RECTIFYING (整改中) reports
    "ReportRectificationProgress": frozenset({RECTIFYING}),
    # CONFIRMED/RECTIFYING → RECTIFIED
    "DeclareRectified": frozenset({CONFIRMED, RECTIFYING}),
    # RECTIFIED → VERIFIED (pass) or → RECTIFYING (fail)
    "VerifyHazard": frozenset({RECTIFIED}),
    # VERIFIED → CLOSED, a listed hazard delisted first
    "CloseHazard": frozenset({VERIFIED}),
    "DelistHazard": frozenset({VERIFIED}),
    # any open → TRANSFERRED: zhibao keeps the same stream under the receiving body (§6.1
    # "same id with new owner"), so the state itself does not change
    "TransferHazard": OPEN,
    # any open → ELIMINATED_BY_CLOSURE
    "EliminateHazardByClosure": OPEN,
    # any open → (same): DeadlineExtended decides a pending request
    "DecideDeadlineExtension": OPEN,
    # "any open", narrowed to the states where the command has something to act on:
    # regrading changes a grade, which confirmation sets;
    "RegradeHazard": OPEN - {REPORTED},
    # an extension moves a deadline (set at confirmation) while the work is not yet done;
    "RequestDeadlineExtension": frozenset({CONFIRMED, RECTIFYING}),
    # listing supervises a graded major hazard's rectification until it is accepted
    "ListHazard": frozenset({CONFIRMED, RECTIFYING, RECTIFIED}),
    # CLOSED → a new hazard linked to the old one; the old one stays closed
    RELAPSE: frozenset({CLOSED}),
}


@dataclass
class ModelHazard:
    """What the model remembers of one hazard."""

    state: HazardState = REPORTED
    grade: str | None = None
    listed: bool = False
    delisted: bool = False


def allowed(hazard: ModelHazard, command: str) -> bool:
    return hazard.state in ALLOWED_FROM[command]


def apply(hazard: ModelHazard, command: str, fields: dict[str, Any]) -> None:
    """Move the model along an accepted command (which it must allow)."""
    assert allowed(hazard, command), f"{command} is not allowed from {hazard.state}"
    if command == "ConfirmHazard":
        hazard.state, hazard.grade = CONFIRMED, fields["grade"]
    elif command == "RectifyHazardOnSpot":
        hazard.state, hazard.grade = CLOSED, "general"
    elif command == "VoidHazard":
        hazard.state = VOIDED
    elif command == "SubmitRectificationPlan":
        # a general plan takes effect when submitted; a major one waits for approval
        hazard.state = RECTIFYING if hazard.grade == "general" else CONFIRMED
    elif command == "ReviewRectificationPlan":
        hazard.state = RECTIFYING if fields["approve"] else CONFIRMED
    elif command == "DeclareRectified":
        hazard.state = RECTIFIED
    elif command == "VerifyHazard":
        hazard.state = VERIFIED if fields["passed"] else RECTIFYING
    elif command in ("CloseHazard", "EliminateHazardByClosure"):
        hazard.state = CLOSED if command == "CloseHazard" else ELIMINATED
    elif command == "RegradeHazard":
        _regrade(hazard, fields["to_grade"])
    elif command == "ListHazard":
        hazard.listed = True
    elif command == "DelistHazard":
        hazard.delisted = True


def _regrade(hazard: ModelHazard, to_grade: str) -> None:
    """General → major "needs plan": a major is rectified only under an approved 五到位
    plan (V6), so a hazard being rectified goes back to CONFIRMED for one; and only a body
    authorised for majors accepts one (V4), so a verified hazard awaits verification again."""
    if to_grade == "major" and hazard.state is RECTIFYING:
        hazard.state = CONFIRMED
    if to_grade == "major" and hazard.state is VERIFIED:
        hazard.state = RECTIFIED
    hazard.grade = to_grade
