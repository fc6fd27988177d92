"""The world builder registers everything on both stores; a hazard runs its full lifecycle."""

from __future__ import annotations

from uuid import uuid4

from domain.hazards import HazardState
from tests.support.builders import build_world


def test_general_hazard_lifecycle(app, clock):
    world = build_world(app)
    hazard_id = uuid4()
    world.do("ReportHazard", "town", hazard_id=hazard_id, enterprise_id=world.enterprises["chem"],
             channel="supervisory_inspection", discovered_at="2021-03-01T08:30",
             description="消防通道堵塞", category="unsafe_condition")
    world.do("ConfirmHazard", "town", hazard_id=hazard_id, grade="general", treatment="deadline",
             deadline="2021-03-15")
    world.do("SubmitRectificationPlan", "chem", hazard_id=hazard_id, plan={"measures": "清理通道"})
    clock.advance(days=5)
    world.do("DeclareRectified", "chem", hazard_id=hazard_id, completed_at=clock.now)
    clock.advance(days=1)
    world.do("VerifyHazard", "town", hazard_id=hazard_id, passed=True, verified_at=clock.now)
    world.do("CloseHazard", "town", hazard_id=hazard_id, closed_at=clock.now)
    hazard = app.repository.get(hazard_id)
    assert hazard.state is HazardState.CLOSED
    assert hazard.version == 6
