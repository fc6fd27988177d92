"""Intake: (a) bulk import of the demo's commands vs the eventsourcing library saving the same
number of plain events in batches of the same size; (b) one command per transaction vs one
bare single-aggregate save per transaction. Same store kind, same run.

Our side does everything a real command costs: parsing, the person's authority (the
permission matrix), jurisdiction, the domain's rules, the hash chain and the write guarded
by the directory's horizon. The demo's commands are issued by many persons, so the import
reads the demo's JSONL (one command per line, as `zhibao import` does) and applies each
line as the person who issued it in the demo, after zhibao's bootstrap."""

from __future__ import annotations

import itertools
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from uuid import uuid4

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from bench.harness import Result, fresh_store, stopwatch
from domain.authority import Role
from domain.commands import Command, ReportHazard
from infra.demo import demo_commands
from infra.intake.importer import read_commands
from infra.intake.service import Zhibao
from infra.intake.unit_of_work import ZHIBAO, Issuer
from infra.settings import Settings
from infra.store.databases import eventsourcing_env

COMMANDS = 40_000
BATCH = 1000
SINGLE = 2000
WARM_UP = 200
BULK_ROUNDS = 3


class Plain(Aggregate):
    """A plain library aggregate carrying a payload of typical event size."""

    @event("Recorded")
    def __init__(self, payload: str) -> None:
        self.payload = payload


def run(stores: list[str]) -> list[Result]:
    with tempfile.TemporaryDirectory() as work:
        commands = Path(work) / "demo.jsonl"
        bootstrap, issuers = write_demo_commands(commands, COMMANDS)
        results = []
        for kind in stores:
            results.append(bulk_import(kind, bootstrap, commands, issuers))
            results.append(single_command(kind))
            results.append(single_command(kind, shared=True))
        return results


def write_demo_commands(path: Path, count: int) -> tuple[Command, list[Issuer]]:
    """The demo's first `count` commands: its bootstrap (zhibao's own), and the rest as
    JSONL with the person who issues each line."""
    demo = itertools.islice(demo_commands(), count)
    _, _, bootstrap = next(demo)
    issuers = []
    with path.open("w") as f:
        for _, issuer, command in demo:
            f.write(command.model_dump_json(exclude_none=True) + "\n")
            issuers.append(issuer)
    return bootstrap, issuers


def bulk_import(kind: str, bootstrap: Command, commands: Path, issuers: list[Issuer]) -> Result:
    """Import into a fresh store vs the bare batch save of as many events of the same
    size into another. The two alternate in rounds and each keeps its best round."""
    ours, theirs = [], []
    for _ in range(BULK_ROUNDS):
        with fresh_store(kind) as url:
            app = Zhibao(Settings(database_url=url))
            app.record(bootstrap)
            with stopwatch() as elapsed:
                lines = ((line, issuer, command) for (line, command), issuer
                         in zip(read_commands(commands), issuers, strict=True))
                events = sum(result.events for result in app.execute_batch(lines, BATCH))
            ours.append(elapsed[0])
            size = mean_state_size(app)
            app.close()
        with fresh_store(kind) as url:
            bare = Application(env=eventsourcing_env(url))
            payload = "x" * size
            with stopwatch() as elapsed:
                for start in range(0, events, BATCH):
                    bare.save(*(Plain(payload) for _ in range(min(BATCH, events - start))))
            theirs.append(elapsed[0])
            bare.close()
    return Result(f"bulk import [{kind}]", events / min(ours), "events/s",
                  events / min(theirs), "bare batch save", target=0.6,
                  note=f"best of {BULK_ROUNDS} alternating rounds of {events} events of "
                       f"~{size} bytes, batches of {BATCH}")


def mean_state_size(app: Zhibao) -> int:
    """Average stored-state bytes, so the bare events carry as much data as ours."""
    sample = app.recorder.select_notifications(start=1, limit=20_000)
    return sum(len(n.state) for n in sample) // len(sample)


def single_command(kind: str, shared: bool = False) -> Result:
    """ReportHazard through the service (validation, jurisdiction, hash chain, the write
    guarded by the directory's horizon, one transaction) vs saving one new plain aggregate.

    The two alternate command by command, so the machine's noise (disk flushes on this
    VM come in bursts) falls on both alike. Each writes to a store of its own; with
    `shared` both write to one store, so every write of ours finds another writer's event
    since its last and checks its horizon — the cost of many writers, reported only."""
    with fresh_store(kind) as url, fresh_store(kind) as bare_url:
        app = Zhibao(Settings(database_url=url))
        bare = Application(env=eventsourcing_env(url if shared else bare_url))
        for _, issuer, command in itertools.islice(demo_commands(), 200):
            app.record(command) if issuer is ZHIBAO else app.execute(command, issuer)
        report, officer = hazard_report(app)
        app.execute(report(), officer)
        payload = "x" * len(app.recorder.select_notifications(
            start=app.recorder.max_notification_id(), limit=1)[0].state)
        ours = theirs = 0.0
        for done in range(WARM_UP + SINGLE):
            started = time.perf_counter()
            app.execute(report(), officer)
            between = time.perf_counter()
            bare.save(Plain(payload))
            if done >= WARM_UP:
                ours += between - started
                theirs += time.perf_counter() - between
        app.close()
        bare.close()
    where = "one store shared by both" if shared else "a store each"
    return Result(f"single command{', other writer' if shared else ''} [{kind}]",
                  SINGLE / ours, "commands/s", SINGLE / theirs, "bare single save",
                  target=None if shared else 0.8,
                  note=f"{SINGLE} alternating with as many bare saves, {where}; events of "
                       f"{len(payload)} bytes")


def hazard_report(app: Zhibao) -> tuple[Callable[[], ReportHazard], Issuer]:
    """A town officer reporting a new hazard at one of the town's enterprises, as a
    factory, and the officer."""
    enterprise = next(iter(app.directory.enterprises.values()))
    town_code = app.directory.path(app.directory.current_code(enterprise.unit_id))[1]
    town = next(org for org in app.directory.orgs.values() if org.org_type == "town_office"
                and app.directory.current_code(org.unit_id) == town_code)
    officer = next(person for person in app.directory.persons.values()
                   if person.org_id == town.org_id and Role.TOWN_OFFICER in person.roles)
    return lambda: ReportHazard(
        hazard_id=uuid4(), enterprise_id=enterprise.enterprise_id,
        channel="supervisory_inspection", discovered_at=app.clock(),
        description="消防通道堵塞", category="unsafe_condition"), Issuer(officer.person_id)
