"""The Ankang 2021 task list (安市安委办发〔2021〕3号) imported as it is, on both stores, and the
reading of Chinese deadlines (DOMAIN.md V27, V29)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest

from infra.intake.service import BatchResult
from infra.intake.taskcsv import ANKANG_2021, task_list_commands
from infra.store.records import event_payload, event_type
from tests.support.hazard_paths import Hazards, hazards_in_new_world

TABLE = Path(str(files("infra.demo") / "data" / "tasks_2021_ankang.csv"))


@dataclass
class Imported:
    hazards: Hazards
    first: BatchResult
    again: BatchResult

    def defined(self, task_no: int) -> dict[str, Any]:
        """The stored TaskDefined event of a task, as plain JSON."""
        records = list(self.hazards.world.app.recorder.select_events(
            ANKANG_2021.task_id(task_no), limit=1))
        assert event_type(records[0].topic) == "TaskDefined"
        return event_payload(records[0].state)


def import_list(hazards: Hazards) -> BatchResult:
    office = hazards.world.issuer("city_office")
    commands = ((line, office, command) for line, command in
                enumerate(task_list_commands(TABLE, ANKANG_2021), start=1))
    total = BatchResult()
    for result in hazards.world.app.execute_batch(commands):
        total.merge(result)
    return total


@pytest.fixture(scope="module")
def imported(module_database_url: str) -> Iterator[Imported]:
    """The list imported once per store — and then a second time."""
    with hazards_in_new_world(module_database_url) as hazards:
        yield Imported(hazards, import_list(hazards), import_list(hazards))


def table_rows() -> list[dict[str, str]]:
    """The CSV read independently of the importer."""
    with TABLE.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def test_the_list_imports_as_it_is(imported):
    assert (imported.first.applied, imported.first.events) == (41, 41)  # the list + 40 tasks
    assert imported.first.rejections == []
    rows = table_rows()
    assert len(rows) == 40
    for row in rows:
        task = imported.defined(int(row["task_no"]))
        assert (task["requirement"], task["deadline_text"]) == (row["requirement"],
                                                                row["deadline"])
        assert task["doc_no"] == "安市安委办发〔2021〕3号"


def test_importing_the_list_again_applies_nothing(imported):
    again = imported.again
    assert (again.applied, again.duplicates, again.events, again.rejections) == (0, 41, 0, [])


@pytest.mark.parametrize(("task_no", "deadline"), [
    (1, date(2021, 1, 20)), (2, date(2021, 2, 10)), (3, date(2021, 2, 5)),
    (5, date(2021, 2, 28)), (12, date(2021, 7, 1)), (27, date(2021, 10, 31)),
    (30, date(2021, 11, 30)), (35, date(2021, 3, 31)), (40, date(2021, 12, 31)),
])
def test_chinese_deadlines_are_read_in_the_lists_year(imported, task_no, deadline):
    assert imported.defined(task_no)["deadline"] == deadline.isoformat()


def test_every_deadline_falls_in_2021(imported):
    assert {imported.defined(n)["deadline"][:4] for n in range(1, 41)} == {"2021"}


def test_task_34_is_born_overdue_and_only_it(imported):
    """Its deadline, 1月10日, precedes the list's issue date, 18 January (V29): kept, flagged."""
    assert [n for n in range(1, 41) if imported.defined(n)["born_overdue"]] == [34]
    assert imported.defined(34)["deadline"] == "2021-01-10"
    assert imported.first.warnings == [
        "line 35: task 34: deadline precedes the list's issue date 2021-01-18 "
        "(born overdue, V29)"]


def test_responsible_units_are_split(imported):
    assert imported.defined(32)["responsible_units"] == [
        "市级各专委会办公室", "市生态环境局", "各县区(开发区)安委会"]
    assert imported.defined(1)["responsible_units"] == ["市安委办(工作专班办公室)"]
    assert imported.defined(11)["responsible_units"] == ["市委宣传部", "市安委办(工作专班办公室)"]


def test_a_task_completes_when_its_last_responsible_unit_does(imported):
    world = imported.hazards.world
    task_id = ANKANG_2021.task_id(32)
    world.do("ReportTaskProgress", "city_office", task_id=task_id,
             responsible_unit="市生态环境局", text="已开展危险废物专项检查2次")
    for unit in ("市级各专委会办公室", "市生态环境局"):
        assert world.do("CompleteTaskForUnit", "city_office", task_id=task_id,
                        responsible_unit=unit).events == 1
    assert world.app.repository.get(task_id).completed is False
    last = world.do("CompleteTaskForUnit", "city_office", task_id=task_id,
                    responsible_unit="各县区(开发区)安委会")
    assert last.events == 2  # TaskCompletedByUnit + TaskCompleted
    assert world.app.repository.get(task_id).completed is True
    again = world.rejects("CompleteTaskForUnit", "city_office", task_id=task_id,
                          responsible_unit="市生态环境局")
    assert (again.field, again.code) == ("responsible_unit", "LIFECYCLE")


def test_progress_is_reported_only_by_a_responsible_unit(imported):
    error = imported.hazards.world.rejects(
        "ReportTaskProgress", "city_office", task_id=ANKANG_2021.task_id(1),
        responsible_unit="市教育局", text="已完成")
    assert (error.field, error.code) == ("responsible_unit", "REF")
    assert "市安委办(工作专班办公室)" in str(error)  # names who is responsible
