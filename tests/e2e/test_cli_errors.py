"""No traceback ever reaches a user of the command line (issue 10 §4), on both stores: what
the user can fix is one line naming the option or field and the rule, exit status 2, and
nothing written; a damaged store is a finding of `audit verify`, not a crash; anything
unforeseen is a short message saying where the details were logged, exit status 3."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from infra.cli.common import ERROR_LOG
from infra.cli.main import INTERNAL_ERROR, USER_ERROR, main
from infra.intake.service import Zhibao
from infra.settings import Settings, get_settings
from tests.conftest import PG_ADMIN_URL, FakeClock, open_app
from tests.support.builders import ADMIN, World, build_world


@pytest.fixture
def world(database_url: str, clock: FakeClock, tmp_path: Path,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """A registered world, and the environment a user's shell gives the command line."""
    app = open_app(database_url, clock, tmp_path / "out")
    built = build_world(app)
    monkeypatch.setenv("ZHIBAO_DATABASE_URL", database_url)
    monkeypatch.setenv("ZHIBAO_OUTPUT_DIR", str(tmp_path / "out"))
    monkeypatch.setenv("ZHIBAO_AUDIT_SIGNING_KEY", str(tmp_path / "audit.key"))
    monkeypatch.setenv("ZHIBAO_ACTOR", str(built.persons[ADMIN]))
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield built
    get_settings.cache_clear()
    app.close()


def events(world: World) -> int:
    app = Zhibao(Settings(database_url=world.app.settings.database_url))
    try:
        return app.recorder.max_notification_id() or 0
    finally:
        app.close()


def one_line_error(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """Run the command line: it must fail with status 2 and one line, no traceback."""
    status = main(list(args))
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    assert status == USER_ERROR, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 or lines[0].startswith("usage:"), err
    return " ".join(err.split())


@pytest.mark.parametrize(("args", "names"), [
    (["report", "--unit", "610900", "--period", "9999-12"], "period: 9999-12 lies outside"),
    (["report", "--unit", "610900", "--period", "0000-01"], "period: 0000-01 lies outside"),
    (["import-tasks", "tasks.csv", "--org", "x"], "unrecognized arguments: --org x"),
    (["audit", "as-of", "--unit", "610900", "--period", "2021-02", "--known-at",
      "2021-03-01T10:00", "--out", "nodir/x.json"], "--out: nodir is not a directory"),
    (["command", '{"command": "\udcff"}'], "argument 2: not UTF-8 text"),
    (["command", '{"command": "VoidHazard", "command": "VoidHazard"}'],
     "command: the key appears twice in one object (STRICT-JSON)"),
    (["import", "no-such-file.jsonl"], "no-such-file.jsonl: no such file"),
])
def test_a_users_mistake_is_one_line_naming_it(world, capsys, args, names):
    before = events(world)
    assert names in one_line_error(capsys, *args)
    assert events(world) == before


def test_a_null_record_is_a_finding_of_verify_not_a_crash(world, capsys):
    app = world.app
    table = app.recorder.events_table_name
    position = 5
    if app.settings.database_url.startswith("sqlite"):
        import sqlite3

        with sqlite3.connect(app.settings.database_url.removeprefix("sqlite:///")) as db:
            db.execute(f"UPDATE {table} SET state = NULL WHERE rowid = ?", (position,))
    else:
        schema = app.settings.database_url.rpartition("schema=")[2]
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as db:
            try:
                db.execute(f'UPDATE "{schema}".{table} SET state = NULL '
                           "WHERE notification_id = %s", (position,))
            except psycopg.errors.NotNullViolation:
                pytest.skip("PostgreSQL's store refuses a NULL record outright")
    status = main(["audit", "verify"])
    err = " ".join(capsys.readouterr().err.split())
    assert "Traceback" not in err
    assert status == 1, err
    assert "altered at" in err and "is empty or cut short" in err, err
    assert one_line_error(capsys, "command", '{"command": "VoidHazard"}').startswith(
        "error: a stored event's record is empty or cut short")


def test_an_unforeseen_error_says_where_its_details_are(world, capsys, tmp_path):
    """A store file that is no database at all: zhibao cannot have foreseen it."""
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"this is not a database" * 100)
    status = main(["--database-url", f"sqlite:///{broken}", "info"])
    err = " ".join(capsys.readouterr().err.split())
    assert "Traceback" not in err
    assert status == INTERNAL_ERROR, err
    log = tmp_path / "out" / ERROR_LOG
    assert f"details in {log}" in err
    assert "Traceback" in log.read_text()


@pytest.mark.parametrize(("variable", "value", "names"), [
    ("ZHIBAO_MAX_EVENT_BYTES", "2000000", "settings: ZHIBAO_MAX_EVENT_BYTES (2000000) must "
                                          "stay at least 65536 bytes below"),
    ("ZHIBAO_CLOCK_SKEW_SECONDS", "soon", "ZHIBAO_CLOCK_SKEW_SECONDS: Input should be a valid "
                                          "integer"),
])
def test_a_bad_setting_is_one_line_naming_the_variable(world, capsys, monkeypatch, variable,
                                                        value, names):
    before = events(world)
    monkeypatch.setenv(variable, value)
    get_settings.cache_clear()
    assert names in one_line_error(capsys, "info")
    monkeypatch.delenv(variable)
    assert events(world) == before
