"""Group commit on both stores: commands queued while another request writes are applied
in one batch, and each caller gets what its command alone would have got — applied, a
replay, or its own refusal — with nothing written for a refused one. The writer lock is
held while they queue, so they are grouped every time."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest

from domain.base import DomainError
from domain.commands import parse_command
from infra.http.group_commit import GroupCommit, Refused
from infra.intake.service import Zhibao
from infra.intake.unit_of_work import Issuer, Outcome
from tests.conftest import FakeClock, open_app
from tests.support.builders import World, build_world


def report(world: World, enterprise: str = "chem", **fields: Any) -> dict[str, Any]:
    return {"command": "ReportHazard", "enterprise_id": str(world.enterprises[enterprise]),
            "channel": "photo_report",
            "discovered_at": (world.app.clock() - timedelta(hours=1)).isoformat(),
            "description": "消防通道堵塞", "category": "unsafe_condition", **fields}


def alone(app: Zhibao, body: dict[str, Any], issuer: Issuer) -> DomainError:
    """The refusal the command gets when applied by itself (nothing written)."""
    with pytest.raises(DomainError) as refused:
        app.execute(parse_command(body), issuer)
    return refused.value


def queued_together(group: GroupCommit, sent: list[tuple[dict[str, Any], Issuer]]
                    ) -> list[Outcome | Exception]:
    """Each command from a thread of its own, queued in order while the writer lock is
    held, then written: what each caller got."""
    futures: list[Future[Outcome]] = []
    with ThreadPoolExecutor(len(sent)) as pool:
        with group.writing:
            for body, issuer in sent:
                futures.append(pool.submit(group.execute, parse_command(body), issuer))
                while len(group.queue) < len(futures):
                    time.sleep(0.001)
        return [f.exception() or f.result() for f in futures]  # type: ignore[misc]


def test_queued_commands_share_a_write_and_keep_their_own_outcomes(app: Zhibao) -> None:
    world = build_world(app)
    world.persons["auditor"] = world.person("county_gov", "auditor", name="审计员")
    village, auditor = world.issuer("village"), world.issuer("auditor")
    key = f"group-{uuid4()}"
    sent = [(report(world), village),
            (report(world, enterprise="mine"), village),  # outside the village
            (report(world, command_id=key), village),
            (report(world), auditor),  # no role to report
            (report(world, command_id=key), village),  # the same command again
            (report(world, command_id=key, description="另一处"), village),  # its id reused
            (report(world, description="第二处"), village)]
    expected = {1: alone(app, sent[1][0], village), 3: alone(app, sent[3][0], auditor)}
    before = app.recorder.max_notification_id() or 0

    got = queued_together(GroupCommit(app, threading.Lock()), sent)

    applied = [g for g in got if isinstance(g, Outcome) and not g.duplicate]
    assert [isinstance(g, Outcome) for g in got] == [True, False, True, False, True, False,
                                                     True]
    for line, error in expected.items():
        refusal = got[line]
        assert isinstance(refusal, Refused)
        assert (refusal.rejection.field, refusal.rejection.rule, refusal.rejection.code) == \
            (error.field, error.rule, error.code)
    replay = got[4]
    assert isinstance(replay, Outcome) and replay.duplicate
    assert replay.aggregate_id == got[2].aggregate_id  # type: ignore[union-attr]
    reused = got[5]
    assert isinstance(reused, Refused) and reused.rejection.code == "V11"
    assert len({g.aggregate_id for g in applied}) == 3
    assert (app.recorder.max_notification_id() or 0) == before + sum(g.events for g in applied)


def test_a_group_is_judged_on_what_other_processes_wrote(
        app: Zhibao, database_url: str, clock: FakeClock) -> None:
    """A hazard another process confirmed since this one last wrote it may be declared
    rectified: the group loads it afresh, as one command alone would, rather than judging
    on the reported hazard this process saw."""
    world = build_world(app)
    group = GroupCommit(app, threading.Lock())
    reported = group.execute(parse_command(report(world)), world.issuer("village"))
    other = open_app(database_url, clock)
    try:
        other.execute(parse_command({
            "command": "ConfirmHazard", "hazard_id": str(reported.aggregate_id),
            "grade": "general", "treatment": "deadline",
            "deadline": (clock() + timedelta(days=10)).date().isoformat()}),
            world.issuer("town"))
    finally:
        other.close()
    declared = group.execute(parse_command({
        "command": "DeclareRectified", "hazard_id": str(reported.aggregate_id),
        "completed_at": clock().isoformat(), "evidence": "整改照片"}), world.issuer("chem"))
    assert declared.events == 1 and not declared.duplicate
