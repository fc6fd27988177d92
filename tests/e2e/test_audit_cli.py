"""`zhibao audit verify|checkpoint` and `zhibao export parquet` as a user runs them: exit
status, what is printed, and bad input refused with a clear message."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from infra.cli.main import main
from infra.intake.service import Zhibao
from tests.conftest import FakeClock
from tests.integration.test_audit_tamper import RawStore
from tests.support.ledger_world import Ledger, build_ledger


@pytest.fixture
def ledger(app: Zhibao, clock: FakeClock) -> Ledger:
    return build_ledger(app, clock, general=3)


def test_checkpoint_then_verify_with_its_anchor(app: Zhibao, ledger: Ledger, app_env: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "checkpoint"]) == 0
    out, err = capsys.readouterr()
    anchor = out.strip()
    assert len(anchor) == 64 and "checkpoint 1: sealed" in err
    assert main(["audit", "checkpoint"]) == 0
    assert "nothing new to seal" in capsys.readouterr().err

    assert main(["audit", "verify", "--anchor", anchor, "--json"]) == 0
    result = orjson.loads(capsys.readouterr().out)
    assert result["ok"] is True and result["checkpoints"] == 1
    assert result["events"] == app.recorder.max_notification_id()


def test_verify_names_the_first_broken_link(app: Zhibao, ledger: Ledger, app_env: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    raw = RawStore(app)
    hazard = ledger.hazards[0]
    position = raw.position_of(hazard, 2)
    raw.delete(hazard, 2)
    raw.conn.close()
    assert main(["audit", "verify"]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert f"missing at position {position + 1}, aggregate {hazard} version 3" in err


def test_verify_refuses_a_malformed_anchor(ledger: Ledger, app_env: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "verify", "--anchor", "abc"]) == 2
    assert "--anchor: 'abc' is not a SHA-256 hash" in capsys.readouterr().err


def test_export_parquet_and_a_refused_directory(ledger: Ledger, app_env: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "export"
    assert main(["export", "parquet", str(out)]) == 0
    assert "run 1: positions 1–" in " ".join(capsys.readouterr().err.split())
    assert main(["export", "parquet", str(out)]) == 0
    assert "is current" in capsys.readouterr().err

    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "data.parquet").write_bytes(b"PAR1")
    assert main(["export", "parquet", str(tmp_path / "foreign")]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "already holds other data (data.parquet)" in err
