"""The eventsourcing library's recorders, with one addition: a write can carry a `Horizon`,
how far its writer has read some topics, and is refused (`StaleRead`, nothing written) if
another process recorded an event of those topics after that point.

This lets a long-lived writer judge commands on the reference data it already holds
instead of reading the log's end before every command: the check runs inside the insert
transaction, after the store's write lock is taken, so nothing can slip in between the
check and the commit. When no one else wrote since the horizon (our first new id follows
it directly) there is nothing to check and the write costs no extra statement.

A write can also carry the command log's entries (`LoggedCommand`: a command id, the
digest of the command's content and its outcome), inserted in the same transaction as the
command's events: a command id is used once, so of two writers replaying one command at
the same moment exactly one commits, and the other finds the winner's outcome (V11).

Under a stream of reference changes a writer could be refused again and again, so each
recorder can also hold the store's write lock for a block (`holding_write_lock`): the
writer refreshes, judges and writes inside it, while other writers wait, and is sure to
get through. Inserts made on the same thread inside the block join its transaction.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from eventsourcing.persistence import DatabaseError, IntegrityError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor
from eventsourcing.utils import get_topic
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier, Literal

from infra.store.records import DamagedRecord

STALE_READ_SQLSTATE = "ZB001"
COMMANDS_TABLE = "zhibao_commands"
"""The command log: one row per command id ever applied, written with its events."""
TOPIC_INDEX = "{table}_topic"
"""The events by topic, in log order. The directory's folds read a few topics out of the
whole log (`infra.intake.directory.catch_up_directory`): the unit tree's 1,153 events of a
1.2M-event store took a scan of every row, 0.65–1.0 s of PostgreSQL's time at each start
of a server, sweep or cascade (seconds at a province), and 0.15 s with this index."""


@dataclass(frozen=True)
class LoggedCommand:
    """A command as the log keeps it: its id, the SHA-256 of its content and issuer, and
    the outcome (JSON) it had, which a replay of it answers again."""

    command_id: str
    digest: str
    outcome: bytes


@dataclass(frozen=True)
class Horizon:
    """The writer has seen every event of `topics` up to notification id `position`."""

    position: int
    topics: tuple[str, ...]

    def crossed_by(self, first_new_id: int) -> bool:
        """Whether others recorded anything between the horizon and our first new event."""
        return first_new_id > self.position + 1


class StaleRead(Exception):
    """An event of the watched topics was recorded after the writer's horizon."""

    def __init__(self, horizon: Horizon) -> None:
        self.horizon = horizon
        super().__init__(f"events the writer has not seen were recorded after notification "
                         f"{horizon.position}; nothing was written")


class _HeldWriteTransaction:
    """The write transaction a thread holds open in `holding_write_lock`: that thread's
    inserts join it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._held = threading.local()

    @contextmanager
    def _holding(self, cursor: Any) -> Iterator[None]:
        self._held.cursor = cursor
        try:
            yield
        finally:
            self._held.cursor = None

    def _held_cursor(self) -> Any:
        return getattr(self._held, "cursor", None)

    def select_notifications(self, *args: Any, **kwargs: Any) -> Any:
        with _null_records_damaged():
            return super().select_notifications(*args, **kwargs)  # type: ignore[misc]

    def select_events(self, *args: Any, **kwargs: Any) -> Any:
        with _null_records_damaged():
            return super().select_events(*args, **kwargs)  # type: ignore[misc]


@contextmanager
def _null_records_damaged() -> Iterator[None]:
    """The library reads a NULL state column (a record erased outside zhibao) as a
    TypeError; it is a damaged record, which the audit names."""
    try:
        yield
    except TypeError as e:
        if "NoneType" not in str(e):
            raise
        raise DamagedRecord("a stored event's record is empty or cut short: the store was "
                            "altered outside zhibao (run `zhibao audit verify`)") from None


class HorizonSQLiteRecorder(_HeldWriteTransaction, SQLiteApplicationRecorder):
    """SQLite holds its write lock from the first insert to the commit, and numbers rows
    in commit order, so the rows between the horizon and our first id are exactly what
    others committed since."""

    @contextmanager
    def holding_write_lock(self) -> Iterator[None]:
        """Take the write lock now (BEGIN IMMEDIATE) and keep it until the block ends;
        readers still see every committed event (WAL)."""
        with self.datastore.get_connection(commit=True) as connection:
            cursor = connection.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            try:
                with self._holding(cursor):
                    yield
            except BaseException:
                connection.rollback()
                raise
            connection.commit()

    def construct_create_table_statements(self) -> list[str]:
        index = TOPIC_INDEX.format(table=self.events_table_name)
        return [*super().construct_create_table_statements(),
                f"CREATE TABLE IF NOT EXISTS {COMMANDS_TABLE} (command_id TEXT PRIMARY KEY, "
                "digest TEXT NOT NULL, outcome BLOB NOT NULL)",
                f"CREATE INDEX IF NOT EXISTS {index} ON {self.events_table_name} (topic)"]

    def insert_events(self, stored_events: Sequence[StoredEvent],
                      **kwargs: Any) -> Sequence[int] | None:
        held = self._held_cursor()
        if held is None:
            return super().insert_events(stored_events, **kwargs)
        try:
            return self._insert_events(held, stored_events, **kwargs)
        except sqlite3.IntegrityError as e:
            raise IntegrityError(e) from e

    def _insert_events(self, c: SQLiteCursor, stored_events: Sequence[StoredEvent],
                       *, horizon: Horizon | None = None,
                       commands: Sequence[LoggedCommand] = (),
                       **kwargs: Any) -> Sequence[int] | None:
        ids = super()._insert_events(c, stored_events, **kwargs)
        if horizon is not None and ids and horizon.crossed_by(ids[0]):
            marks = ", ".join("?" * len(horizon.topics))
            c.execute(f"SELECT 1 FROM {self.events_table_name} WHERE rowid > ? AND rowid < ? "
                      f"AND topic IN ({marks}) LIMIT 1",
                      (horizon.position, ids[0], *horizon.topics))
            if c.fetchone() is not None:
                raise StaleRead(horizon)  # the transaction rolls back
        if commands:
            c.executemany(f"INSERT INTO {COMMANDS_TABLE} VALUES (?, ?, ?)",
                          [(e.command_id, e.digest, e.outcome) for e in commands])
        return ids

    def select_command(self, command_id: str) -> LoggedCommand | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT digest, outcome FROM {COMMANDS_TABLE} WHERE command_id = ?",
                      (command_id,))
            row = c.fetchone()
        return None if row is None else LoggedCommand(command_id, row[0], bytes(row[1]))


class HorizonPostgresRecorder(_HeldWriteTransaction, PostgresApplicationRecorder):
    """PostgreSQL numbers events under an exclusive table lock, so the ids between the
    horizon and our first id are what others committed since. The library's insert
    commits unless the database reports an error, so a crossed horizon is raised by the
    database itself (a DO block with its own SQLSTATE) and turned into `StaleRead` here."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands_table = SQL("{schema}.{table}").format(
            schema=Identifier(self.datastore.schema), table=Identifier(COMMANDS_TABLE))
        self.sql_create_statements.append(SQL(
            "CREATE TABLE IF NOT EXISTS {table} (command_id text PRIMARY KEY, "
            "digest text NOT NULL, outcome bytea NOT NULL)").format(table=self.commands_table))
        self.sql_create_statements.append(SQL(
            "CREATE INDEX IF NOT EXISTS {index} ON {schema}.{table} (topic, notification_id)"
        ).format(index=Identifier(TOPIC_INDEX.format(table=self.events_table_name)),
                 schema=Identifier(self.datastore.schema),
                 table=Identifier(self.events_table_name)))

    def create_table(self) -> None:
        """Two processes starting at once on a new schema ran the DDL side by side, and
        one failed ("tuple concurrently updated"); an advisory lock makes them take turns."""
        key = f"zhibao-ddl:{self.datastore.schema}.{self.events_table_name}"
        with self.datastore.get_connection() as connection:
            connection.execute("SELECT pg_advisory_lock(hashtext(%s))", (key,))
            try:
                super().create_table()
            finally:
                connection.execute("SELECT pg_advisory_unlock(hashtext(%s))", (key,))

    def analyze(self) -> None:
        """Refresh the planner's statistics of the events table after a bulk write. Without
        them (a new table, autovacuum off or not yet round) PostgreSQL guessed 200,000 rows
        an aggregate and loaded each in parallel workers: 40–65 ms instead of a fraction of
        a millisecond, which held a province's cascade to 11 units/s."""
        with self.datastore.get_connection() as connection:
            connection.execute(SQL("ANALYZE {schema}.{table}").format(
                schema=Identifier(self.datastore.schema),
                table=Identifier(self.events_table_name)))

    @contextmanager
    def holding_write_lock(self) -> Iterator[None]:
        """Take the table lock every insert takes, and keep it until the block ends; it
        does not block readers."""
        with self.datastore.get_connection() as connection, connection.transaction(), \
                connection.cursor() as cursor:
            self._lock_table(cursor)
            with self._holding(cursor):
                yield

    def insert_events(self, stored_events: Sequence[StoredEvent],
                      **kwargs: Any) -> Sequence[int] | None:
        held = self._held_cursor()
        if held is not None:
            return self._insert_holding_lock(held, stored_events, **kwargs)
        try:
            return super().insert_events(stored_events, **kwargs)
        except DatabaseError as e:
            if getattr(e.__cause__, "sqlstate", None) == STALE_READ_SQLSTATE:
                raise StaleRead(kwargs["horizon"]) from None
            raise

    def _insert_holding_lock(self, cursor: Cursor[DictRow],
                             stored_events: Sequence[StoredEvent],
                             **kwargs: Any) -> Sequence[int] | None:
        try:
            self._insert_stored_events(cursor, stored_events, **kwargs)
            return self._fetch_ids_after_insert_events(cursor, stored_events, **kwargs)
        except psycopg.IntegrityError as e:
            raise IntegrityError(str(e)) from e

    def _fetch_ids_after_insert_events(
            self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent],
            *, horizon: Horizon | None = None, commands: Sequence[LoggedCommand] = (),
            **kwargs: Any) -> Sequence[int] | None:
        ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        if horizon is not None and ids and horizon.crossed_by(ids[0]):
            curs.execute(self._refuse_if_crossed(horizon, ids[0]))
        if commands:
            curs.executemany(SQL("INSERT INTO {table} VALUES (%s, %s, %s)").format(
                table=self.commands_table),
                [(e.command_id, e.digest, e.outcome) for e in commands])
        if commands or (horizon is not None and ids and horizon.crossed_by(ids[0])):
            with curs.connection.pipeline():  # sync, so a refusal is raised here
                pass
        return ids

    def select_command(self, command_id: str) -> LoggedCommand | None:
        with self.datastore.get_connection() as connection, connection.cursor() as curs:
            curs.execute(SQL("SELECT digest, outcome FROM {table} WHERE command_id = %s").format(
                table=self.commands_table), (command_id,))
            row = curs.fetchone()
        return None if row is None else LoggedCommand(command_id, row["digest"],
                                                      bytes(row["outcome"]))

    def _refuse_if_crossed(self, horizon: Horizon, first_new_id: int) -> SQL:
        return SQL(
            "DO $$ BEGIN IF EXISTS (SELECT 1 FROM {schema}.{table} WHERE notification_id > "
            "{after} AND notification_id < {before} AND topic = ANY({topics})) THEN RAISE "
            "EXCEPTION 'stale read: events recorded after %', {after} USING ERRCODE = "
            "{sqlstate}; END IF; END $$"
        ).format(schema=Identifier(self.datastore.schema),
                 table=Identifier(self.events_table_name), after=Literal(horizon.position),
                 before=Literal(first_new_id), topics=Literal(list(horizon.topics)),
                 sqlstate=Literal(STALE_READ_SQLSTATE))


def with_horizon_recorder(env: dict[str, str]) -> dict[str, str]:
    """The eventsourcing settings `env`, with the recorder that honours a write's horizon.
    The library's optional insert through a PostgreSQL function would skip the check, so
    it stays off whatever the process environment says."""
    recorder = {"eventsourcing.sqlite": HorizonSQLiteRecorder,
                "eventsourcing.postgres": HorizonPostgresRecorder}[env["PERSISTENCE_MODULE"]]
    return {**env, "APPLICATION_RECORDER_TOPIC": get_topic(recorder),
            "POSTGRES_ENABLE_DB_FUNCTIONS": "no"}
