"""`zhibao audit verify|checkpoint` and `zhibao export parquet` as a user runs them: exit
status, what is printed, and bad input refused with a clear message."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from infra.cli.main import main
from infra.intake.service import Zhibao
from tests.conftest import FakeClock, make_key
from tests.integration.test_audit_tamper import RawStore
from tests.support.ledger_world import Ledger, build_ledger


@pytest.fixture
def ledger(app: Zhibao, clock: FakeClock) -> Ledger:
    return build_ledger(app, clock, general=3)


def test_checkpoint_then_verify_with_a_copy_kept(app: Zhibao, ledger: Ledger, app_env: Path,
                                                 tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "checkpoint"]) == 2  # no key yet: says how to make one
    assert "zhibao audit keygen" in capsys.readouterr().err
    assert main(["audit", "keygen", "--name", "test.example/log", "--out",
                 str(tmp_path / "audit.key")]) == 0
    vkey = capsys.readouterr().out.strip()
    assert vkey.startswith("test.example/log+") and (tmp_path / "audit.key.pub").is_file()
    assert main(["audit", "keygen", "--name", "x", "--out", str(tmp_path / "audit.key")]) == 2
    assert "is never overwritten" in capsys.readouterr().err

    assert main(["audit", "checkpoint"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("test.example/log\n") and "— test.example/log " in out
    assert "checkpoint 1:" in " ".join(err.split())
    assert main(["audit", "checkpoint"]) == 0
    assert "nothing new to sign" in capsys.readouterr().err

    kept = tmp_path / "kept.note"
    kept.write_text(out)
    assert main(["audit", "verify", "--anchor", str(kept), "--key", vkey, "--json"]) == 0
    result = orjson.loads(capsys.readouterr().out)
    assert result["ok"] is True and result["checkpoints"] == 1
    assert result["signatures_checked"] and str(kept) in result["anchors"]
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


def test_verify_refuses_a_malformed_anchor(ledger: Ledger, app_env: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "verify", "--anchor", "abc"]) == 2
    assert "--anchor: 'abc' is neither a file holding a checkpoint nor a legacy anchor" in \
        " ".join(capsys.readouterr().err.split())
    (tmp_path / "junk").write_text("hello\n")
    assert main(["audit", "verify", "--anchor", str(tmp_path / "junk")]) == 2
    assert "not a signed note" in " ".join(capsys.readouterr().err.split())


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


def test_prove_and_check_a_submission_offline(app: Zhibao, clock: FakeClock, app_env: Path,
                                              tmp_path: Path, signed: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """An upper level's view: the bundle beside the files checks with only the public key;
    one changed byte, another key or a missing one is refused with one line."""
    from infra.reporting.reporter import Reporter, open_views
    from tests.support.march_world import TOWN, at, build_march

    build_march(app, clock)
    at(clock, "2021-04-03T10:00")
    views = open_views(app)
    try:
        done = Reporter(app, views, tmp_path / "reports").report(TOWN, "2021-03")
    finally:
        views.close()
    document, bundle = done.files[0], done.files[-1]
    assert main(["audit", "check", str(bundle), "--key", str(signed)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"OK: ReportSubmitted {TOWN} 2021-03 version 1") and \
        "the document is the one it records" in out  # found beside the bundle

    assert main(["audit", "prove", "--unit", TOWN, "--period", "2021-03", "--out",
                 str(tmp_path / "again.json")]) == 0
    capsys.readouterr()
    assert main(["audit", "check", str(tmp_path / "again.json"), "--key", str(signed),
                 "--document", str(document)]) == 0
    capsys.readouterr()

    forged = tmp_path / "forged.bundle.json"
    forged.write_bytes(bundle.read_bytes().replace(done.sha256[:8].encode(), b"00000000"))
    assert main(["audit", "check", str(forged), "--key", str(signed)]) == 1
    assert "is not leaf" in " ".join(capsys.readouterr().err.split())
    other = tmp_path / "other.key"
    public = make_key(other)
    assert main(["audit", "check", str(bundle), "--key", str(public)]) == 1
    assert "not signed by a trusted key" in " ".join(capsys.readouterr().err.split())
    assert main(["audit", "check", str(bundle), "--key", "nonsense"]) == 2
    assert "--key: not a verifier key" in capsys.readouterr().err
    assert main(["audit", "prove", "--unit", TOWN, "--period", "2021-02"]) == 2
    assert "has no submission for '2021-02'" in capsys.readouterr().err


def test_a_city_witnesses_and_cosigns_from_the_command_line(
        app: Zhibao, ledger: Ledger, app_env: Path, tmp_path: Path, signed: Path,
        clock: FakeClock, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.support.ledger_world import general_hazard

    assert main(["audit", "checkpoint"]) == 0
    first = tmp_path / "first.note"
    first.write_text(capsys.readouterr().out)
    clock.advance(days=30)
    general_hazard(ledger.world, clock, "shop", 20, close=False)
    assert main(["audit", "checkpoint"]) == 0
    capsys.readouterr()
    assert main(["audit", "keygen", "--witness", "--name", "city.example/witness", "--out",
                 str(tmp_path / "city.key")]) == 0
    capsys.readouterr()
    proof = tmp_path / "proof.json"
    assert main(["audit", "prove", "--consistency", str(first), "--out", str(proof)]) == 0
    assert main(["audit", "check", str(proof), "--key", str(signed)]) == 0
    assert "extends its checkpoint" in capsys.readouterr().out
    state = tmp_path / "city-witness.json"
    assert main(["audit", "witness", str(proof), "--key", str(signed), "--state", str(state),
                 "--cosign", str(tmp_path / "city.key")]) == 0
    cosigned = tmp_path / "cosigned.note"
    cosigned.write_text(capsys.readouterr().out)
    assert "— city.example/witness " in cosigned.read_text()
    bundle = tmp_path / "bundle.json"
    assert main(["audit", "prove", "--position", "3", "--checkpoint", str(cosigned), "--out",
                 str(bundle)]) == 0
    assert main(["audit", "check", str(bundle), "--key", str(signed), "--witness-key",
                 str(tmp_path / "city.key.pub")]) == 0
    assert "city.example/witness" in capsys.readouterr().out
