"""The submissions' snapshot datasets (statistics, problem-hazard list, measure list) on both
stores: each version exported once, in the run that holds its event, equal to the document
the reporter wrote — read back with DuckDB and pyarrow.dataset — and refused when the views
no longer reproduce what was submitted."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from domain.base import SHANGHAI
from infra.export import views
from infra.export.manifest import ExportError, read_manifest
from infra.export.parquet import export_parquet
from infra.export.views import markdown_table
from infra.intake.service import Zhibao
from infra.reporting.reporter import Reporter, Submitted, open_views
from tests.conftest import FakeClock
from tests.support.ledger_world import Ledger, build_ledger, general_hazard

COUNTY, TOWN = "610902", "610902101000"
PERIOD = ds.partitioning(pa.schema([("period", pa.string())]), flavor="hive")


def views_sql(directory: Path, dataset: str) -> str:
    return (f"read_parquet('{directory}/views/{dataset}/*/*.parquet', hive_partitioning = true, "
            "hive_types = {'period': VARCHAR})")


def document(done: Submitted) -> dict[str, Any]:
    return orjson.loads(done.files[0].read_bytes())


@pytest.fixture
def ledger(app: Zhibao, clock: FakeClock) -> Ledger:
    return build_ledger(app, clock)


@pytest.fixture
def reporter(app: Zhibao, ledger: Ledger, clock: FakeClock,
             tmp_path: Path) -> Iterator[Reporter]:
    clock.now = datetime(2021, 4, 6, 10, tzinfo=SHANGHAI)
    views = open_views(app)
    yield Reporter(app, views, tmp_path / "reports")
    views.close()


@pytest.mark.parametrize("rows_a_file", [views.SNAPSHOT_ROWS, 3])
def test_each_submission_is_exported_as_submitted(app: Zhibao, ledger: Ledger,
                                                  reporter: Reporter, clock: FakeClock,
                                                  tmp_path: Path, rows_a_file: int,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The same rows whether a period's dataset is one file or many (a province's are)."""
    monkeypatch.setattr(views, "SNAPSHOT_ROWS", rows_a_file)
    town, county = reporter.report(TOWN, "2021-03"), reporter.report(COUNTY, "2021-03")
    out = tmp_path / "export"
    first = export_parquet(app, out)
    written = Counter(f.dataset for f in first.files)
    assert set(written) >= {"report_statistics", "hazard_list", "measure_list"}
    assert written["report_statistics"] == (1 if rows_a_file > 3 else 2)  # a file a document

    statistics = ds.dataset(out / "views" / "report_statistics", partitioning=PERIOD).to_table()
    for done in (town, county):
        mine = statistics.filter(ds.field("report_unit_code") == done.unit_code).to_pylist()
        figures = document(done)["statistics"]
        assert [row["code"] for row in mine] == [figure["code"] for figure in figures]
        assert {row["sha256"] for row in mine} == {done.sha256}
        assert {(row["period"], row["version"], row["draft"]) for row in mine} == \
            {("2021-03", 1, False)}
        for row, figure in zip(mine, figures, strict=True):
            if figure["measure"] != "分":
                assert row["month"] == (None if figure.get("month") is None
                                        else Decimal(figure["month"]))
    hazards = duckdb.sql(f"SELECT report_unit_code, no, hazard_id, grade, deadline, funds_yuan "
                         f"FROM {views_sql(out, 'hazard_list')} ORDER BY 1, 2").fetchall()
    expected = sorted((done.unit_code, row["no"], row["hazard_id"], row["grade"],
                       row["deadline"], row["funds_fen"])
                      for done in (town, county) for row in document(done)["hazard_list"])
    assert len(hazards) == len(expected) > 0
    for got, want in zip(hazards, expected, strict=True):
        assert got[:4] == want[:4]
        assert (got[4].isoformat() if got[4] else None) == want[4]
        assert got[5] == (None if want[5] is None else Decimal(want[5]) / 100)

    measures = ds.dataset(out / "views" / "measure_list", partitioning=PERIOD).to_table()
    county_measures = measures.filter(ds.field("report_unit_code") == COUNTY).to_pylist()
    assert [(row["measure_id"], row["kind"], row["state"], row["planned_date"].isoformat())
            for row in county_measures] == \
        [(row["measure_id"], row["kind"], row["state"], row["planned_date"])
         for row in document(county)["measure_list"]] != []

    # a fact of March recorded on 20 April: the town and the county report March again,
    # version 2 — and only the new versions go into the next run
    clock.now = datetime(2021, 4, 20, 10, tzinfo=SHANGHAI)
    general_hazard(ledger.world, clock, "chem", 18, close=False)
    reporter.report(TOWN, "2021-03")
    county_again = reporter.report(COUNTY, "2021-03")
    assert county_again.version == 2
    second = export_parquet(app, out)
    versions = duckdb.sql(f"SELECT version, count(*) FROM {views_sql(out, 'report_statistics')} "
                          "WHERE report_unit_code = '610902' GROUP BY 1 ORDER BY 1").fetchall()
    assert versions == [(1, len(document(county)["statistics"])),
                        (2, len(document(county_again)["statistics"]))]
    assert {f.run for f in second.files if f.dataset == "report_statistics"} == {2}
    listed = duckdb.sql(f"SELECT count(*) FROM {views_sql(out, 'hazard_list')} WHERE "
                        "report_unit_code = '610902' AND version = 2").fetchall()
    assert listed == [(len(document(county_again)["hazard_list"]),)]
    assert export_parquet(app, out).events == 0


def test_views_that_no_longer_reproduce_a_submission_are_refused(
        app: Zhibao, reporter: Reporter, tmp_path: Path) -> None:
    reporter.report(COUNTY, "2021-03")
    with reporter.views.transaction() as tx:
        tx.execute("UPDATE view_hazards SET description = 'rewritten'")
    out = tmp_path / "export"
    with pytest.raises(ExportError, match="the views no longer reproduce 610902's submission"):
        export_parquet(app, out)
    assert not list(out.rglob("*.parquet")) and not list(out.rglob(".part-*"))
    manifest = read_manifest(out)
    assert manifest is not None and manifest.pending is None and not manifest.runs


def test_the_written_documents_are_exported_without_assembling_them_again(
        app: Zhibao, ledger: Ledger, clock: FakeClock, tmp_path: Path) -> None:
    """The JSON files the reporter wrote, when they hash to what was recorded, are what is
    exported — even once the views were rewritten; a file that does not hash is never
    used: the document is assembled again and must hash, so here the run is refused."""
    clock.now = datetime(2021, 4, 6, 10, tzinfo=SHANGHAI)
    views = open_views(app)
    try:
        county = Reporter(app, views).report(COUNTY, "2021-03")  # into the settings' folder
        with views.transaction() as tx:
            tx.execute("UPDATE view_hazards SET description = 'rewritten'")
    finally:
        views.close()
    out = tmp_path / "export"
    export_parquet(app, out)
    exported = duckdb.sql(f"SELECT hazard_id, description FROM {views_sql(out, 'hazard_list')} "
                          "ORDER BY no").fetchall()
    assert exported == [(row["hazard_id"], row["description"])
                        for row in document(county)["hazard_list"]] != []

    kept = county.files[0]
    kept.write_bytes(kept.read_bytes().replace(b'"statistics"', b'"statistics" '))
    again = tmp_path / "again"
    with pytest.raises(ExportError, match="the views no longer reproduce 610902's submission"):
        export_parquet(app, again)
    assert not list(again.rglob("*.parquet"))


def test_the_readme_table_is_the_generated_one() -> None:
    text = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    begin = text.index("\n", text.index("<!-- parquet-views:begin")) + 1
    assert text[begin:text.index("<!-- parquet-views:end -->")] == markdown_table(), \
        "the README's views table is stale; paste `infra.export.views.markdown_table()`"


def test_a_periods_rows_are_written_before_the_next_periods_are_read(
        app: Zhibao, ledger: Ledger, reporter: Reporter, tmp_path: Path) -> None:
    """A province holds far more rows than fit in memory: each period's files are written
    once its documents are read, period by period, not all periods' at the end."""
    for period in ("2021-02", "2021-03"):
        reporter.report(TOWN, period)
    exported = export_parquet(app, tmp_path / "export")
    periods = [file.path.split("period=")[1].split("/")[0] for file in exported.files
               if file.path.startswith("views/")]
    assert periods == sorted(periods) and set(periods) == {"2021-02", "2021-03"}
