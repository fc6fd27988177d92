"""Two application instances (two processes, in effect) on the same database, both stores:
when both change the same hazard from the same version, exactly one wins and the other gets
a ConflictError that says what to do — never a lost update. The interleaving is explicit
(two units of work, loaded before either stores), so the race happens every time."""

from __future__ import annotations

import dataclasses
import multiprocessing
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.utils import get_topic

from domain.base import SHANGHAI, DomainError
from domain.codes import complete_uscc
from domain.commands import Command, parse_command
from domain.enterprises import Enterprise
from domain.hazards import HazardState
from infra.intake.service import ATTEMPTS, Zhibao
from infra.intake.unit_of_work import ConflictError, Issuer, UnitOfWork
from infra.settings import Settings
from infra.store.recorders import StaleRead
from infra.store.records import event_payload, event_type
from tests.conftest import FakeClock, open_app
from tests.integration.test_chain import assert_chained
from tests.support.builders import ADMIN, World, stored_types
from tests.support.hazard_paths import FULL_PLAN, Hazards, hazards_in_new_world


@pytest.fixture
def hazards(database_url: str) -> Iterator[Hazards]:
    with hazards_in_new_world(database_url) as fresh:
        ADMINISTRATOR[database_url] = fresh.world.issuer(ADMIN)
        yield fresh
        del ADMINISTRATOR[database_url]


@pytest.fixture
def rival(hazards: Hazards) -> Iterator[Zhibao]:
    """A second application on the same database, started after the world was built."""
    app = open_app(hazards.world.app.settings.database_url, hazards.clock)
    yield app
    app.close()


def command(world: World, name: str, by: str, **fields: Any) -> tuple[Command, Issuer]:
    """A command and its issuer (the person of the org or enterprise named `by`)."""
    return parse_command({"command": name, **{
        k: str(v) if isinstance(v, UUID) else v for k, v in fields.items()}}), world.issuer(by)


def test_two_writers_on_one_hazard_one_wins_one_gets_a_conflict(hazards, rival):
    world, app = hazards.world, hazards.world.app
    hazard_id = hazards.drive(HazardState.CONFIRMED)
    plan = command(world, "SubmitRectificationPlan", "chem", hazard_id=hazard_id,
                   plan={**FULL_PLAN, "deadline": hazards.due(hazard_id).isoformat()})
    void = command(world, "VoidHazard", "county_ema", hazard_id=hazard_id, reason="重复录入")
    before = app.recorder.max_notification_id()

    first, second = UnitOfWork(app, cached=False), UnitOfWork(rival, cached=False)
    first.run(*plan)
    second.run(*void)  # both loaded version 2 and decided on it
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
    first.run(*plan)
    second.run(*extension)
    first.store()
    with pytest.raises(ConflictError):
        second.store()
    second.abandon()

    assert rival.execute(*extension).events == 1
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
    first.run(*report)
    second.run(*report)
    first.store()
    with pytest.raises(DomainError) as rejected:
        second.store()
    second.abandon()
    assert (rejected.value.field, rejected.value.code) == ("hazard_id", "REF")
    assert stored_types(world.app, hazard_id) == ["HazardReported"]


def report_at(hazards: Hazards, enterprise_id: UUID,
              description: str) -> tuple[Command, Issuer]:
    return command(hazards.world, "ReportHazard", "town", enterprise_id=enterprise_id,
                   channel="supervisory_inspection", description=description,
                   discovered_at=hazards.clock.now.isoformat(), category="unsafe_condition")


def register_enterprise(rival: Zhibao, enterprise_id: UUID) -> None:
    rival.execute(parse_command({
        "command": "RegisterEnterprise", "enterprise_id": str(enterprise_id),
        "uscc": complete_uscc(f"91610902{uuid4().int % 10**9:09d}"), "name": "新开的加油站",
        "unit_code": "610902101201", "sectors": ["hazchem"], "registered_on": "2020-01-01"}),
        ADMINISTRATOR[rival.settings.database_url])


ADMINISTRATOR: dict[str, Issuer] = {}
"""The world's staff member who registers enterprises, by store (for `register_enterprise`)."""


class RivalActsMidCommand:
    """A clock that, each time our command asks it the time (after our directory's last
    look, before our judgment and write), lets another process act first — the next of
    `rival_acts`, while there are any."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.rival_acts: list[Callable[[], object]] = []

    def __call__(self) -> datetime:
        if self.rival_acts:
            self.rival_acts.pop(0)()
        return self.clock()


@pytest.fixture
def ours(hazards: Hazards) -> Iterator[tuple[Zhibao, RivalActsMidCommand]]:
    clock = RivalActsMidCommand(hazards.clock)
    app = Zhibao(hazards.world.app.settings, clock=clock)
    yield app, clock
    app.close()


def test_a_write_judged_before_another_writer_recorded_reference_data_is_refused(hazards,
                                                                               rival):
    """Our directory's horizon travels with the write: another process registered an
    enterprise after our last look, so the write is refused and nothing is written."""
    app = hazards.world.app
    ours = UnitOfWork(app, cached=False)
    ours.run(*report_at(hazards, hazards.world.enterprises["chem"], "灭火器过期"))
    register_enterprise(rival, uuid4())
    before = app.recorder.max_notification_id()

    with pytest.raises(StaleRead):
        ours.store()
    ours.abandon()

    assert app.recorder.max_notification_id() == before


def test_a_command_is_judged_again_when_reference_data_changed_under_it(hazards, rival, ours):
    """Another process closes the enterprise while our command is being judged: our first
    write is refused as stale, and judged again the command is rejected — the hazard is
    never recorded at a closed enterprise."""
    app, clock = ours
    chem = hazards.world.enterprises["chem"]
    clock.rival_acts = [lambda: rival.execute(*command(
        hazards.world, "CloseEnterprise", "county_ema", enterprise_id=chem,
        on=hazards.clock.now.date().isoformat(), reason="关闭取缔"))]
    before = app.recorder.max_notification_id()

    with pytest.raises(DomainError) as rejected:
        app.execute(*report_at(hazards, chem, "储罐区无警示标识"))

    assert (rejected.value.field, rejected.value.code) == ("enterprise_id", "V9")
    assert app.recorder.max_notification_id() == before + 1  # the closure only


def test_a_command_refused_as_stale_every_time_gets_through_holding_the_write_lock(
        hazards, rival, ours):
    """Another process records an enterprise during each of our first attempts, so each
    write is refused as stale. The last attempt holds the store's write lock from its
    refresh to its commit: a rival write started in the middle of it waits, and lands
    after ours."""
    app, clock = ours
    rival_write = threading.Thread(target=lambda: register_enterprise(rival, uuid4()))
    still_waiting: list[bool] = []

    def start_a_rival_write_and_give_it_time() -> None:
        rival_write.start()
        rival_write.join(0.5)
        still_waiting.append(rival_write.is_alive())

    clock.rival_acts = [lambda: register_enterprise(rival, uuid4())] * (ATTEMPTS - 1) + [
        start_a_rival_write_and_give_it_time]

    outcome = app.execute(*report_at(hazards, hazards.world.enterprises["chem"], "灭火器过期"))
    rival_write.join(30)

    assert outcome.events == 1 and not clock.rival_acts
    assert still_waiting == [True]
    last_two = app.recorder.select_notifications(
        start=app.recorder.max_notification_id() - 1, limit=2)
    assert [event_type(n.topic) for n in last_two] == ["HazardReported", "EnterpriseRegistered"]

def test_a_command_naming_an_enterprise_registered_elsewhere_is_accepted(hazards, rival,
                                                                         ours):
    """Rejected on the directory as this process held it, the command is judged again
    on the refreshed directory, which knows the new enterprise."""
    app, _ = ours
    theirs = uuid4()
    register_enterprise(rival, theirs)

    outcome = app.execute(*report_at(hazards, theirs, "储罐区无警示标识"))

    assert outcome.events == 1
    assert stored_types(app, outcome.aggregate_id) == ["HazardReported"]


def test_other_writers_events_that_are_not_reference_data_let_the_write_through(hazards,
                                                                               rival, ours):
    """Another process records a hazard between our look and our write: nothing our
    judgment depends on, so the write stands and the directory moves past both."""
    app, clock = ours
    chem = hazards.world.enterprises["chem"]
    clock.rival_acts = [lambda: rival.execute(*report_at(hazards, chem, "配电箱未上锁"))]

    outcome = app.execute(*report_at(hazards, chem, "灭火器过期"))

    assert outcome.events == 1
    last = app.recorder.max_notification_id()
    assert app.recorder.select_notifications(start=last - 1, limit=2)[0].originator_id != \
        outcome.aggregate_id
    assert app.directory.position == last


def test_a_batch_judged_before_reference_data_changed_is_judged_again(hazards, rival, ours):
    """Mid-batch another process closes one line's enterprise: the batch's write is
    refused as stale, and judged again that line is rejected while the others land."""
    app, clock = ours
    doomed = hazards.world.enterprises[hazards.new_enterprise()]
    chem = hazards.world.enterprises["chem"]
    app.refresh_directory()
    clock.rival_acts = [lambda: rival.execute(*command(
        hazards.world, "CloseEnterprise", "county_ema", enterprise_id=doomed,
        on=hazards.clock.now.date().isoformat(), reason="关闭取缔"))]
    lines = [(n, issuer, line) for n, (line, issuer) in enumerate([
        report_at(hazards, chem, "灭火器过期"), report_at(hazards, doomed, "储罐区无警示标识"),
        report_at(hazards, chem, "配电箱未上锁")], start=1)]

    [result] = app.execute_batch(lines)

    assert (result.applied, result.events) == (2, 2)
    assert [(r.line, r.field, r.code) for r in result.rejections] == [(2, "enterprise_id", "V9")]


def test_a_process_may_change_an_enterprise_registered_after_its_last_look(hazards, rival):
    """The rival's directory has never seen the new enterprise; closing it must still work,
    and leave the rival's directory knowing it, closed."""
    enterprise_id = hazards.world.enterprises[hazards.new_enterprise()]

    outcome = rival.execute(*command(hazards.world, "CloseEnterprise", "county_ema",
                                    enterprise_id=enterprise_id,
                                    on=hazards.clock.now.date().isoformat(), reason="关闭取缔"))

    assert outcome.events == 1
    assert rival.directory.enterprise("enterprise_id", enterprise_id).closed_on == \
        hazards.clock.now.date()


# -- two processes at once: the horizon under real parallelism ---------------------------------

RACED = 24


def _report_each_new_enterprise(database_url: str, town_officer: str, ready: Any,
                                outcomes: Any) -> None:
    """The writer: a long-lived process whose directory predates every enterprise it
    reports at. For each registration it sees in the log it reports a hazard at once."""
    app = Zhibao(Settings(database_url=database_url))
    registered = get_topic(Enterprise.EnterpriseRegistered)
    cursor = app.recorder.max_notification_id() or 0
    ready.set()
    seen = 0
    while seen < RACED:
        for notification in app.recorder.select_notifications(
                start=cursor, limit=100, topics=[registered], inclusive_of_start=False):
            cursor, seen = notification.id, seen + 1
            outcomes.put((str(notification.originator_id), _report(
                app, town_officer, notification.originator_id)))
    app.close()


def _report(app: Zhibao, town_officer: str, enterprise_id: UUID) -> str:
    try:
        app.execute(parse_command({
            "command": "ReportHazard", "enterprise_id": str(enterprise_id),
            "channel": "supervisory_inspection",
            "discovered_at": datetime.now(SHANGHAI).isoformat(), "description": "消防通道堵塞",
            "category": "unsafe_condition"}), Issuer(UUID(town_officer)))
    except DomainError as e:
        return "closed" if (e.field, e.code) == ("enterprise_id", "V9") else str(e)
    except Exception as e:
        return f"{type(e).__name__}: {e}"
    return "reported"


def _register_and_close_half(database_url: str, registrar: str, enforcer: str,
                             ready: Any) -> None:
    """The rival: registers enterprises, closing every other one right after."""
    app = Zhibao(Settings(database_url=database_url))
    ready.wait(60)
    for serial in range(RACED):
        enterprise_id = uuid4()
        app.execute(parse_command({
            "command": "RegisterEnterprise", "enterprise_id": str(enterprise_id),
            "uscc": complete_uscc(f"91610902{uuid4().int % 10**9:09d}"), "name": f"竞速{serial}",
            "unit_code": "610902101201", "sectors": ["hazchem"], "registered_on": "2010-01-01"}),
            Issuer(UUID(registrar)))
        if serial % 2 == 0:
            app.execute(parse_command({
                "command": "CloseEnterprise", "enterprise_id": str(enterprise_id),
                "on": datetime.now(SHANGHAI).date().isoformat(), "reason": "关闭取缔"}),
                Issuer(UUID(enforcer)))
    app.close()


def test_two_processes_racing_never_record_a_hazard_after_its_enterprise_closed(hazards):
    """Two OS processes on one store. One registers enterprises and closes every other one
    at once; the other, whose directory knows none of them, reports a hazard at each as
    soon as it sees the registration. Whichever way each race goes, a hazard is recorded
    only before its enterprise's closure, a rejection names the closure, and an enterprise
    left open always gets its hazard."""
    world = hazards.world
    url = world.app.settings.database_url
    start = world.app.recorder.max_notification_id()
    spawn = multiprocessing.get_context("spawn")
    ready, outcomes = spawn.Event(), spawn.Queue()
    writer = spawn.Process(target=_report_each_new_enterprise,
                           args=(url, str(world.persons["town"]), ready, outcomes))
    rival = spawn.Process(target=_register_and_close_half,
                          args=(url, str(world.persons[ADMIN]), str(world.persons["county_ema"]),
                                ready))
    with running(writer, rival):
        results = dict(outcomes.get(timeout=60) for _ in range(RACED))

    assert (writer.exitcode, rival.exitcode) == (0, 0)
    assert set(results.values()) <= {"reported", "closed"}, results
    closed_at: dict[str, int] = {}
    reported_at: dict[str, list[int]] = {}
    for notification in world.app.recorder.select_notifications(
            start=start, limit=10 * RACED, inclusive_of_start=False):
        payload = event_payload(notification.state)
        if event_type(notification.topic) == "EnterpriseClosed":
            closed_at[str(notification.originator_id)] = notification.id
        elif event_type(notification.topic) == "HazardReported":
            reported_at.setdefault(payload["enterprise_id"], []).append(notification.id)
    assert len(closed_at) == RACED // 2
    for enterprise_id, outcome in results.items():
        if enterprise_id in closed_at:
            assert all(at < closed_at[enterprise_id] for at in reported_at.get(enterprise_id, []))
            assert (outcome == "reported") == (enterprise_id in reported_at)
        else:
            assert outcome == "reported" and len(reported_at[enterprise_id]) == 1


# -- one command replayed by several processes at once (V11) -----------------------------------

REPLAYERS = 4


def _replay(database_url: str, person: str, payload: dict[str, Any], start: Any,
            outcomes: Any) -> None:
    """A client's retry: the same command, sent again from a process of its own."""
    app = Zhibao(Settings(database_url=database_url))
    command = parse_command(payload)
    start.wait(60)
    try:
        outcome = app.execute(command, Issuer(UUID(person)))
        outcomes.put(("ok", outcome.command, str(outcome.aggregate_id), outcome.events,
                      outcome.duplicate))
    except Exception as e:
        outcomes.put(("error", f"{type(e).__name__}: {e}"))
    app.close()


@pytest.mark.parametrize("kind", ["creation", "a step any number of times allowed"])
def test_concurrent_replays_of_one_command_apply_it_once(hazards, kind):
    """Processes send one command (one command_id) at the same moment: it is applied
    exactly once, and every other sender gets `duplicate` with the original outcome —
    even for a step the domain would accept twice (progress reports), where only the
    command log's key tells a replay from a new report."""
    world = hazards.world
    if kind == "creation":
        payload, person = {
            "command": "ReportHazard", "enterprise_id": str(world.enterprises["chem"]),
            "channel": "supervisory_inspection", "discovered_at": hazards.clock.now.isoformat(),
            "description": "储罐区可燃气体泄漏", "category": "unsafe_condition",
            "command_id": f"replayed/{uuid4()}"}, world.persons["town"]
    else:
        hazard_id = hazards.drive(HazardState.RECTIFYING)
        payload, person = {
            "command": "ReportRectificationProgress", "hazard_id": str(hazard_id),
            "percent": 60, "command_id": f"replayed/{uuid4()}"}, world.persons["chem"]
    url = world.app.settings.database_url
    before = world.app.recorder.max_notification_id()
    spawn = multiprocessing.get_context("spawn")
    start, outcomes = spawn.Barrier(REPLAYERS), spawn.Queue()
    senders = [spawn.Process(target=_replay, args=(url, str(person), payload, start, outcomes))
               for _ in range(REPLAYERS)]
    with running(*senders):
        results = [outcomes.get(timeout=120) for _ in senders]

    assert all(result[0] == "ok" for result in results), results
    assert sorted(result[-1] for result in results) == [False] + [True] * (REPLAYERS - 1)
    assert len({result[1:4] for result in results}) == 1, "not the original outcome"
    assert written_since(world.app, before) == 1


def test_a_command_id_is_never_reused_for_another_command(hazards):
    """V11: the same id with other content — or the same content from another person — is
    refused, naming the id; nothing is written."""
    world = hazards.world
    hazard_id = hazards.drive(HazardState.RECTIFYING)
    progress = {"hazard_id": hazard_id, "percent": 30, "command_id": f"progress/{uuid4()}"}
    first = world.do("ReportRectificationProgress", "chem", **progress)
    for by, changed in (("chem", {"percent": 40}), ("chem", {"note": "加快进度"}),
                        ("county_ema", {})):
        error = world.rejects("ReportRectificationProgress", by, **{**progress, **changed})
        assert (error.field, error.code) == ("command_id", "V11")
    assert world.do("ReportRectificationProgress", "chem", **progress) == \
        dataclasses.replace(first, duplicate=True)


def written_since(app: Zhibao, position: int | None) -> int:
    """Events stored after `position` (counted: PostgreSQL's ids have gaps)."""
    return len(app.recorder.select_notifications(start=position or 0, limit=10_000,
                                                 inclusive_of_start=False))


@contextmanager
def running(*processes: Any) -> Iterator[None]:
    """Start the processes; at the end wait for them, and stop any still running."""
    for process in processes:
        process.start()
    try:
        yield
    finally:
        for process in processes:
            process.join(30)
            if process.is_alive():
                process.terminate()


def _open_store(database_url: str, everyone_ready: Any) -> None:
    everyone_ready.wait(60)
    Zhibao(Settings(database_url=database_url)).close()


def test_processes_starting_at_once_on_a_new_store_all_start(database_url):
    """Each process creates the store's tables if they are missing; four doing so at the
    same moment must all succeed (on PostgreSQL concurrent DDL failed with "tuple
    concurrently updated" until it took turns)."""
    spawn = multiprocessing.get_context("spawn")
    everyone_ready = spawn.Barrier(4)
    starters = [spawn.Process(target=_open_store, args=(database_url, everyone_ready))
                for _ in range(4)]

    with running(*starters):
        pass

    assert [process.exitcode for process in starters] == [0, 0, 0, 0]
    app = Zhibao(Settings(database_url=database_url))
    assert app.recorder.max_notification_id() in (None, 0)
    app.close()
