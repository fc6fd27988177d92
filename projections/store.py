"""Where the views live, and the one transaction shape every view writer uses.

The views sit in the same kind of database as the event store: a sibling SQLite file by
default (`zhibao.db` → `zhibao-views.db`, so a long view transaction never blocks a command
being stored), or the store's own PostgreSQL database and schema (tables prefixed `view_`).
`ZHIBAO_VIEWS_URL` overrides the location, e.g. for a county system fed from Kafka.

Positions are kept by the eventsourcing library's tracking recorders (one row per feed in
the `tracking` / `view_tracking` table). Its `ProjectionRunner` is not used: it needs the
recorder's subscriptions, which the SQLite recorder lacks, and it commits one event per
transaction; zhibao folds whole batches instead (see `projections.runner`).
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, closing, contextmanager
from operator import itemgetter
from typing import Any
from urllib.parse import unquote, urlsplit
from uuid import uuid4

import psycopg
from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from eventsourcing.sqlite import (
    SQLiteConnection,
    SQLiteConnectionPool,
    SQLiteDatastore,
    SQLiteTrackingRecorder,
)
from psycopg.errors import UniqueViolation
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier, Literal

from infra.store.databases import eventsourcing_env
from projections.tables import FOLD_VERSION, TABLES, Table

STORE_FEED = "zhibao"
"""Tracking name of the views fed from the store's notification log (the application name)."""

Track = Callable[["Tx"], None]
"""Records a feed's position inside the transaction that applies its events."""


def views_url_for(database_url: str) -> str:
    """The default views location for a store: a sibling SQLite file, or the same
    PostgreSQL database."""
    url = urlsplit(database_url)
    if url.scheme != "sqlite":
        return database_url
    path = unquote(url.path[1:] if url.path.startswith("/") else url.path) or "zhibao.db"
    stem, dot, suffix = path.rpartition(".")
    sibling = f"{stem}-views.{suffix}" if dot and "/" not in suffix else f"{path}-views"
    return f"sqlite:///{sibling}"


Params = Sequence[Any] | Mapping[str, Any]
STREAM_ROWS = 1000  # rows libpq holds at once while a large result is read
_NAMED = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


class Tx:
    """One open transaction on the views, the same API on both databases. SQL is written
    with `?` placeholders (or `:name` ones with a dict of parameters); bulk statements take
    rows as tuples in the table's column order (an insert's: in the order of its columns)."""

    def __init__(self, cursor: Any, dialect: str, track: Callable[[Any, Tracking], None],
                 from_empty: bool = False):
        self.cursor = cursor
        self.dialect = dialect
        self._track = track
        self.from_empty = from_empty  # a load into empty views: its rows are new
        self.beside: Callable[[], AbstractContextManager[Tx]] | None = None
        """Another read-only transaction seeing exactly this one's state, to read alongside
        it from another thread (a snapshot on PostgreSQL: `ViewStore.snapshot`)."""

    def execute(self, sql: str, params: Params = ()) -> None:
        self.cursor.execute(self._sql(sql), params)

    def rows(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        self.cursor.execute(self._sql(sql), params)
        return list(self.cursor.fetchall())

    def each_row(self, sql: str, params: Params = ()) -> Iterator[tuple[Any, ...]]:
        """The rows one at a time, each made a Python tuple only when it is reached, and on
        PostgreSQL received `STREAM_ROWS` at a time: for a result too large to hold at once
        (a count over every unit of a province, which libpq would otherwise hold whole: its
        rows take many times their size there). No other statement may run on this
        transaction until the rows are all read (on PostgreSQL it would wait forever)."""
        if self.dialect == "postgres":
            yield from self.cursor.stream(self._sql(sql), params, size=STREAM_ROWS)
            return
        self.cursor.execute(self._sql(sql), params)
        yield from self.cursor

    def dict_rows(self, sql: str, params: Params = ()) -> list[dict[str, Any]]:
        self.cursor.execute(self._sql(sql), params)
        names = [column[0] for column in self.cursor.description]
        return [dict(zip(names, row, strict=True)) for row in self.cursor.fetchall()]

    def one_of(self, column: str, values: Sequence[str]) -> tuple[str, dict[str, Any]]:
        """The condition that `column` is one of `values`, and its named parameters: on
        PostgreSQL one array (psycopg converts a statement's parameters in Python, 6 ms a
        thousand: a cascade's lists named 54,000 of them), on SQLite a list of parameters."""
        if self.dialect == "postgres":
            return f"{column} = ANY(:among)", {"among": list(values)}
        names = {f"v{number}": value for number, value in enumerate(values)}
        return f"{column} IN ({', '.join(f':{name}' for name in names)})", names

    def track(self, name: str, position: int) -> None:
        """Advance a feed's position; fails (rolling the transaction back) if it would not
        move forward, so two writers can never both apply the same batch."""
        self._track(self.cursor, Tracking(name, position))

    def insert(self, table: Table, rows: Sequence[tuple[Any, ...]],
               columns: Sequence[str] | None = None) -> None:
        """Insert rows of `columns` (all the table's by default; those left out are NULL); a
        row whose key exists already (a re-applied event) is skipped."""
        if not rows:
            return
        columns = columns or table.column_names
        if self.from_empty and self.dialect == "postgres" and self._copied(table, columns,
                                                                            rows):
            return
        self._insert(table, columns, rows, "DO NOTHING")

    def _copied(self, table: Table, columns: Sequence[str],
                rows: Sequence[tuple[Any, ...]]) -> bool:
        """PostgreSQL, loading empty views: the rows COPYed straight into `table`, in a
        savepoint; False (nothing written) if a key exists already. Their rows are new, so
        they skip the staging table's round of COPY, merge and clean-up (a rebuild's inserts
        2.9 s instead of 4.0 s at 300k events); elsewhere a re-delivered event is common,
        and a key that exists would cost a COPY undone and an ERROR in the server's log."""
        try:
            with self.cursor.connection.transaction():
                self._copy(table.name, columns, rows)
        except UniqueViolation:
            return False
        return True

    def raise_to(self, table: Table, rows: Sequence[tuple[Any, ...]]) -> None:
        """Insert rows, or raise an existing row's other columns to the larger of the two
        values (rows with distinct keys): a running maximum, whatever the batches were."""
        larger = "max" if self.dialect == "sqlite" else "GREATEST"
        sets = ", ".join(f"{c} = {larger}({table.name}.{c}, excluded.{c})"
                         for c in table.column_names if c not in table.key)
        self._insert(table, table.column_names, rows, f"DO UPDATE SET {sets}")

    def _insert(self, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]],
                on_conflict: str) -> None:
        """Insert rows of `columns` in bulk, `ON CONFLICT (key) <on_conflict>`: SQLite takes
        them as parameters, PostgreSQL from a staging table it is copied into."""
        if not rows:
            return
        names = ", ".join(columns)
        conflict = f"ON CONFLICT ({', '.join(table.key)}) {on_conflict}"
        if self.dialect == "sqlite":
            marks = ", ".join("?" * len(columns))
            self.cursor.executemany(
                f"INSERT INTO {table.name} ({names}) VALUES ({marks}) {conflict}",
                _by_key(table, rows))
            return
        staging = self._staged(table, columns, rows)
        self.cursor.execute(f"INSERT INTO {table.name} ({names}) SELECT {names} FROM {staging} "
                            f"{conflict}")
        self.cursor.execute(f"DELETE FROM {staging}")

    def update(self, table: Table, columns: Sequence[str],
               rows: Sequence[tuple[Any, ...]]) -> None:
        """Set `columns` of existing rows; each row is (key..., values...)."""
        if not rows:
            return
        keys = table.key
        if self.dialect == "sqlite":
            sets = ", ".join(f"{c} = ?{i}" for i, c in enumerate(columns, start=len(keys) + 1))
            where = " AND ".join(f"{k} = ?{i}" for i, k in enumerate(keys, start=1))
            self.cursor.executemany(f"UPDATE {table.name} SET {sets} WHERE {where}",
                                    _by_key(table, rows))
            return
        staging = self._staged(table, (*keys, *columns), rows)
        # A temporary table is never analyzed by autovacuum: guessing its size from pages
        # emptied by earlier merges, the planner came to hash-join it against the whole
        # view (hazards at 1M events: 37 s of a 53 s catch-up instead of 7 s).
        self.cursor.execute(f"ANALYZE {staging}")
        sets = ", ".join(f"{c} = u.{c}" for c in columns)
        where = " AND ".join(f"{table.name}.{k} = u.{k}" for k in keys)
        self.cursor.execute(f"UPDATE {table.name} SET {sets} FROM {staging} u WHERE {where}")
        self.cursor.execute(f"DELETE FROM {staging}")

    def _staged(self, table: Table, columns: Sequence[str],
                rows: Sequence[tuple[Any, ...]]) -> str:
        """PostgreSQL: the rows COPYed into a temporary table shaped like `table` (several
        times faster than any INSERT of parameters), to be merged from there."""
        staging = f"staging_{table.name}"
        self.cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {staging} "
                            f"(LIKE {table.name}) ON COMMIT DELETE ROWS")
        self._copy(staging, columns, rows)
        return staging

    def _copy(self, into: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
        with self.cursor.copy(f"COPY {into} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def _sql(self, sql: str) -> str:
        if self.dialect == "sqlite":
            return sql
        return _NAMED.sub(r"%(\1)s", sql.replace("?", "%s"))


def _by_key(table: Table, rows: Sequence[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """SQLite: the rows in key order (a row's first columns), stably: of rows with one key the
    first stays first, the one an insert keeps. Consecutive rows then land on the same B-tree
    pages: at 1.2M events, the views past their 64 MiB cache, writing them took 4-6% less CPU
    (8.5 s instead of 8.9, side by side)."""
    return sorted(rows, key=itemgetter(*range(len(table.key))))


def _ddl(table: Table, dialect: str) -> list[str]:
    types = {"text": "TEXT", "bigint": "BIGINT" if dialect == "postgres" else "INTEGER"}
    columns = ", ".join(f"{name} {types[kind]}" for name, kind in table.columns)
    # Narrow rows are stored in key order; SQLite advises against it for wide rows.
    clustered = " WITHOUT ROWID" if dialect == "sqlite" and len(table.columns) <= 12 else ""
    return [f"CREATE TABLE IF NOT EXISTS {table.name} ({columns}, "
            f"PRIMARY KEY ({', '.join(table.key)})){clustered}", *_indexes(table).values()]


def _indexes(table: Table) -> dict[str, str]:
    """The table's secondary indexes: the statement creating each, by name."""
    names = {f"{table.name}_{'_'.join(index)}": index for index in table.indexes}
    return {name: f"CREATE INDEX IF NOT EXISTS {name} ON {table.name} ({', '.join(index)})"
            for name, index in names.items()}


class _ViewsPool(SQLiteConnectionPool):
    """Views can always be rebuilt from the store, so a commit need not wait for the disk:
    in WAL mode `synchronous=NORMAL` still never leaves a half-applied transaction, even
    after kill -9; only a power cut may lose the last commits, positions included."""

    def _create_connection(self) -> SQLiteConnection:
        connection = super()._create_connection()
        connection._sqlite_conn.execute("PRAGMA synchronous=NORMAL")
        connection._sqlite_conn.execute("PRAGMA cache_size=-65536")  # 64 MiB
        return connection


PAGE_SIZE = 16_384
"""Bytes per page of a new SQLite views file (SQLite's default is 4,096). Rows keyed by random
ids land all over each table, so every commit of a projection rewrites pages everywhere:
with pages four times larger, a 1.2M-event rebuild's commits took half the CPU (1.4 s
instead of 2.7) and its main process a tenth less. Reports mostly read whole tables."""


def _sqlite_datastore(db_name: str) -> SQLiteDatastore:
    if not SQLiteConnectionPool.detect_memory_mode(db_name):
        _set_page_size(db_name)
    datastore = SQLiteDatastore(db_name, lock_timeout=30)
    datastore.pool = _ViewsPool(db_name=db_name, lock_timeout=30)
    return datastore


def _set_page_size(db_name: str) -> None:
    """`PAGE_SIZE` for a new file; nothing changes in one written already. Setting WAL mode
    writes the file's header and so fixes the page size: it is set first."""
    with closing(sqlite3.connect(db_name, uri=True, timeout=30)) as connection:
        connection.execute(f"PRAGMA page_size={PAGE_SIZE}")
        connection.execute("PRAGMA journal_mode=WAL")


class _SQLiteViews(SQLiteTrackingRecorder):
    def __init__(self, datastore: SQLiteDatastore, tables: Sequence[Table]) -> None:
        self.tables = tables
        super().__init__(datastore)

    def construct_create_table_statements(self) -> list[str]:
        statements = super().construct_create_table_statements()
        for table in self.tables:
            statements.extend(_ddl(table, "sqlite"))
        return statements


class _PostgresViews(PostgresTrackingRecorder):
    def __init__(self, datastore: PostgresDatastore, tables: Sequence[Table]) -> None:
        super().__init__(datastore, tracking_table_name="view_tracking")
        schema = Identifier(datastore.schema)
        for table in tables:
            for statement in _ddl(table, "postgres"):
                self.sql_create_statements.append(
                    SQL("SET LOCAL search_path TO {0}; ").format(schema) + SQL(statement))  # type: ignore[arg-type]


SNAPSHOT_WORK_MEM = "64MB"
"""The least memory a snapshot's sorts and hashes may each take before spilling to disk.
PostgreSQL's default, 4 MB, sent a tally's reads at 1.2M events to external merges and
batched hash joins (220 MB of temporary files): with 64 MB its count took 1.5 instead of
1.95 s and 2.6 instead of 3.6 s of the machine's CPU. A server configured for more keeps
its own."""


def _as_snapshot(cursor: Any, exported: str | None = None) -> None:
    """A PostgreSQL snapshot's settings: one consistent state (REPEATABLE READ; the
    `exported` one of another transaction, if given), no JIT compilation, and room to sort
    in memory (`SNAPSHOT_WORK_MEM`). The views' reads are analytic queries of a second or
    two whose cost estimates pass PostgreSQL's JIT thresholds: compiling the whole tree's
    hazard list took 0.9 s of its 1.4 s, and a tally's count of the hazards 0.1 s."""
    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    if exported is not None:  # (before any query)
        cursor.execute(SQL("SET TRANSACTION SNAPSHOT {0}").format(Literal(exported)))
    cursor.execute("SET LOCAL jit = off")
    cursor.execute("SELECT set_config('work_mem', GREATEST(pg_size_bytes(current_setting("
                   "'work_mem')), pg_size_bytes(%s)) / 1024 || 'kB', true)",
                   (SNAPSHOT_WORK_MEM,))


class ViewStore:
    """The views database: its tables, transactions and the feeds' positions."""

    def __init__(self, url: str, tables: Sequence[Table] = TABLES) -> None:
        self.url = url
        self.tables = tuple(tables)
        self._from_empty = False  # while loading empty views (`without_indexes`)
        scheme = urlsplit(url).scheme
        if scheme == "sqlite" and url.startswith("sqlite:///file:"):
            self.dialect = "sqlite"
            self._recorder: Any = _SQLiteViews(
                _sqlite_datastore(url.removeprefix("sqlite:///")), self.tables)
        elif scheme == "sqlite":
            self.dialect = "sqlite"
            env = eventsourcing_env(url)
            self._recorder = _SQLiteViews(_sqlite_datastore(env["SQLITE_DBNAME"]), self.tables)
        else:
            self.dialect = "postgres"
            env = eventsourcing_env(url)
            self.schema = env["POSTGRES_SCHEMA"]
            database = {"dbname": env["POSTGRES_DBNAME"], "host": env["POSTGRES_HOST"],
                        "port": env["POSTGRES_PORT"], "user": env["POSTGRES_USER"],
                        "password": env["POSTGRES_PASSWORD"]}
            self._database = database
            datastore = PostgresDatastore(**database, schema=self.schema, pool_size=2,
                                          lock_timeout=10)
            self._recorder = _PostgresViews(datastore, self.tables)
        self._recorder.create_table()
        if self._schema_changed():
            self._recorder.create_table()

    @classmethod
    def in_memory(cls) -> ViewStore:
        """A throwaway views database, e.g. to fold only the events known at a past
        cut-off and rebuild a submission from them."""
        return cls(f"sqlite:///file:zhibao-views-{uuid4().hex}?mode=memory&cache=shared")

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """A write transaction: everything in it, positions included, commits or none."""
        with self._recorder.datastore.transaction(commit=True) as cursor:
            yield self._tx(cursor)

    @contextmanager
    def snapshot(self) -> Iterator[Tx]:
        """A read-only transaction seeing one consistent state of all view tables."""
        with self._recorder.datastore.transaction(commit=False) as cursor:
            if self.dialect == "sqlite":
                yield self._tx(cursor)
                return
            _as_snapshot(cursor)
            tx = self._tx(cursor)
            tx.beside = lambda: self._beside(tx)
            yield tx

    @contextmanager
    def _beside(self, tx: Tx) -> Iterator[Tx]:
        """A read-only transaction on a connection of its own that imports `tx`'s snapshot,
        so the two see one state (PostgreSQL runs each on its own core). Not one of the
        pool's: two readers each holding one and waiting for another would wait for each
        other."""
        ((name,),) = tx.rows("SELECT pg_export_snapshot()")
        with psycopg.connect(**self._database) as connection, \
                connection.transaction(force_rollback=True):
            cursor = connection.cursor()
            _as_snapshot(cursor, name)
            yield self._tx(cursor)

    def _tx(self, cursor: Any) -> Tx:
        # The library's tracking insert needs only execute/fetchone, which the raw
        # cursors have; tuples instead of named rows keep bulk reads fast.
        if self.dialect == "sqlite":
            raw = cursor.sqlite_cursor
            raw.row_factory = None
            return Tx(raw, "sqlite", self._recorder._insert_tracking, self._from_empty)
        cursor.row_factory = tuple_row
        cursor.execute(SQL("SET LOCAL search_path TO {0}").format(Identifier(self.schema)))
        return Tx(cursor, "postgres", self._recorder._insert_tracking, self._from_empty)

    def _schema_changed(self) -> bool:
        """Views are derived data: when the table definitions (or the folds' version)
        changed since the views were built, drop them and forget every position, so the
        next catch-up rebuilds them."""
        fingerprint = hashlib.sha256(repr((FOLD_VERSION, TABLES)).encode()).hexdigest()
        with self.transaction() as tx:
            tx.execute("CREATE TABLE IF NOT EXISTS view_schema (fingerprint TEXT)")
            found = tx.rows("SELECT fingerprint FROM view_schema")
            if found and found[0][0] == fingerprint:
                return False
            for table in self.tables:
                tx.execute(f"DROP TABLE IF EXISTS {table.name}")
            self._forget_positions(tx)
            tx.execute("DELETE FROM view_schema")
            tx.execute("INSERT INTO view_schema VALUES (?)", (fingerprint,))
        return True

    def _forget_positions(self, tx: Tx) -> None:
        tracking = "tracking" if self.dialect == "sqlite" else "view_tracking"
        tx.execute(f"DELETE FROM {tracking} WHERE application_name <> ?", ("__migration__",))

    def analyze(self) -> None:
        """Refresh the query planner's statistics: after a rebuild the tables have grown
        from nothing, and PostgreSQL would plan the reports' joins as if they were tiny."""
        with self.transaction() as tx:
            for table in self.tables:
                tx.execute(f"ANALYZE {table.name}")

    @contextmanager
    def without_indexes(self) -> Iterator[None]:
        """A load into empty views: secondary indexes dropped while it runs and built once
        at the end, cheaper than keeping them up to date row by row. Built again however
        the load ends; after a kill -9, by the next `ViewStore` opened on these views or the
        end of the projector's next long catch-up. Its transactions know their rows are new
        (`Tx.from_empty`): on PostgreSQL they are copied straight into their tables
        (`Tx.insert`), and a hazard's or measure's later steps are written with its insert
        (`Batch.write`)."""
        with self.transaction() as tx:
            for table in self.tables:
                for name in _indexes(table):
                    tx.execute(f"DROP INDEX IF EXISTS {name}")
        self._from_empty = True
        try:
            yield
        finally:
            self._from_empty = False
            self.create_indexes()

    def create_indexes(self) -> None:
        """Create the secondary indexes that are missing. Looked up first: when none is
        missing (nearly always) no DDL runs, which on PostgreSQL would lock the tables."""
        with self.transaction() as tx:
            present = {name for name, in tx.rows(
                "SELECT name FROM sqlite_master WHERE type = 'index'" if self.dialect == "sqlite"
                else "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()")}
            for table in self.tables:
                for name, statement in _indexes(table).items():
                    if name not in present:
                        tx.execute(statement)

    def position(self, name: str = STORE_FEED) -> int:
        """The last notification id folded into the views from feed `name` (0: none)."""
        return self._recorder.max_tracking_id(name) or 0

    def reset(self) -> None:
        """Empty every view and forget every feed's position: the next catch-up rebuilds
        the views from zero."""
        with self.transaction() as tx:
            for table in self.tables:
                tx.execute(f"DELETE FROM {table.name}")
            self._forget_positions(tx)

    def close(self) -> None:
        self._recorder.datastore.close()
