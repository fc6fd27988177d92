"""Two application instances (two processes, in effect) on the same database, both stores:
when both change the same hazard from the same version, exactly one wins and the other gets
a ConflictError that says what to do — never a lost update. The interleaving is explicit
(two units of work, loaded before either stores), so the race happens every time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from domain.base import DomainError
from domain.codes import complete_uscc
from domain.commands import parse_command
from domain.hazards import HazardState
from infra.service import ConflictError, UnitOfWork, Zhibao
from tests.builders import SYSTEM, World, actor, stored_types
from tests.conftest import open_app
from tests.hazard_paths import FULL_PLAN, Hazards, hazards_in_new_world
from tests.test_chain import assert_chained


@pytest.fixture
def hazards(database_url: str) -> Iterator[Hazards]:
    with hazards_in_new_world(database_url) as fresh:
        yield fresh


@pytest.fixture
def rival(hazards: Hazards) -> Iterator[Zhibao]:
    """A second application on the same database, started after the world was built."""
    app = open_app(hazards.world.app.settings.database_url, hazards.clock)
    yield app
    app.close()


def command(world: World, name: str, by: str, **fields: Any) -> Any:
    org = world.orgs.get(by) or world.enterprises[by]
    return parse_command({"command": name, "actor": actor(org), **{
        k: str(v) if isinstance(v, UUID) else v for k, v in fields.items()}})


def test_two_writers_on_one_hazard_one_wins_one_gets_a_conflict(hazards, rival):
    world, app = hazards.world, hazards.world.app
    hazard_id = hazards.drive(HazardState.CONFIRMED)
    plan = command(world, "SubmitRectificationPlan", "chem", hazard_id=hazard_id,
                   plan={**FULL_PLAN, "deadline": hazards.due(hazard_id).isoformat()})
    void = command(world, "VoidHazard", "county_ema", hazard_id=hazard_id, reason="重复录入")
    before = app.recorder.max_notification_id()

    first, second = UnitOfWork(app, cached=False), UnitOfWork(rival, cached=False)
    first.run(plan)
    second.run(void)  # both loaded version 2 and decided on it
    first.store()
    with pytest.raises(ConflictError) as conflict:
        second.store()
    second.abandon()

    assert str(conflict.value) == (
        f"conflict: {hazard_id} was changed concurrently (or already exists); nothing was "
        "written — reload and retry")
    assert stored_types(app, hazard_id) == ["HazardReported", "HazardConfirmed",
                                            "RectificationPlanSubmitted"]
    assert app.recorder.max_notification_id() == before + 1
    assert rival.repository.get(hazard_id).state is HazardState.RECTIFYING


def test_the_loser_retries_on_the_fresh_state(hazards, rival):
    """Reload and retry: the retry is judged against what the winner wrote, and its event
    continues the hash chain the winner extended."""
    world = hazards.world
    hazard_id = hazards.drive(HazardState.CONFIRMED)
    plan = command(world, "SubmitRectificationPlan", "chem", hazard_id=hazard_id,
                   plan={"measures": "清理通道"})
    extension = command(world, "RequestDeadlineExtension", "chem", hazard_id=hazard_id,
                        new_deadline=(hazards.due(hazard_id) + timedelta(days=7)).isoformat(),
                        reason="设备到货延迟", requested_at=hazards.clock.now.isoformat())
    first, second = UnitOfWork(world.app, cached=False), UnitOfWork(rival, cached=False)
    first.run(plan)
    second.run(extension)
    first.store()
    with pytest.raises(ConflictError):
        second.store()
    second.abandon()

    assert rival.execute(extension).events == 1
    assert stored_types(world.app, hazard_id)[2:] == ["RectificationPlanSubmitted",
                                                      "DeadlineExtensionRequested"]
    assert assert_chained(world.app, hazard_id) == 4
    assert world.app.repository.get(hazard_id).pending_extension is not None


def test_two_writers_creating_the_same_hazard_the_second_is_told_the_id_exists(hazards,
                                                                              rival):
    world = hazards.world
    hazard_id = uuid4()
    report = command(world, "ReportHazard", "town", hazard_id=hazard_id,
                     enterprise_id=world.enterprises["chem"], channel="supervisory_inspection",
                     discovered_at=hazards.clock.now.isoformat(), description="配电箱未上锁",
                     category="unsafe_condition")
    first, second = UnitOfWork(world.app, cached=False), UnitOfWork(rival, cached=False)
    first.run(report)
    second.run(report)
    first.store()
    with pytest.raises(DomainError) as rejected:
        second.store()
    second.abandon()
    assert (rejected.value.field, rejected.value.rule) == (
        "hazard_id", f"{hazard_id} already exists")
    assert stored_types(world.app, hazard_id) == ["HazardReported"]


def test_a_reference_event_recorded_between_our_look_and_our_write_is_still_folded(
        hazards, rival):
    """After its own commit a writer's directory skips its own events without reading them
    back — only when nothing else was recorded in between. Here another process registers
    an enterprise between our directory's last look and our write: it must still be seen."""
    world, app = hazards.world, hazards.world.app
    app.refresh_directory()
    ours = UnitOfWork(app, cached=False)
    ours.run(command(world, "ReportHazard", "town", enterprise_id=world.enterprises["chem"],
                     channel="supervisory_inspection", description="灭火器过期",
                     discovered_at=hazards.clock.now.isoformat(), category="unsafe_condition"))
    theirs = uuid4()
    rival.execute(parse_command({
        "command": "RegisterEnterprise", "actor": SYSTEM, "enterprise_id": str(theirs),
        "uscc": complete_uscc("91610902MA0099999"), "name": "新开的加油站",
        "unit_code": "610902101201", "sectors": ["hazchem"], "registered_on": "2020-01-01"}))
    ours.store()

    app.refresh_directory()
    assert theirs in app.directory.enterprises
    world.do("ReportHazard", "town", enterprise_id=theirs, channel="supervisory_inspection",
             discovered_at=hazards.clock.now.isoformat(), description="储罐区无警示标识",
             category="unsafe_condition")
