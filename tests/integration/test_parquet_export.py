"""The Parquet export on both stores, read back by two independent readers (DuckDB and
pyarrow.dataset) and compared with the store: every event exactly once, typed values,
partitions, incremental runs, an interrupted run, and directories that must be refused."""

from __future__ import annotations

import fcntl
import json
from collections import Counter
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from eventsourcing.persistence import StoredEvent

from domain.base import SHANGHAI, event_id
from infra.audit.checkpoints import newest_checkpoint, take_checkpoint
from infra.export import parquet
from infra.export.columns import DICTIONARY, MONEY, TIMESTAMP, dataset_name, markdown_tables
from infra.export.manifest import MANIFEST, ExportError, Manifest
from infra.export.parquet import export_parquet
from infra.intake.service import Zhibao
from infra.store.log import notifications
from infra.store.records import pack_record, unpack_record
from infra.store.summary import events_by_type
from tests.conftest import FakeClock
from tests.support.ledger_world import Ledger, build_ledger, general_hazard

HIVE = ds.partitioning(pa.schema([("county", pa.string()), ("recorded_year", pa.string())]),
                       flavor="hive")


def read_dataset(directory: Path, dataset: str) -> pa.Table:
    return ds.dataset(directory / "events" / dataset, format="parquet",
                      partitioning=HIVE).to_table()


def events_sql(directory: Path, dataset: str) -> str:
    """DuckDB's view of one dataset, hive partition values read as text."""
    return (f"read_parquet('{directory}/events/{dataset}/*/*/*.parquet', hive_partitioning = "
            "true, hive_types = {'county': VARCHAR, 'recorded_year': VARCHAR})")


def duck(sql: str) -> list[tuple[Any, ...]]:
    return duckdb.sql(sql).fetchall()


def all_positions_and_hashes(directory: Path) -> list[tuple[int, str]]:
    return duckdb.sql(f"SELECT position, hash FROM read_parquet('{directory}/events/*/*/*/"
                      "*.parquet', union_by_name = true) ORDER BY position").fetchall()


def store_positions_and_hashes(app: Zhibao) -> list[tuple[int, str]]:
    return [(n.id, unpack_record(n.state)[1]) for n in notifications(app.recorder)]


@pytest.fixture
def ledger(app: Zhibao, clock: FakeClock) -> Ledger:
    return build_ledger(app, clock)


def test_every_event_is_exported_once_with_typed_values(app: Zhibao, ledger: Ledger,
                                                        tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parquet, "PENDING_ROWS", 3)  # files of many batches, many dictionaries
    out = tmp_path / "export"
    result = export_parquet(app, out)

    assert all_positions_and_hashes(out) == store_positions_and_hashes(app)
    by_type = events_by_type(app.recorder)
    assert result.events == sum(by_type.values())
    for event_type, count in by_type.items():
        assert read_dataset(out, dataset_name(event_type)).num_rows == count, event_type
        assert duck(f"SELECT count(*) FROM {events_sql(out, dataset_name(event_type))}") == \
            [(count,)], event_type

    ids = duckdb.sql("SELECT aggregate_id, aggregate_version, event_id FROM read_parquet("
                     f"'{out}/events/*/*/*/*.parquet', union_by_name = true)").fetchall()
    assert all(str(event_id(UUID(aggregate), version)) == exported
               for aggregate, version, exported in ids)

    fines = read_dataset(out, "fine_imposed")
    assert fines.schema.field("amount_yuan").type == MONEY
    assert fines.column("amount_yuan").to_pylist() == [Decimal("15000.00")]
    assert fines.column("county").to_pylist() == ["610902"]
    assert fines.column("aggregate_id").to_pylist() == [str(ledger.case)]

    plans = read_dataset(out, "rectification_plan_submitted")
    assert plans.schema.field("plan_deadline").type == pa.date32()
    assert plans.schema.field("occurred_at").type == TIMESTAMP
    assert plans.schema.field("actor_role").type == DICTIONARY
    major = plans.filter(ds.field("aggregate_id") == str(ledger.major_hazard)).to_pylist()[0]
    assert major["plan_funds_yuan"] == Decimal("25000.00")
    assert major["plan_deadline"] == date(2021, 4, 20)
    assert major["plan_responsible_person"] == "王工"
    assert (major["month"], major["recorded_year"], major["county"]) == \
        ("2021-03", "2021", "610902")
    stored = app.repository.get(ledger.major_hazard).plan
    assert stored.funds_fen == 2_500_000

    listed = duck("SELECT listing_level, listing_deadline, listing_notice_no, occurred_at, "
                  f"recorded_at FROM {events_sql(out, 'hazard_listed')}")
    level, deadline, notice, occurred, recorded = listed[0]
    listing_event = next(e for e in app.events.get(ledger.major_hazard)
                         if type(e).__name__ == "HazardListed")
    assert (level, deadline, notice) == ("county", date(2021, 4, 30), "汉滨安委〔2021〕3号")
    assert occurred == listing_event.occurred_at and recorded == listing_event.timestamp

    flags = read_dataset(out, "enterprise_flags_changed").to_pylist()[0]
    assert (flags["flags_crowded_place"], flags["flags_high_risk"]) == (True, False)
    units = read_dataset(out, "admin_unit_registered")
    village = units.filter(ds.field("code") == "610921100201").to_pylist()[0]
    assert village["county"] == "610921" and village["level"] == "village"
    assert units.filter(ds.field("code") == "610900").to_pylist()[0]["county"] == "610900"


def test_files_are_zstd_single_row_group_and_listed_in_the_manifest(app: Zhibao, ledger: Ledger,
                                                                    tmp_path: Path) -> None:
    out = tmp_path / "export"
    export_parquet(app, out)
    manifest = Manifest.model_validate_json((out / MANIFEST).read_bytes())
    on_disk = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.parquet"))
    assert sorted(entry.path for entry in manifest.files) == on_disk
    for entry in manifest.files:
        metadata = pq.ParquetFile(out / entry.path).metadata
        assert metadata.num_rows == entry.rows and metadata.num_row_groups == 1
        assert metadata.row_group(0).column(0).compression == "ZSTD"
    assert not list(out.rglob(".*"))  # no temporary files left behind
    assert manifest.watermark == app.recorder.max_notification_id()


def test_incremental_runs_export_only_what_is_new(app: Zhibao, ledger: Ledger, clock: FakeClock,
                                                  tmp_path: Path, signed: Path) -> None:
    out = tmp_path / "export"
    first = export_parquet(app, out)
    clock.advance(days=30)
    general_hazard(ledger.world, clock, "shop", 15, close=False)
    ledger.world.do("ReportRectificationProgress", "chem", hazard_id=ledger.hazards[2],
                    percent=40)
    take_checkpoint(app)
    second = export_parquet(app, out)
    assert second.run == 2 and second.after == first.through
    assert {entry.run for entry in second.files} == {2}
    assert min(entry.first_position for entry in second.files) == first.through + 1

    assert all_positions_and_hashes(out) == store_positions_and_hashes(app)
    manifest = json.loads((out / MANIFEST).read_text())
    assert sum(f["rows"] for f in manifest["files"]) == sum(events_by_type(app.recorder).values())
    assert manifest["runs"][1]["checkpoint"] == newest_checkpoint(app).note

    progress = read_dataset(out, "rectification_progress_reported").to_pylist()
    assert [(row["percent"], row["aggregate_id"]) for row in progress] == \
        [(40, str(ledger.hazards[2]))]
    reported = read_dataset(out, "hazard_reported")
    assert Counter(reported.column("month").to_pylist()) == {"2021-03": 8}

    third = export_parquet(app, out)
    assert third.events == 0 and third.files == []
    assert json.loads((out / MANIFEST).read_text()) == manifest


@pytest.mark.parametrize(("killed_at", "visible"), [(1, False), (2, True)])
def test_an_interrupted_run_is_redone_without_duplicates(app: Zhibao, ledger: Ledger,
                                                         clock: FakeClock, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         killed_at: int, visible: bool) -> None:
    """Killed while writing its files (at the manifest naming the files it publishes), a
    run leaves only hidden temporaries no glob reader sees; killed while publishing (at its
    last manifest), the files it published are named as pending. Either way the next run
    removes exactly those and redoes the run."""
    out = tmp_path / "export"
    export_parquet(app, out)
    committed = all_positions_and_hashes(out)
    clock.advance(days=20)
    general_hazard(ledger.world, clock, "chem", 20)
    real_write = parquet.write_manifest
    writes = []

    def killed(directory: Path, manifest: Manifest) -> None:
        writes.append(manifest)
        if len(writes) > killed_at:
            raise KeyboardInterrupt("killed")
        real_write(directory, manifest)

    monkeypatch.setattr(parquet, "write_manifest", killed)
    with pytest.raises(KeyboardInterrupt):
        export_parquet(app, out)
    assert any(p.name.startswith(".part-000002") for p in out.rglob(".*.tmp")) != visible
    assert any("part-000002" in p.name for p in out.rglob("*.parquet")) == visible
    if not visible:
        assert all_positions_and_hashes(out) == committed
    monkeypatch.setattr(parquet, "write_manifest", real_write)

    redone = export_parquet(app, out)
    assert redone.run == 2
    assert all_positions_and_hashes(out) == store_positions_and_hashes(app)
    assert not list(out.rglob("*.tmp"))


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {p.relative_to(directory).as_posix(): p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def test_a_directory_holding_other_data_is_refused(app: Zhibao, ledger: Ledger,
                                                   tmp_path: Path) -> None:
    out = tmp_path / "export"
    out.mkdir()
    (out / "sales.csv").write_text("id,amount\n1,2\n")
    before = _snapshot(out)
    with pytest.raises(ExportError, match=r"already holds other data \(sales.csv\)"):
        export_parquet(app, out)
    assert _snapshot(out) == before


@pytest.mark.parametrize("manifest, message", [
    (b"{not json", "is corrupt"),
    (b'{"format": "zhibao-parquet/1", "watermark": 5}', "store: Field required"),
    (b'{"format": "zhibao-parquet/1", "store": "x", "watermark": "many"}', "watermark"),
    (b'{"format": "csv", "store": "x"}', "format 'csv'"),
])
def test_a_corrupt_manifest_is_refused(app: Zhibao, ledger: Ledger, tmp_path: Path,
                                       manifest: bytes, message: str) -> None:
    out = tmp_path / "export"
    out.mkdir()
    (out / MANIFEST).write_bytes(manifest)
    before = _snapshot(out)
    with pytest.raises(ExportError, match=message):
        export_parquet(app, out)
    assert _snapshot(out) == before


def test_a_manifest_listing_a_missing_file_is_refused(app: Zhibao, ledger: Ledger,
                                                      tmp_path: Path) -> None:
    out = tmp_path / "export"
    export_parquet(app, out)
    next(out.rglob("*.parquet")).unlink()
    before = _snapshot(out)
    with pytest.raises(ExportError, match="is missing"):
        export_parquet(app, out)
    assert _snapshot(out) == before


def test_an_export_of_another_store_is_refused(app: Zhibao, ledger: Ledger, tmp_path: Path,
                                               clock: FakeClock) -> None:
    export_parquet(app, tmp_path / "export")
    other = Zhibao(app.settings.model_copy(
        update={"database_url": f"sqlite:///{tmp_path}/other.db"}), clock=clock)
    try:
        build_ledger(other, clock, general=1)
        before = _snapshot(tmp_path / "export")
        with pytest.raises(ExportError, match="export of another store"):
            export_parquet(other, tmp_path / "export")
        assert _snapshot(tmp_path / "export") == before
    finally:
        other.close()


def test_an_empty_store_is_refused(app: Zhibao, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="the store is empty"):
        export_parquet(app, tmp_path / "export")
    assert not (tmp_path / "export").exists()


def test_months_are_business_months_in_shanghai(app: Zhibao, ledger: Ledger, clock: FakeClock,
                                                tmp_path: Path) -> None:
    """An event at 2021-03-31 23:30 in Shanghai is 15:30 UTC: it belongs to March."""
    world = ledger.world
    clock.advance(days=30)
    world.do("ReportHazard", "town", enterprise_id=world.enterprises["chem"],
             channel="supervisory_inspection", discovered_at="2021-03-31T23:30",
             description="夜间巡查", category="unsafe_condition")
    export_parquet(app, tmp_path / "export")
    reported = events_sql(tmp_path / "export", "hazard_reported")
    rows = duck(f"SELECT month, occurred_at FROM {reported} "
                "WHERE occurred_at = TIMESTAMPTZ '2021-03-31 15:30:00Z'")
    assert rows == [("2021-03", datetime(2021, 3, 31, 23, 30, tzinfo=SHANGHAI))]


def test_a_second_export_into_the_same_directory_waits_its_turn(app: Zhibao, ledger: Ledger,
                                                                tmp_path: Path) -> None:
    out = tmp_path / "export"
    export_parquet(app, out)
    with (out / parquet.LOCK).open("w") as running:
        fcntl.flock(running, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a running export holds it
        with pytest.raises(ExportError, match=r"another export into .* is running"):
            export_parquet(app, out)
    assert export_parquet(app, out).events == 0  # free again, and nothing was half-done


README = Path(__file__).parents[2] / "README.md"


def test_the_readme_tables_are_the_generated_ones() -> None:
    text = README.read_text(encoding="utf-8")
    begin = text.index("\n", text.index("<!-- parquet-tables:begin")) + 1
    assert text[begin:text.index("<!-- parquet-tables:end -->")] == markdown_tables(), \
        "the README's Parquet tables are stale; paste the output of `python -c 'from " \
        "infra.export.columns import markdown_tables; print(markdown_tables(), end=\"\")'`"


def test_the_readme_queries_run(app: Zhibao, ledger: Ledger, tmp_path: Path) -> None:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Parquet export for warehouses"):]
    sql = section.split("```sql\n", 1)[1].split("```", 1)[0]
    python = section.split("```python\n", 1)[1].split("```", 1)[0]
    export_parquet(app, tmp_path / "warehouse")
    rows = duckdb.sql(sql.replace("'warehouse/", f"'{tmp_path}/warehouse/")).fetchall()
    assert sum(count for *_, count in rows) == 7 and rows[0][:2] == ("610902", "2021-03")
    namespace: dict[str, Any] = {}
    exec(python.replace('"warehouse/', f'"{tmp_path}/warehouse/'), namespace)
    assert namespace["fines"].column("amount_yuan").to_pylist() == [Decimal("15000.00")]


def test_an_event_keeps_the_partition_the_tree_gave_it_when_it_was_recorded(
        app: Zhibao, ledger: Ledger, tmp_path: Path) -> None:
    """Events are converted in batches, after the unit events read since: one naming a code
    before its unit was registered (only a store written outside the rules holds one) stays
    without a county, while the same code's later events go to the county of its unit."""
    village = "610902101203"  # under 关庙镇, 汉滨区 (610902)
    reported = next(n for n in notifications(app.recorder)
                    if n.topic.endswith("Hazard.HazardReported"))
    prev, digest, payload = unpack_record(reported.state)
    stray = uuid4()
    app.recorder.insert_events([StoredEvent(
        stray, 1, reported.topic,
        pack_record(prev, digest, payload.replace(b'"unit_code":"610902101201"',
                                                  b'"unit_code":"%s"' % village.encode())))])
    ledger.world.do("RegisterAdminUnit", "province", code=village, code_system="NBS12",
                    level="village", kind="村委会", name="三村", parent_code="610902101000",
                    valid_from="2021-01-01")

    export_parquet(app, tmp_path / "out")
    reports = read_dataset(tmp_path / "out", "hazard_reported").to_pylist()
    assert [row["county"] for row in reports if row["aggregate_id"] == str(stray)] == [
        None]  # hive reads __HIVE_DEFAULT_PARTITION__ as null
    registered = read_dataset(tmp_path / "out", "admin_unit_registered").to_pylist()
    assert [row["county"] for row in registered if row["unit_code"] == village] == ["610902"]
