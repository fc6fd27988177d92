"""The views and their runner on both stores: incremental catch-up equals a rebuild from
zero, every event is applied exactly once (duplicates absorbed, a kill -9 at any moment
leaves nothing half-applied), unknown event types are skipped and counted, and
`zhibao project` shows its progress."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import astuple
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from domain.base import SHANGHAI, micros
from infra.cli.main import main
from infra.intake.service import Zhibao
from infra.reporting.reporter import catch_up
from infra.settings import get_settings
from projections.events import EventRecord
from projections.fold import HAZARD, HAZARD_CONFIRMED, Batch, ViewWriter
from projections.runner import PAGES_PER_COMMIT, Projector, project_records, records
from projections.stats import Window, _latest, tally
from projections.store import PAGE_SIZE, STORE_FEED, ViewStore, _as_snapshot, views_url_for
from projections.tables import TABLES
from projections.tree import UnitTree
from tests.conftest import PG_ADMIN_URL, FakeClock
from tests.support.reports_world import build_half_year

ROOT = Path(__file__).resolve().parents[2]


def dump(views: ViewStore) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every view, in a stable order."""
    with views.snapshot() as tx:
        return {table.name: sorted(tx.rows(f"SELECT * FROM {table.name}"), key=repr)
                for table in TABLES}


def all_records(app: Zhibao) -> list[EventRecord]:
    notifications = app.recorder.select_notifications(start=1, limit=1_000_000)
    return records(notifications)


@pytest.fixture
def world(app: Zhibao, clock: FakeClock) -> Zhibao:
    build_half_year(app, clock)
    return app


def other_views(database_url: str, tmp_path: Path) -> Iterator[ViewStore]:
    """A second, empty views database of the same kind."""
    if database_url.startswith("sqlite"):
        views = ViewStore(f"sqlite:///{tmp_path}/other-views.db")
        yield views
        views.close()
        return
    schema = f"v_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    views = ViewStore(f"{PG_ADMIN_URL}?schema={schema}")
    yield views
    views.close()
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def views(database_url: str) -> Iterator[ViewStore]:
    store = ViewStore(views_url_for(database_url))
    yield store
    store.close()


@pytest.fixture
def fresh_views(database_url: str, tmp_path: Path) -> Iterator[ViewStore]:
    yield from other_views(database_url, tmp_path)


def test_views_sit_beside_the_store(tmp_path: Path) -> None:
    assert views_url_for(f"sqlite:///{tmp_path}/zhibao.db") == \
        f"sqlite:///{tmp_path}/zhibao-views.db"
    assert views_url_for("postgresql://u@h:5432/db?schema=s") == "postgresql://u@h:5432/db?schema=s"


def test_catch_up_in_small_pages_equals_a_rebuild(world: Zhibao, views: ViewStore,
                                                  fresh_views: ViewStore) -> None:
    seen: list[tuple[int, int]] = []
    small = Projector(world.recorder, views, page_size=7).catch_up(
        lambda position, head: seen.append((position, head)))
    head = world.recorder.max_notification_id()
    assert small.position == head == views.position(STORE_FEED)
    pages = -(-head // 7)
    assert seen[-1] == (head, head) and len(seen) == -(-pages // PAGES_PER_COMMIT) > 1
    assert Projector(world.recorder, views).catch_up().applied.folded == 0  # nothing new

    rebuilt = Projector(world.recorder, fresh_views, page_size=1000).rebuild()
    assert rebuilt.applied.folded == small.applied.folded > 200
    assert dump(views) == dump(fresh_views)
    assert sum(map(len, dump(views).values())) > 200


def test_worker_processes_fold_the_same_views(world: Zhibao, database_url: str,
                                              views: ViewStore, fresh_views: ViewStore) -> None:
    """A long backlog is read and folded by worker processes, written here in log order,
    several pages to a commit. Four workers open the store at once (on PostgreSQL they
    once raced each other's DDL and every page fell back to this process)."""
    parallel = Projector(world.recorder, views, page_size=40, database_url=database_url,
                         workers=4, parallel_from=0)
    positions: list[int] = []
    done = parallel.catch_up(lambda position, head: positions.append(position))
    head = world.recorder.max_notification_id()
    assert positions == sorted(positions) and positions[-1] == done.position == head
    assert done.pages_in_workers == -(-head // 40) > 4
    assert len(positions) == -(-done.pages_in_workers // PAGES_PER_COMMIT)
    Projector(world.recorder, fresh_views).rebuild()
    assert dump(views) == dump(fresh_views)


SECONDARY_INDEXES = {f"{table.name}_{'_'.join(index)}" for table in TABLES
                     for index in table.indexes}


def secondary_indexes(views: ViewStore) -> set[str]:
    with views.snapshot() as tx:
        names = tx.rows("SELECT name FROM sqlite_master WHERE type = 'index'"
                        if views.dialect == "sqlite" else
                        "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()")
    return SECONDARY_INDEXES & {name for name, in names}


def test_a_load_from_empty_builds_the_secondary_indexes_at_its_end(
        world: Zhibao, views: ViewStore, fresh_views: ViewStore) -> None:
    during: list[set[str]] = []
    Projector(world.recorder, views, page_size=40, pages_per_commit=1, parallel_from=0
              ).catch_up(lambda position, head: during.append(secondary_indexes(views)))
    assert len(during) > 1 and all(found == set() for found in during)
    assert secondary_indexes(views) == SECONDARY_INDEXES != set()
    with views.transaction() as tx:  # as a load killed midway leaves them
        tx.execute("DROP INDEX view_hazards_unit_code")
    assert Projector(world.recorder, views).catch_up().applied.folded == 0  # a poll: no DDL
    assert secondary_indexes(views) == SECONDARY_INDEXES - {"view_hazards_unit_code"}
    Projector(world.recorder, views, parallel_from=0).catch_up()  # long, as a resumed load
    assert secondary_indexes(views) == SECONDARY_INDEXES
    Projector(world.recorder, fresh_views).rebuild()  # short: its indexes kept throughout
    assert dump(views) == dump(fresh_views)


def test_rebuild_forgets_and_refolds(world: Zhibao, views: ViewStore) -> None:
    projector = Projector(world.recorder, views)
    projector.catch_up()
    before = dump(views)
    again = projector.rebuild()
    assert again.position == world.recorder.max_notification_id()
    assert dump(views) == before


def test_a_record_applied_twice_changes_nothing(world: Zhibao, views: ViewStore,
                                                fresh_views: ViewStore) -> None:
    events = all_records(world)
    project_records(views, events)
    once = dump(views)
    rng = random.Random(3)
    resent = rng.sample(events, len(events) // 2)  # a consumer seeing events again, late
    project_records(views, resent, batch_size=11)
    project_records(views, events, batch_size=5)
    assert dump(views) == once
    project_records(fresh_views, [e for e in events for _ in range(2)], batch_size=13)
    assert dump(fresh_views) == once


def test_a_load_from_empty_skips_a_key_already_there(views: ViewStore) -> None:
    """A load into empty views copies its rows straight into their tables on PostgreSQL;
    a key met twice is still skipped, as by any insert, and the rest of the load stands."""
    orgs = next(table for table in TABLES if table.name == "view_orgs")
    first = ("org-1", "安康市应急管理局", "committee", "city", "610900", 1)
    with views.without_indexes():
        with views.transaction() as tx:
            tx.insert(orgs, [first])
        with views.transaction() as tx:
            tx.insert(orgs, [(*first[:1], "renamed", *first[2:]),
                             ("org-2", "汉滨区应急管理局", "committee", "county", "610902", 2)])
    with views.snapshot() as tx:
        assert tx.rows("SELECT org_id, name FROM view_orgs ORDER BY org_id") == [
            ("org-1", "安康市应急管理局"), ("org-2", "汉滨区应急管理局")]


def test_a_load_from_empty_writes_a_batch_as_inserting_then_updating_would(
        views: ViewStore, fresh_views: ViewStore) -> None:
    """Of two rows of one key the first is kept, with the steps of its key; a step of a row
    not in the batch stays an update."""
    def hazard(hazard_id: str, description: str) -> tuple[Any, ...]:
        return (hazard_id, "610902", "e-1", "chemicals", "inspection", "org-1", "county",
                description, "equipment", "general", "储罐区", None, 10, 11)
    def confirmed(hazard_id: str, grade: str) -> tuple[Any, ...]:
        return (hazard_id, 20, 21, grade, "2021-04-01", "org-2", "GB-1", "rectify", "N-1", None)
    batch = Batch()
    for row in (hazard("h1", "first"), hazard("h2", "plain"), hazard("h1", "second")):
        batch.add(HAZARD, *row)
    for row in (confirmed("h1", "general"), confirmed("h3", "major"), confirmed("h1", "major")):
        batch.add(HAZARD_CONFIRMED, *row)
    with fresh_views.transaction() as tx:
        batch.write(tx)
    with views.without_indexes(), views.transaction() as tx:
        assert tx.from_empty
        batch.write(tx)
    assert dump(views) == dump(fresh_views)
    with views.snapshot() as tx:
        assert tx.rows("SELECT hazard_id, description, confirmed_grade FROM view_hazards "
                       "ORDER BY hazard_id") == [("h1", "first", "major"), ("h2", "plain", None)]


def test_a_new_sqlite_views_file_has_larger_pages_and_an_old_one_keeps_its_own(
        tmp_path: Path) -> None:
    def page_size(path: Path) -> int:
        views = ViewStore(f"sqlite:///{path}")
        with views.transaction() as tx:
            tx.insert(TABLES[0], [("u", "610902", "county", "汉滨区", None, "2000-01-01", 1)])
        with views.snapshot() as tx:
            (size,), = tx.rows("PRAGMA page_size")
            assert tx.rows("SELECT count(*) FROM view_units") == [(1,)]
        views.close()
        return size
    old = tmp_path / "old-views.db"
    with closing(sqlite3.connect(old)) as connection:
        connection.execute("PRAGMA journal_mode=WAL")  # written with SQLite's default pages
    assert page_size(tmp_path / "views.db") == PAGE_SIZE > page_size(old) == 4096


def test_an_insert_writes_its_columns_and_leaves_the_others_null(views: ViewStore) -> None:
    """An insert names the columns its rows set; the others read back NULL. Rows are
    written in key order on SQLite: of two with one key, the first is still the one kept."""
    codes = next(table for table in TABLES if table.name == "view_unit_codes")
    rows = [("610902", "unit-1", "2021-01-01", 1),
            ("610903", "unit-2", "2021-01-01", 2),
            ("610904", None, "2021-02-01", 3)]
    with views.transaction() as tx:
        tx.insert(codes, [rows[2], rows[0], ("610902", "unit-0", "2021-03-01", 4), rows[1]],
                  ("code", "unit_id", "valid_from", "rec"))
        tx.insert(codes, [("610905", "unit-5", "2021-04-01", 5, "2021-05-01", 6, "610902")])
        tx.insert(codes, [])
    with views.snapshot() as tx:
        assert tx.rows("SELECT * FROM view_unit_codes ORDER BY code") == [
            *((*row, None, None, None) for row in rows),
            ("610905", "unit-5", "2021-04-01", 5, "2021-05-01", 6, "610902")]


def test_the_latest_change_of_each_attribute_is_the_highest_version_before_the_cut_off(
        views: ViewStore) -> None:
    """Each attribute's latest value: the highest version occurred before :T and known at
    :C, version 10 above 9, an empty value kept and a cleared one None; read the same by the
    join SQLite runs and by the stamped pass PostgreSQL runs (both run on PostgreSQL)."""
    changes = next(table for table in TABLES if table.name == "view_hazard_changes")
    with views.transaction() as tx:
        tx.insert(changes, [
            ("h1", "grade", 9, 10, 10, "general"), ("h1", "grade", 10, 20, 20, "major"),
            ("h1", "grade", 11, 200, 20, "later"),  # occurred after :T
            ("h1", "plan", 1, 10, 10, "{}"), ("h1", "plan", 2, 30, 30, None),
            ("h1", "plan", 3, 40, 500, "unknown"),  # recorded after :C
            ("h1", "deadline", 1, 10, 10, ""),
            ("h2", "grade", 1, 10, 10, "general")])
    expected = {("h1", "major", None, ""), ("h2", "general", None, None)}
    attrs = ("grade", "plan", "deadline")
    params = {"T": 100, "C": 100}
    forms = ("sqlite", "postgres") if views.dialect == "postgres" else ("sqlite",)
    with views.snapshot() as tx:
        for form in forms:
            assert set(tx.rows(_latest("view_hazard_changes", "hazard_id", attrs, "< :T",
                                       form), params)) == expected, form
            assert tx.rows(_latest("view_hazard_changes", "hazard_id", attrs, "< :T", form,
                                   "SELECT 'h2'"), params) == [("h2", "general", None, None)]


def test_a_transaction_beside_a_snapshot_sees_its_state(views: ViewStore) -> None:
    """On PostgreSQL a snapshot has a transaction beside it on another connection that sees
    exactly its state, not what was committed after it began (a tally reads its costliest
    count there, alongside the others); SQLite's has none."""
    codes = next(table for table in TABLES if table.name == "view_unit_codes")
    with views.transaction() as tx:
        tx.insert(codes, [("610902", "unit-1", "2021-01-01", 1)],
                  ("code", "unit_id", "valid_from", "rec"))
    with views.snapshot() as tx:
        before = tx.rows("SELECT code FROM view_unit_codes")
        with views.transaction() as writing:
            writing.insert(codes, [("610903", "unit-2", "2021-01-01", 2)],
                           ("code", "unit_id", "valid_from", "rec"))
        if views.dialect == "sqlite":
            assert tx.beside is None
            return
        with tx.beside() as other:
            assert other.rows("SELECT code FROM view_unit_codes") == before == [("610902",)]
    with views.snapshot() as tx, tx.beside() as other:
        assert len(other.rows("SELECT code FROM view_unit_codes")) == 2
        # neither compiles its reads (JIT), both sort in memory, and the settings end
        # with them
        assert tx.rows("SHOW jit") == other.rows("SHOW jit") == [("off",)]
        assert tx.rows(WORK_MEM) == other.rows(WORK_MEM) == [(64 << 20,)]
    with views.transaction() as tx:  # the server's own settings again
        assert tx.rows("SHOW jit") == tx.rows(
            "SELECT reset_val FROM pg_settings WHERE name = 'jit'")
        assert tx.rows(WORK_MEM) == tx.rows(
            "SELECT pg_size_bytes(reset_val || unit) FROM pg_settings WHERE name = 'work_mem'")


WORK_MEM = "SELECT pg_size_bytes(current_setting('work_mem'))"


@pytest.mark.parametrize("configured, kept", [("4MB", 64 << 20), ("256MB", 256 << 20)])
def test_a_snapshot_never_lowers_the_memory_its_sorts_may_take(
        views: ViewStore, configured: str, kept: int) -> None:
    """A snapshot sorts in 64 MB at least, and a server (or role) configured for more keeps
    its own."""
    if views.dialect == "sqlite":
        pytest.skip("PostgreSQL's setting")
    with psycopg.connect(**views._database, autocommit=True) as connection:
        connection.execute(f"SET work_mem = '{configured}'")
        with connection.transaction(force_rollback=True):
            cursor = connection.cursor()
            _as_snapshot(cursor)
            assert cursor.execute(WORK_MEM).fetchone() == (kept,)
        assert connection.execute(WORK_MEM).fetchone() == (int(configured[:-2]) << 20,)


def test_a_tally_read_alongside_equals_one_read_in_turn(world: Zhibao, views: ViewStore
                                                         ) -> None:
    """Every unit's figures, its sector grids too, whether the hazards' count is read
    beside the other families' or after them on the same transaction (on SQLite, which has
    no transaction beside, both are read in turn), and two tallies at once (figures asked
    for by two people) wait for neither."""
    catch_up(world, views)
    settings = world.settings
    cut_off = datetime(2021, 7, 5, 9, tzinfo=SHANGHAI)
    window = Window("2021-06", settings.programme_start, settings.stock_cutoff, cut_off)

    def tallied(alongside: bool) -> dict[str, Any]:
        with views.snapshot() as tx:
            if not alongside:
                tx.beside = None
            tree = UnitTree.load(tx, window.last_day.isoformat(), micros(cut_off))
            return {unit_id: astuple(counts)
                    for unit_id, counts in tally(tx, window, tree).items()}

    figures = tallied(True)
    assert figures == tallied(False)
    assert any(any(counts[0]) and counts[1] for counts in figures.values())
    with ThreadPoolExecutor(2) as people:
        assert list(people.map(tallied, (True, True))) == [figures, figures]


def test_a_load_from_empty_in_one_batch_equals_folding_event_by_event(
        world: Zhibao, views: ViewStore, fresh_views: ViewStore) -> None:
    """A load into empty views writes a hazard's or measure's later steps with its insert
    when both are in one batch: the whole half-year in one batch gives the views that
    applying batches of three records does, where nearly every step is an UPDATE."""
    Projector(world.recorder, views, page_size=1_000_000, parallel_from=0).catch_up()
    project_records(fresh_views, all_records(world), batch_size=3)
    assert dump(views) == dump(fresh_views)
    with views.snapshot() as tx:
        (steps,), = tx.rows("SELECT count(*) FROM view_hazards WHERE confirmed_at IS NOT NULL "
                            "AND verified_at IS NOT NULL AND ended_at IS NOT NULL")
        (issued,), = tx.rows("SELECT count(*) FROM view_measures WHERE issued_at IS NOT NULL")
    assert steps and issued


def test_an_unknown_event_type_is_skipped_and_counted(world: Zhibao, views: ViewStore) -> None:
    known = all_records(world)[:40]
    stranger = EventRecord(
        position=10_000, event_type="HazardTeleported",
        originator_id=uuid.uuid4(), originator_version=1,
        occurred_at=micros(datetime(2021, 3, 1, tzinfo=SHANGHAI)),
        recorded_at=micros(datetime(2021, 3, 1, tzinfo=SHANGHAI)), unit_code="610902101201",
        actor_org_id=str(uuid.uuid4()), data={"where": "moon"})
    applied = ViewWriter(views).apply([*known[:20], stranger, stranger, *known[20:]],
                                      track=lambda tx: tx.track("test-feed", 7))
    assert applied.unknown == {"HazardTeleported": 2}
    assert applied.folded == len([r for r in known if r.event_type != "TaskListPublished"])
    assert views.position("test-feed") == 7


def test_a_position_never_moves_back(views: ViewStore) -> None:
    ViewWriter(views).apply([], track=lambda tx: tx.track("feed", 5))
    with pytest.raises(Exception, match="tracking"):
        ViewWriter(views).apply([], track=lambda tx: tx.track("feed", 5))
    assert views.position("feed") == 5


KILLED_PROJECTOR = """
import sys
from infra.intake.service import Zhibao
from infra.settings import Settings
from projections.runner import Projector
from projections.store import ViewStore
app = Zhibao(Settings(database_url=sys.argv[1]))
views = ViewStore(sys.argv[2])
Projector(app.recorder, views, page_size=1, pages_per_commit=2, parallel_from=0).catch_up(
    lambda position, head: (print(position, flush=True), sys.stdin.readline()))
"""
"""After each commit it waits for the test to read its position, so it never runs ahead to
the log's end however fast the machine (a pipe let it: the fifth kill once came too late).
The first one loads empty views: it drops their secondary indexes and is killed before it
builds them (the next one's ViewStore does)."""


@pytest.mark.slow
def test_kill_9_mid_batch_then_restart_equals_a_clean_rebuild(
        world: Zhibao, database_url: str, views: ViewStore, fresh_views: ViewStore) -> None:
    """A projector killed at random moments, several times, then resumed, ends with exactly
    the views a clean rebuild gives: no batch half-applied, none applied twice."""
    rng = random.Random(9)
    positions = []
    for _ in range(5):
        child = subprocess.Popen(
            [sys.executable, "-c", KILLED_PROJECTOR, database_url, views.url],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert child.stdin is not None and child.stdout is not None
        for _ in range(rng.randint(5, 20)):  # some commits (of two pages), then killed anywhere
            child.stdout.readline()
            child.stdin.write("\n")
            child.stdin.flush()
        time.sleep(rng.uniform(0, 0.01))
        child.send_signal(signal.SIGKILL)
        child.wait()
        positions.append(views.position())
    assert positions == sorted(positions) and len(set(positions)) == 5
    assert positions[-1] < world.recorder.max_notification_id()
    Projector(world.recorder, views, page_size=50).catch_up()
    assert secondary_indexes(views) == SECONDARY_INDEXES
    Projector(world.recorder, fresh_views).rebuild()
    assert dump(views) == dump(fresh_views)


def test_zhibao_project_shows_progress_and_rebuilds(
        world: Zhibao, views: ViewStore, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ZHIBAO_DATABASE_URL", world.settings.database_url)
    get_settings.cache_clear()
    try:
        assert main(["project"]) == 0
        err = " ".join(capsys.readouterr().err.split())
        head = world.recorder.max_notification_id()
        assert "catching up" in err and f"views at position {head}" in err
        assert main(["project", "--rebuild"]) == 0
        err = " ".join(capsys.readouterr().err.split())
        assert "rebuilding views" in err and f"views at position {head}" in err
    finally:
        get_settings.cache_clear()
    assert views.position() == head
