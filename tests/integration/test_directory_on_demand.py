"""The application service folds its directory of units, orgs, persons and enterprises on
first use, not when it opens: a province holds 200,000 of each, and the stages that only
read the log — the projector and verify — never judge a command, so they never hold it.
A command still finds it, as folded from the whole log."""

from __future__ import annotations

import sqlite3
from urllib.parse import urlsplit

import psycopg

from infra.audit.integrity import verify
from infra.intake.service import Zhibao
from infra.reporting.reporter import catch_up, open_views
from infra.settings import Settings
from infra.store.recorders import TOPIC_INDEX, HorizonPostgresRecorder


def test_reading_the_log_leaves_the_directory_unfolded(demo_url):
    app = Zhibao(Settings(database_url=demo_url))
    try:
        views = open_views(app)
        try:
            assert catch_up(app, views).position > 0
        finally:
            views.close()
        assert verify(app).ok
        assert app._directory is None  # not folded: what this test is about

        assert app.damage is None
        assert len(app.directory.codes) > 100  # folded from the whole log on first use
        assert app.directory.position > 0
    finally:
        app.close()


def test_the_unit_trees_fold_reads_its_events_by_topic_not_the_whole_log(demo_url):
    """The unit tree is a few hundred events of a log of tens of thousands (a thousand of
    1.2 million in the benchmark's store): every server, sweep and cascade folds it, so the
    store finds them through its topic index instead of scanning the log for them."""
    app = Zhibao(Settings(database_url=demo_url))
    try:
        recorder = app.recorder
        topics = list(app.on_unit_tree().directory.topics)
        table = recorder.events_table_name
        if isinstance(recorder, HorizonPostgresRecorder):
            table = f'"{recorder.datastore.schema}"."{table}"'
            with psycopg.connect(demo_url.split("?")[0]) as conn:
                conn.execute(f"ANALYZE {table}")
                plan = "\n".join(row[0] for row in conn.execute(
                    f"EXPLAIN SELECT * FROM {table} WHERE notification_id > 0 AND topic = "
                    "ANY(%s) ORDER BY notification_id LIMIT 1000", (topics,)))
        else:
            with sqlite3.connect(urlsplit(demo_url).path) as conn:
                plan = "\n".join(str(row) for row in conn.execute(
                    f"EXPLAIN QUERY PLAN SELECT rowid, * FROM {table} WHERE rowid > 0 AND "
                    f"topic IN ({','.join('?' * len(topics))}) ORDER BY rowid LIMIT 1000",
                    topics))
        assert TOPIC_INDEX.format(table=recorder.events_table_name) in plan, plan
    finally:
        app.close()
