"""Task lists published as tables (e.g. `tasks_2021_ankang.csv`) become commands: one
PublishTaskList and one DefineTask per row. The CSV is read as it is; deadlines like
"1月20日前" are read in the year of the list's issue date."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from uuid import UUID, uuid5

from domain.commands import DefineTask, PublishTaskList
from domain.tasks import split_responsible_units

TASK_NAMESPACE = UUID("3c5b0c7e-5d1f-4a8e-b6a2-9f0e1d2c3b4a")
COLUMNS = ("task_no", "section", "item", "requirement", "responsible_units", "deadline")


@dataclass(frozen=True)
class TaskListDocument:
    doc_no: str
    title: str
    issuer: str
    issued_on: date

    @property
    def list_id(self) -> UUID:
        """Stable per document number, so importing the same list twice is recognised."""
        return uuid5(TASK_NAMESPACE, self.doc_no)

    def task_id(self, task_no: int) -> UUID:
        return uuid5(TASK_NAMESPACE, f"{self.doc_no}#{task_no}")


ANKANG_2021 = TaskListDocument(
    doc_no="安市安委办发〔2021〕3号",
    title="2021年安康市安全生产专项整治三年行动工作任务清单",
    issuer="安康市安全生产委员会办公室",
    issued_on=date(2021, 1, 18),
)


def task_list_commands(path: Path,
                       document: TaskListDocument) -> Iterator[PublishTaskList | DefineTask]:
    """Commands for the list and each of its rows, in file order."""
    yield PublishTaskList(list_id=document.list_id, doc_no=document.doc_no,
                          title=document.title, issuer=document.issuer,
                          issued_on=document.issued_on, command_id=f"{document.doc_no}")
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        missing = set(COLUMNS) - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: missing columns {', '.join(sorted(missing))}")
        for row in reader:
            task_no = int(row["task_no"])
            yield DefineTask(
                task_id=document.task_id(task_no), task_list_id=document.list_id,
                task_no=task_no, section=row["section"], item=row["item"],
                requirement=row["requirement"],
                responsible_units=split_responsible_units(row["responsible_units"]),
                deadline_text=row["deadline"], command_id=f"{document.doc_no}#{task_no}",
            )
