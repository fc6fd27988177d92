"""The largest value every bound accepts passes through every stage (issue 10 §2), on both
stores and both brokers: the largest amount, count, text, list and deadline — and an event
near ZHIBAO_MAX_EVENT_BYTES — are folded into the views, reported as JSON and workbook,
encoded and decoded as Avro, relayed, applied by the county consumer, exported to
Parquet, replayed as of a moment and verified. Before the bounds, one such value stored
broke every later stage for good."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from uuid import uuid4

import duckdb
import orjson
import pytest
from openpyxl import load_workbook

from domain.values import DEADLINE_YEARS, MAX_COUNT, MAX_FEN, MAX_ITEMS, MAX_TEXT
from infra.audit.as_of import submission_as_of
from infra.audit.integrity import verify
from infra.export.parquet import export_parquet
from infra.intake.parsing import command_from_json
from infra.kafka.relay import Relay
from infra.reporting.reporter import Reporter, catch_up, open_views
from projections.store import ViewStore
from tests.integration.test_kafka_consumer import (
    COUNTY,
    consume,
    store_fed_county_views,
    table_rows,
)
from tests.integration.test_kafka_relay import assert_all_published_once, kafka_settings
from tests.support.builders import World, build_world

pytestmark = pytest.mark.kafka

LONGEST = "隐" * MAX_TEXT
MEASURE = "落实双重预防机制" * 10  # 80 characters; a thousand of them make an event of ~245 kB


def issue(world: World, by: str, command: str, **fields: object) -> None:
    """As an entry point does: JSON text through the shared parser, as a person."""
    raw = json.dumps({"command": command, **fields}, ensure_ascii=False, default=str)
    world.app.execute(command_from_json(raw, world.app.settings.max_event_bytes),
                      world.issuer(by))


def record_the_largest(world: World) -> dict[str, str]:
    chem = str(world.enterprises["chem"])
    hazard, case, risk = str(uuid4()), str(uuid4()), str(uuid4())
    issue(world, "town", "ReportHazard", hazard_id=hazard, enterprise_id=chem,
          channel="supervisory_inspection", discovered_at="2021-02-20T10:00",
          description=LONGEST, location_detail=LONGEST, category="unsafe_condition")
    today = world.app.clock().date()
    issue(world, "town", "ConfirmHazard", hazard_id=hazard, grade="general",
          treatment="deadline", deadline=today.replace(year=today.year + DEADLINE_YEARS))
    issue(world, "county_ema", "OpenEnforcementCase", case_id=case, enterprise_id=chem,
          case_no="汉应急罚〔2021〕1号", opened_on="2021-02-01")
    issue(world, "county_ema", "ImposeFine", case_id=case, decided_on="2021-02-02",
          amount=f"{MAX_FEN}分", decision_no=LONGEST)
    issue(world, "chem", "SubmitSelfInspection", enterprise_id=chem, period="2021-02",
          submitted_at="2021-02-25T10:00", signed_by_principal=True, hazards_found=MAX_COUNT)
    issue(world, "chem", "IdentifyRiskPoint", risk_point_id=risk, enterprise_id=chem,
          description=LONGEST, likelihood=5, severity=5, level="red",
          identified_on="2021-02-03")
    issue(world, "chem", "SetRiskControls", risk_point_id=risk,
          measures=[MEASURE] * MAX_ITEMS, owner_level="企业")
    return {"hazard": hazard, "case": case, "risk": risk}


def test_the_largest_values_pass_every_stage(app, clock, kafka_broker, tmp_path: Path):
    world = build_world(app)
    ids = record_the_largest(world)
    largest_event = max(len(n.state) for n in app.recorder.select_notifications(
        start=1, limit=100_000))
    assert app.settings.max_event_bytes * 0.9 < largest_event <= \
        app.settings.max_event_bytes + 200  # the record's chain header besides the event

    # Avro encode and decode, both brokers, the county consumer
    settings = kafka_settings(app, kafka_broker)
    Relay(app, settings).run()
    assert_all_published_once(app, settings)
    county_views = ViewStore(f"sqlite:///{tmp_path}/county-views.db")
    try:
        consume(county_views, settings)
        assert table_rows(county_views) == store_fed_county_views(app, COUNTY)
    finally:
        county_views.close()

    # the views, the county's submission as JSON and workbook
    clock.advance(days=3)
    views = open_views(app)
    try:
        catch_up(app, views)
        with views.snapshot() as tx:
            assert tx.rows("SELECT amount_fen FROM view_enforcement WHERE action = 'fine'") == \
                [(MAX_FEN,)]
            assert tx.rows("SELECT description FROM view_hazards WHERE hazard_id = ?",
                           (ids["hazard"],)) == [(LONGEST,)]
        done = Reporter(app, views, tmp_path / "out").report(COUNTY, "2021-02")
    finally:
        views.close()
    document = orjson.loads(next(p for p in done.files if p.suffix == ".json").read_bytes())
    fines = next(row for row in document["statistics"] if row["code"] == "D3")
    assert fines["month"] == MAX_FEN  # in fen; the workbook shows 万元
    assert any(row["description"] == LONGEST for row in document["hazard_list"])
    workbook = load_workbook(next(p for p in done.files if p.suffix == ".xlsx"))
    cells = {str(cell.value) for sheet in workbook for row in sheet.iter_rows()
             for cell in row if cell.value is not None}
    assert str(MAX_FEN // 1_000_000) in cells and LONGEST in cells

    # replayed as of the submission's cut-off: the same document
    recorded_at = app.clock()
    assembled = submission_as_of(app, recorded_at, COUNTY, "2021-02")
    assert assembled.sha256 == done.sha256

    # the Parquet export
    out = tmp_path / "export"
    export_parquet(app, out)
    parquet = f"read_parquet('{out}/events/{{}}/*/*/*.parquet')"
    assert duckdb.sql(f"SELECT amount_yuan FROM {parquet.format('fine_imposed')}").fetchall() \
        == [(Decimal(MAX_FEN) / 100,)]
    assert duckdb.sql(f"SELECT len(measures) FROM "
                      f"{parquet.format('risk_control_measure_set')}").fetchall() == \
        [(MAX_ITEMS,)]

    # and the store verifies
    assert verify(app).ok
