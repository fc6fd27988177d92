"""The CPU a submission's printed forms take — its workbook and its PDF, as a cascade's
render worker makes them (`infra.reporting.render.render`) — per village, town, county and
city, from the documents of the demo's December cascade (`zhibao demo`'s store). Against the
whole cascade's budget at issue 14's 100 units/s on two cores (20 ms of CPU a unit, for
assembling, recording and writing besides), the render CPU of an average unit, the levels
weighed as a cascade has them (report only: what is left for the rest).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import orjson

from bench.bench_cascade import CUT_OFF, PERIOD, store_copy
from bench.bench_export import demo_store
from bench.harness import Result
from domain.base import Level
from infra.files import scratch_parent
from infra.intake.service import Zhibao
from infra.reporting.forms import FormSettings, build_form
from infra.reporting.pdf import font_path, load_font
from infra.reporting.render import Job, Shelf, shelved_pdf
from infra.reporting.reporter import (
    Reporter,
    listed_whole,
    open_views,
    submission_folder,
    version_stem,
)
from infra.reporting.xlsx import render_workbook
from infra.settings import Settings

LEVELS = ("village", "town", "county", "city")
BUDGET_MS = 2 * 1000 / 100  # two cores' CPU at 100 units/s
ROUNDS = 3  # passes over the documents, each in a fresh process; each one's fastest kept


def run(stores: list[str]) -> list[Result]:
    documents = _documents()
    with ProcessPoolExecutor(1, mp_context=get_context("spawn"), max_tasks_per_child=1) as pool:
        passes = [pool.submit(_pass, documents).result() for _ in range(ROUNDS)]
    costs = {level: [min(costs, key=sum) for costs in zip(*(done[level] for done in passes),
                                                          strict=True)]
             for level in LEVELS}
    units = sum(len(costs[level]) for level in LEVELS)
    average = sum(sum(x + p for x, p in costs[level]) for level in LEVELS) / units
    results = [
        Result(f"render CPU of a {level}'s forms (workbook + PDF)", BUDGET_MS, "ms",
               workbook + pdf, "its workbook and PDF", None,
               note=f"{len(costs[level])} forms, workbook {workbook:.1f} ms + PDF {pdf:.1f} ms "
                    f"a form; budget: {BUDGET_MS:.0f} ms a unit for the whole cascade")
        for level in LEVELS
        for workbook, pdf in [_mean(costs[level])]]
    results.append(Result(
        "render CPU of a cascade's average unit vs the whole cascade's budget at 100 units/s",
        BUDGET_MS, "ms", average, "render CPU", None,
        note=f"{units} units ({', '.join(f'{len(costs[level])} {level}' for level in LEVELS)}): "
             f"{average:.1f} ms a unit"))
    return results


def _documents() -> dict[str, list[dict[str, Any]]]:
    """Each level's submissions of the demo's December, from a cascade on a store copy."""
    output = Path(tempfile.mkdtemp(prefix="zhibao-bench-forms-"))
    try:
        with store_copy(demo_store("sqlite")) as url:
            app = Zhibao(Settings(database_url=url, output_dir=output))
            views = open_views(app)
            try:
                app.clock = lambda: CUT_OFF
                submitted = Reporter(app, views).cascade(PERIOD)
            finally:
                views.close()
                app.close()
        documents: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for done in submitted:
            stem = version_stem(done.version, done.draft)
            path = submission_folder(output, PERIOD, done.unit_code) / f"{stem}.json"
            document = orjson.loads(path.read_bytes())
            documents[document["unit"]["level"]].append(document)
        return documents
    finally:
        shutil.rmtree(output, ignore_errors=True)


def _pass(documents: dict[str, list[dict[str, Any]]]) -> dict[str, list[tuple[float, float]]]:
    """Every document rendered once, level by level, as one render worker would: what a
    worker keeps across documents (rows, lines, the font's shared glyphs) helps a document
    only as much as the documents before it made it, and a town's or county's list rows are
    taken from the shelf where its children left them."""
    settings = Settings()
    font = font_path(settings.pdf_font)
    load_font(font)
    major_only = [Level(level) for level in settings.major_only_list_levels]
    with tempfile.TemporaryDirectory(prefix="zhibao-bench-rows-",
                                     dir=scratch_parent()) as folder:
        shelf = Shelf(Path(folder))
        return {level: [_cost(document, font, shelf, listed_whole(Level(level), major_only))
                        for document in documents[level]]
                for level in LEVELS}


def _cost(document: dict[str, Any], font: Path, shelf: Shelf,
          shelved: bool) -> tuple[float, float]:
    """The CPU milliseconds of the document's workbook and PDF (form built once for each,
    as `render` does for both; the PDF's with the shelf's taking and leaving)."""
    about = f"v1; sha256 {'0' * 64} of v1.json"
    started = time.process_time()
    render_workbook(build_form(document, FormSettings()), about)
    middle = time.process_time()
    shelved_pdf(Job(document, about, shelved), build_form(document, FormSettings()), font, shelf)
    ended = time.process_time()
    return (middle - started) * 1000, (ended - middle) * 1000


def _mean(costs: list[tuple[float, float]]) -> tuple[float, float]:
    return (sum(x for x, _ in costs) / len(costs), sum(p for _, p in costs) / len(costs))
