"""The printed forms of many submissions at once: rendering a workbook and a PDF is the
costliest step of the cascade (pure Python), so a level with many units spreads it over
worker processes, one per CPU (`ZHIBAO_REPORT_WORKERS`). A few are rendered in this
process while no worker runs, where starting workers would cost more than it saves; once
the workers run, every form goes to them, a county's or the city's too (each takes ten
times a village's, and this process would first have to load the PDF's font).

A hazard's row is printed in its village's list, its town's and its county's, with another
序号 in each: the towns' and counties' lists were a quarter of the rendering. A unit whose
parent lists every row of its own (`Job.shelved`) leaves its rows' bodies as the PDF lays
them out (`infra.reporting.pdf.Body`) on the renderer's shelf (`Shelf`, a private temporary
folder), and its parent, rendered a level later by whichever process, takes them off: each
row is laid out once a cascade. A body is what laying its row out gives, so a form is the
same bytes with or without the shelf."""

from __future__ import annotations

import os
import pickle
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from infra import collector
from infra.files import scratch_parent
from infra.reporting.forms import Form, FormSettings, build_form
from infra.reporting.pdf import Bodies, load_font, render_pdf
from infra.reporting.xlsx import render_workbook

IN_WORKERS = 16
"""Forms to render before worker processes are worth starting; once started, one is."""


@dataclass(frozen=True)
class Job:
    """One submission's document and what its files say about it."""

    document: dict[str, Any]
    about: str  # the version and the JSON's SHA-256, in each file's properties
    shelved: bool = False  # its rows' bodies left for its parent, which lists them all


def render(job: Job, settings: FormSettings, font: Path, shelf: Path) -> dict[str, bytes]:
    """The workbook and the PDF of one submission."""
    form = build_form(job.document, settings)
    return {".xlsx": render_workbook(form, job.about),
            ".pdf": shelved_pdf(job, form, font, Shelf(shelf))}


def shelved_pdf(job: Job, form: Form, font: Path, shelf: Shelf) -> bytes:
    """The PDF, its lists' rows taken from its children's bodies on the shelf where they
    are; its own left there if its parent lists them all."""
    bodies = shelf.take(child["unit_code"] for child in job.document["children"])
    pdf = render_pdf(form, font, job.about, bodies)
    if job.shelved:
        shelf.leave(job.document["unit"]["code"], bodies)
    return pdf


@dataclass(frozen=True)
class Shelf:
    """A folder of rows' bodies by unit (`infra.reporting.pdf.Body`), shared by the
    renderer's processes: what a unit leaves, its parent takes, a level later. A file that
    cannot be read is a body laid out again, never an error."""

    folder: Path

    def take(self, units: Iterator[str]) -> Bodies:
        bodies: Bodies = {}
        for unit in units:
            path = self.folder / unit
            try:
                data = path.read_bytes()
                path.unlink()
                left: Bodies = pickle.loads(data)
            except (OSError, pickle.UnpicklingError, EOFError, ValueError):
                continue
            for layout, rows in left.items():
                bodies.setdefault(layout, {}).update(rows)
        return bodies

    def leave(self, unit: str, bodies: Bodies) -> None:
        partial = self.folder / f".{unit}.{os.getpid()}"
        try:
            partial.write_bytes(pickle.dumps(bodies, pickle.HIGHEST_PROTOCOL))
            partial.replace(self.folder / unit)  # (whole, or not there)
        except OSError:  # (a full disk: the parent lays them out again)
            partial.unlink(missing_ok=True)


def _ready(font: Path) -> None:
    """A worker's start: the font loaded, then the collector settled (`infra.collector`)."""
    load_font(font)
    collector.settle()


class Renderer:
    """Renders the forms of many submissions, in worker processes when they are many."""

    def __init__(self, settings: FormSettings, font: Path, workers: int) -> None:
        self.settings = settings
        self.font = font
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None
        self._shelf: tempfile.TemporaryDirectory[str] | None = None

    def render(self, jobs: Sequence[Job]) -> list[dict[str, bytes]]:
        """Each job's files, in order."""
        return list(self.start(jobs))

    def start(self, jobs: Sequence[Job]) -> Iterator[dict[str, bytes]]:
        """Each job's files, in order, as they are ready: in the workers, every job is under
        way on return, so this process can go on with other work meanwhile."""
        if not self._in_workers(len(jobs)):
            return iter([render(job, self.settings, self.font, self.shelf) for job in jobs])
        count = len(jobs)
        return self._started().map(render, jobs, [self.settings] * count, [self.font] * count,
                                   [self.shelf] * count,
                                   chunksize=max(1, count // (4 * self.workers)))

    def warm(self, jobs: int) -> None:
        """Start the workers, if `jobs` forms will go to them, each loading what its first
        form needs as it starts (`_ready`: ReportLab and the font, ~0.4 s) while this
        process does other work — a cascade counts its facts meanwhile, which keeps
        PostgreSQL, not this machine's other core, busy. Once started, they are not started
        again."""
        if self._pool is None and self._in_workers(jobs):
            pool = self._started()
            for _ in range(self.workers):
                pool.submit(load_font, self.font)

    def _started(self) -> ProcessPoolExecutor:
        if self._pool is None:  # spawned: a forked child would share the database handles
            self._pool = ProcessPoolExecutor(self.workers, mp_context=get_context("spawn"),
                                             initializer=_ready, initargs=(self.font,))
        return self._pool

    @property
    def shelf(self) -> Path:
        """The shelf's folder, made on first use (in memory, where it can be: its files
        live for a level) and removed on closing."""
        if self._shelf is None:
            self._shelf = tempfile.TemporaryDirectory(prefix="zhibao-rows-",
                                                      dir=scratch_parent())
        return Path(self._shelf.name)

    def _in_workers(self, count: int) -> bool:
        if self.workers <= 1 or count == 0:
            return False
        return self._pool is not None or count >= IN_WORKERS

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        if self._shelf is not None:
            self._shelf.cleanup()
            self._shelf = None
