"""Bulk import (`infra/importer.py`, `Zhibao.execute_batch`) and the CLI, on both stores: bad
lines are reported with line number, field and rule while good lines are stored; a batch
whose transaction fails is never half-written and is replayed line by line; re-importing a
file whose commands carry command ids applies nothing twice. A file is imported as one
registered person (here, by default, the town's officer); the CLI names them with --as."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import orjson
import psycopg
import pytest

from domain.base import DomainError
from domain.commands import parse_command
from domain.hazards import HazardState
from infra.cli.main import main
from infra.intake import service
from infra.intake.importer import import_file
from infra.intake.service import BatchResult, Zhibao
from infra.settings import get_settings
from infra.store.recorders import HorizonPostgresRecorder
from tests.conftest import PG_ADMIN_URL
from tests.support.builders import World, stored_types
from tests.support.hazard_paths import Hazards


def line(name: str, **fields: Any) -> dict[str, Any]:
    """One JSONL command as a client would write it."""
    return {"command": name, **fields}


def report(hazards: Hazards, enterprise: str = "chem", **fields: Any) -> dict[str, Any]:
    return line("ReportHazard", **{
        "enterprise_id": str(hazards.world.enterprises[enterprise]),
        "channel": "supervisory_inspection", "discovered_at": hazards.clock.now.isoformat(),
        "description": "消防通道堵塞", "category": "unsafe_condition", **fields})


def write_jsonl(path: Path, lines: list[dict[str, Any] | str]) -> Path:
    path.write_bytes(b"".join(
        (item.encode() if isinstance(item, str) else orjson.dumps(item)) + b"\n"
        for item in lines))
    return path


def run_import(world: World, path: Path, batch_size: int, by: str = "town") -> BatchResult:
    total = BatchResult()
    for result in import_file(world.app, path, world.issuer(by), batch_size):
        total.merge(result)
    return total


def written_since(app: Zhibao, position: int) -> int:
    """Events stored after `position`. (Counted, not subtracted: a failed transaction on
    PostgreSQL uses up notification ids without storing anything.)"""
    return len(app.recorder.select_notifications(start=position, limit=10_000,
                                                 inclusive_of_start=False))


def test_bad_lines_are_reported_and_good_lines_stored(hazards, tmp_path):
    world, app = hazards.world, hazards.world.app
    first, second = uuid4(), uuid4()
    confirm = line("ConfirmHazard", hazard_id=str(first), grade="general",
                   treatment="deadline", deadline="2022-01-01")
    file = write_jsonl(tmp_path / "mixed.jsonl", [
        report(hazards, hazard_id=str(first)),  # 1
        '{"command": "ReportHazard", ',  # 2: cut off
        confirm,  # 3
        {**confirm, "command": "LaunchRocket"},  # 4
        "",  # 5: blank, skipped
        confirm,  # 6: the hazard is already confirmed
        report(hazards, channel="telepathy"),  # 7
        report(hazards, hazard_id=str(second)),  # 8
        report(hazards, enterprise="mine"),  # 9: outside the town
    ])
    before = app.recorder.max_notification_id()
    result = run_import(world, file, batch_size=3)

    assert (result.applied, result.duplicates, result.events) == (3, 0, 3)
    rejected = {r.line: (r.command, r.field, r.code) for r in result.rejections}
    assert rejected == {2: ("?", "command", "STRICT-JSON"), 4: ("?", "command", "INPUT"),
                        6: ("ConfirmHazard", "hazard_id", "LIFECYCLE"),
                        7: ("?", "channel", "INPUT"), 9: ("ReportHazard", "unit_code", "V7")}
    assert str(result.rejections[0]).startswith("line 2 (?): command: ")  # says where and what
    assert stored_types(app, first) == ["HazardReported", "HazardConfirmed"]
    assert stored_types(app, second) == ["HazardReported"]
    assert written_since(app, before) == 3


def test_a_batch_that_fails_to_store_is_replayed_line_by_line(hazards, tmp_path):
    """A line reusing an existing hazard id passes validation in the batch (the fast path
    does not look ids up) and fails the whole transaction; the replay then rejects just it."""
    world, app = hazards.world, hazards.world.app
    existing = hazards.report()
    version = hazards.get(existing).version
    good = [uuid4(), uuid4()]
    file = write_jsonl(tmp_path / "clash.jsonl", [
        report(hazards, hazard_id=str(good[0])),
        report(hazards, hazard_id=str(existing)),
        report(hazards, hazard_id=str(good[1])),
    ])
    before = app.recorder.max_notification_id()
    result = run_import(world, file, batch_size=10)

    assert (result.applied, result.events) == (2, 2)
    assert [(r.line, r.field, r.code) for r in result.rejections] == [(2, "hazard_id", "REF")]
    assert [stored_types(app, hazard_id) for hazard_id in good] == [["HazardReported"]] * 2
    assert hazards.get(existing).version == version
    assert written_since(app, before) == 2
    assert all(world.app.repository.get(h).state is HazardState.REPORTED for h in good)


def test_a_line_that_does_not_parse_leaves_the_rest_of_its_batch_one_transaction(
        hazards, tmp_path, monkeypatch):
    """A malformed line after good ones is only its own rejection: the batch is not
    replayed line by line (one transaction a command, a dozen times slower), as it was
    when the good lines' pending events were taken for traces of the bad one."""
    world, app = hazards.world, hazards.world.app
    good = [uuid4(), uuid4(), uuid4()]
    file = write_jsonl(tmp_path / "malformed.jsonl", [
        report(hazards, hazard_id=str(good[0])),
        report(hazards, hazard_id=str(good[1])),
        {**report(hazards), "command": "RecordHazardOverdue"},  # zhibao's own
        '{"command": "ReportHazard", ',
        report(hazards, hazard_id=str(good[2])),
    ])
    inserts: list[int] = []
    insert_events = app.recorder.insert_events
    monkeypatch.setattr(app.recorder, "insert_events", lambda events, **kwargs: (
        inserts.append(len(events)), insert_events(events, **kwargs))[1])
    before = app.recorder.max_notification_id()
    result = run_import(world, file, batch_size=10)

    assert [(r.line, r.code) for r in result.rejections] == [(3, "SYSTEM-ONLY"),
                                                             (4, "STRICT-JSON")]
    assert (result.applied, result.events) == (3, 3)
    assert inserts == [3]
    assert written_since(app, before) == 3


def test_a_single_command_reusing_a_stored_id_is_rejected_by_its_field(hazards):
    """A creation does not read its id first: the store's unique key catches the reuse,
    and the error still names the field; nothing is written."""
    app = hazards.world.app
    existing = hazards.report()
    version = hazards.get(existing).version
    before = app.recorder.max_notification_id()

    with pytest.raises(DomainError) as rejected:
        app.execute(parse_command(report(hazards, hazard_id=str(existing))),
                    hazards.world.issuer("town"))

    assert (rejected.value.field, rejected.value.code) == ("hazard_id", "REF")
    assert written_since(app, before) == 0
    assert hazards.get(existing).version == version


def test_one_id_created_twice_in_a_batch_keeps_the_first(hazards, tmp_path):
    app = hazards.world.app
    twice = uuid4()
    before = app.recorder.max_notification_id()
    file = write_jsonl(tmp_path / "twice.jsonl", [
        report(hazards, hazard_id=str(twice)),
        report(hazards, hazard_id=str(twice), description="重复的编号"),
    ])
    result = run_import(hazards.world, file, batch_size=10)

    assert (result.applied, result.events) == (1, 1)
    assert [(r.line, r.field, r.code) for r in result.rejections] == [(2, "hazard_id", "REF")]
    assert stored_types(app, twice) == ["HazardReported"]
    assert written_since(app, before) == 1


def test_a_concurrent_write_fails_the_batch_without_losing_either_side(hazards, tmp_path):
    """The importer holds a hazard in its cache from an earlier batch; another process
    confirms it meanwhile. The next batch, decided on the stale copy, fails to store and is
    replayed on fresh state: the confirmation survives, the stale line is judged anew."""
    world, app = hazards.world, hazards.world.app
    hazard_id, other = uuid4(), uuid4()
    run_import(world, write_jsonl(tmp_path / "one.jsonl", [report(hazards, hazard_id=str(
        hazard_id))]), batch_size=10)
    with hazards.as_another_process():
        hazards.confirm(hazard_id, "general")
    before = app.recorder.max_notification_id()
    file = write_jsonl(tmp_path / "two.jsonl", [
        line("VoidHazard", hazard_id=str(hazard_id), reason="重复录入"),
        report(hazards, hazard_id=str(other)),
    ])
    result = run_import(world, file, batch_size=10)

    assert (result.applied, result.events) == (1, 1)
    assert [(r.line, r.field, r.code) for r in result.rejections] == [(1, "actor", "V7")]
    assert stored_types(app, hazard_id) == ["HazardReported", "HazardConfirmed"]
    assert stored_types(app, other) == ["HazardReported"]
    assert written_since(app, before) == 1


def test_reimporting_a_file_with_command_ids_applies_nothing_twice(hazards, tmp_path):
    world, app = hazards.world, hazards.world.app
    hazard_id = uuid4()
    key = uuid4().hex
    file = write_jsonl(tmp_path / "idempotent.jsonl", [
        report(hazards, hazard_id=str(hazard_id), command_id=f"{key}/1"),
        line("ConfirmHazard", hazard_id=str(hazard_id), grade="general",
             treatment="deadline", deadline="2022-01-01", command_id=f"{key}/2"),
        report(hazards, command_id=f"{key}/3"),  # its id derives from the command id
        report(hazards, enterprise="mine", command_id=f"{key}/4"),  # rejected
    ])
    first = run_import(world, file, batch_size=2)
    before = app.recorder.max_notification_id()
    again = run_import(world, file, batch_size=2)

    assert (first.applied, first.duplicates, first.events) == (3, 0, 3)
    assert (again.applied, again.duplicates, again.events) == (0, 3, 0)
    assert [r.line for r in again.rejections] == [r.line for r in first.rejections] == [4]
    assert written_since(app, before) == 0
    assert stored_types(app, hazard_id) == ["HazardReported", "HazardConfirmed"]



def test_a_batch_leaves_the_heap_out_of_collections_only_while_it_runs(hazards, tmp_path,
                                                                     monkeypatch):
    """While a batch runs the long-lived heap is frozen out of the garbage collector's
    passes; between batches and afterwards nothing is, and a process's own freeze is left
    in place."""
    app = hazards.world.app
    frozen_while_judging: list[int] = []
    clock = app.clock
    monkeypatch.setattr(app, "clock", lambda: (
        frozen_while_judging.append(gc.get_freeze_count()), clock())[1])
    file = write_jsonl(tmp_path / "two.jsonl", [report(hazards), report(hazards)])

    frozen_between = [gc.get_freeze_count() for _ in import_file(
        app, file, hazards.world.issuer("town"), batch_size=1)]

    assert len(frozen_while_judging) == 2 and min(frozen_while_judging) > 0
    assert frozen_between == [0, 0]
    assert gc.get_freeze_count() == 0
    gc.freeze()
    try:
        assert run_import(hazards.world, file, batch_size=1).applied == 2
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()

def test_a_bulk_import_refreshes_the_planners_statistics(hazards, tmp_path, monkeypatch):
    """After `BULK_EVENTS` events or more in one run, PostgreSQL's planner knows the events
    table's size even with autovacuum off (as on this machine): without statistics it
    loaded each aggregate with parallel workers, a hundred times slower. Below, nothing."""
    app = hazards.world.app
    if not isinstance(app.recorder, HorizonPostgresRecorder):
        pytest.skip("SQLite's planner uses the keys without statistics")
    monkeypatch.setattr(service, "BULK_EVENTS", 2)
    table = f'"{app.recorder.datastore.schema}"."{app.recorder.events_table_name}"'

    def estimated_and_counted() -> tuple[float, int]:
        with psycopg.connect(PG_ADMIN_URL) as conn:
            return conn.execute(f"SELECT reltuples, (SELECT count(*) FROM {table}) FROM "
                                f"pg_class WHERE oid = '{table}'::regclass").fetchone()

    assert run_import(hazards.world, write_jsonl(tmp_path / "one.jsonl", [report(hazards)]),
                      batch_size=1).events == 1
    estimated, counted = estimated_and_counted()
    assert estimated != counted
    assert run_import(hazards.world, write_jsonl(tmp_path / "two.jsonl", [
        report(hazards), report(hazards)]), batch_size=1).events == 2
    estimated, counted = estimated_and_counted()
    assert estimated == counted


# -- the command line ----------------------------------------------------------------------


@pytest.fixture
def cli(hazards: Hazards, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., int]]:
    """`zhibao --database-url URL …` run in this process. The CLI passes the URL on through
    the environment to settings read once per process, so the cached settings are dropped
    before and after, and the variable is restored."""
    url = hazards.world.app.settings.database_url
    monkeypatch.setenv("ZHIBAO_DATABASE_URL", url)
    monkeypatch.setenv("ZHIBAO_ACTOR", str(hazards.world.persons["town"]))
    get_settings.cache_clear()
    yield lambda *args: main(["--database-url", url, *args])
    get_settings.cache_clear()


def test_the_import_command_reports_rejections_and_exits_non_zero(hazards, cli, capsys,
                                                                  tmp_path):
    app = hazards.world.app
    hazard_id = uuid4()
    file = write_jsonl(tmp_path / "cli.jsonl", [report(hazards, hazard_id=str(hazard_id)),
                                                "not json"])
    assert cli("import", str(file), "--batch-size", "1") == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "rejected line 2 (?): command: not valid JSON" in err
    assert "1 commands applied (1 events), 0 already applied, 1 rejected" in err
    assert stored_types(app, hazard_id) == ["HazardReported"]


def test_the_import_command_exits_zero_when_every_line_is_applied(hazards, cli, capsys,
                                                                  tmp_path):
    file = write_jsonl(tmp_path / "good.jsonl", [report(hazards), report(hazards)])
    assert cli("import", str(file)) == 0
    assert "2 commands applied (2 events), 0 already applied, 0 rejected" in " ".join(
        capsys.readouterr().err.split())


def test_the_command_command_prints_the_outcome(hazards, cli, capsys):
    hazard_id = uuid4()
    assert cli("command", orjson.dumps(report(hazards, hazard_id=str(hazard_id))).decode()) == 0
    outcome = orjson.loads(capsys.readouterr().out)
    assert outcome == {"command": "ReportHazard", "aggregate_id": str(hazard_id), "events": 1,
                       "duplicate": False, "warnings": []}
    assert stored_types(hazards.world.app, hazard_id) == ["HazardReported"]


def test_the_command_command_explains_a_rejection(hazards, cli, capsys):
    before = hazards.world.app.recorder.max_notification_id()
    assert cli("command", orjson.dumps(report(hazards, enterprise="mine")).decode()) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "error: rejected, nothing written — unit_code:" in err
    assert "outside the jurisdiction" in err
    assert hazards.world.app.recorder.max_notification_id() == before


def test_the_command_line_acts_as_a_registered_person_named_outside_the_json(
        hazards, cli, capsys, monkeypatch):
    """--as or ZHIBAO_ACTOR names the person; an actor in the JSON, a missing or unknown
    person and what only zhibao records are refused with one line, and nothing written."""
    app = hazards.world.app
    before = app.recorder.max_notification_id()
    forged = {**report(hazards), "actor": {"person_id": "zhibao",
                                           "org_id": "00000000-0000-4000-8000-000000000001",
                                           "role": "system"}}
    assert cli("command", orjson.dumps(forged).decode()) == 2
    assert "actor: a command does not name who issues it" in capsys.readouterr().err
    amend = {"command": "AmendReport", "unit_code": "610902101000", "period": "2021-02",
             "content": {"cut_off": "2021-03-01T09:00", "view_position": 1,
                         "sha256": "0" * 64}}
    assert cli("command", orjson.dumps(amend).decode()) == 2
    assert "(SYSTEM-ONLY)" in capsys.readouterr().err
    assert cli("command", orjson.dumps(report(hazards)).decode(), "--as", str(uuid4())) == 2
    assert "no registered person has the id" in capsys.readouterr().err
    monkeypatch.delenv("ZHIBAO_ACTOR")
    get_settings.cache_clear()
    assert cli("command", orjson.dumps(report(hazards)).decode()) == 2
    assert "name the registered person to act as" in capsys.readouterr().err
    assert app.recorder.max_notification_id() == before
    officer = str(hazards.world.persons["town"])
    assert cli("command", orjson.dumps(report(hazards)).decode(), "--as", officer) == 0
