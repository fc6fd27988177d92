"""The scheduled export and audit as real Prefect flow runs (against Prefect's test server),
on both stores, and their deployments' schedules."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from domain.audit import AUDIT_TRAIL_ID
from flows.audit import TamperDetected, store_audit
from flows.export import parquet_export
from infra.audit.integrity import verify
from infra.intake.service import Zhibao
from tests.conftest import FakeClock
from tests.integration.test_audit_tamper import RawStore
from tests.support.ledger_world import Ledger, build_ledger, general_hazard


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


def test_audit_flow_verifies_then_signs(prefect_harness: None, app_env: Path, app: Zhibao,
                                        ledger: Ledger, signed: Path, clock: FakeClock) -> None:
    first = store_audit()
    assert first["ok"] and first["checkpoint"]["number"] == 1 and first["extends"] == []
    clock.advance(days=30)
    general_hazard(ledger.world, clock, "shop", 20, close=False)
    second = store_audit()
    assert second["ok"] and second["checkpoint"]["number"] == 2
    assert second["anchors"] and "checkpoints.jsonl" in second["extends"][0]
    assert store_audit()["checkpoint"] is None  # nothing new but the checkpoint
    assert verify(app).checkpoints == 2


def test_audit_flow_fails_and_signs_nothing_over_a_broken_store(prefect_harness: None,
                                                                app_env: Path, app: Zhibao,
                                                                ledger: Ledger,
                                                                signed: Path) -> None:
    raw = RawStore(app)
    raw.delete(ledger.hazards[0], 2)
    raw.conn.close()
    with pytest.raises(TamperDetected, match="missing at position"):
        store_audit()
    assert verify(app).checkpoints == 0


def test_audit_flow_finds_checkpoints_removed_from_the_store(prefect_harness: None,
                                                             app_env: Path, app: Zhibao,
                                                             ledger: Ledger,
                                                             signed: Path) -> None:
    """The issue-10 attack: every audit record deleted, the tree too; the flow passes no
    anchor, yet the copy kept outside the store is found, and nothing is re-sealed."""
    store_audit()
    raw = RawStore(app)
    raw.delete(AUDIT_TRAIL_ID)
    raw.clear_tree()
    raw.conn.close()
    with pytest.raises(TamperDetected, match="not in the store: checkpoints were removed"):
        store_audit()
    assert verify(app).checkpoints == 0
