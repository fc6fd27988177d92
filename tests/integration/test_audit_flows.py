"""The scheduled export and audit as real Prefect flow runs (against Prefect's test server),
on both stores, and their deployments' schedules."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from flows.audit import TamperDetected, store_audit
from flows.export import parquet_export
from infra.audit.integrity import verify
from infra.intake.service import Zhibao
from tests.conftest import FakeClock
from tests.integration.test_audit_tamper import RawStore
from tests.support.ledger_world import Ledger, build_ledger


@pytest.fixture
def ledger(app: Zhibao, clock: FakeClock) -> Ledger:
    return build_ledger(app, clock, general=3)


def test_export_flow_writes_the_parquet_datasets(prefect_harness: None, app_env: Path,
                                                 app: Zhibao, ledger: Ledger,
                                                 tmp_path: Path) -> None:
    summary = parquet_export()
    events = app.recorder.max_notification_id()
    assert summary["events"] == summary["rows"] == events and summary["run"] == 1
    export = tmp_path / "out" / "parquet"
    assert summary["directory"] == str(export)
    counted = duckdb.sql(f"SELECT count(DISTINCT position) FROM read_parquet('{export}/events/"
                         "*/*/*/*.parquet', union_by_name = true)").fetchall()
    assert counted == [(events,)]
    assert parquet_export()["events"] == 0


def test_audit_flow_verifies_then_seals(prefect_harness: None, app_env: Path, app: Zhibao,
                                        ledger: Ledger) -> None:
    first = store_audit()
    assert first["ok"] and first["checkpoint"]["number"] == 1
    second = store_audit(anchor=first["checkpoint"]["anchor"])
    assert second["ok"] and second["checkpoint"] is None  # nothing new but the checkpoint
    assert verify(app).checkpoints == 1


def test_audit_flow_fails_and_seals_nothing_over_a_broken_store(prefect_harness: None,
                                                                app_env: Path, app: Zhibao,
                                                                ledger: Ledger) -> None:
    raw = RawStore(app)
    raw.delete(ledger.hazards[0], 2)
    raw.conn.close()
    with pytest.raises(TamperDetected, match="missing at position"):
        store_audit()
    assert verify(app).checkpoints == 0
