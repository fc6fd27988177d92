"""The relay's position: the last store position the broker acknowledged, one row per topic
prefix in the event store's own database (SQLite or PostgreSQL, beside the stored events).

It is written only after the acknowledgement, so after any crash the relay re-sends at most
what was in flight; consumers drop those duplicates by event id.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from psycopg.sql import SQL, Identifier

TABLE = "zhibao_relay_positions"


class RelayPositions:
    def __init__(self, recorder: SQLiteApplicationRecorder | PostgresApplicationRecorder,
                 name: str) -> None:
        self.recorder = recorder
        self.name = name
        self._execute("CREATE TABLE IF NOT EXISTS {table} ("
                      "name TEXT PRIMARY KEY, position BIGINT NOT NULL)")

    def load(self) -> int:
        """The acknowledged position, 0 before anything was published."""
        row = self._execute("SELECT position FROM {table} WHERE name = %s", (self.name,),
                            fetch=True)
        return 0 if row is None else int(row["position"])  # sqlite3.Row or psycopg dict row

    def save(self, position: int) -> None:
        self._execute("INSERT INTO {table} (name, position) VALUES (%s, %s) "
                      "ON CONFLICT (name) DO UPDATE SET position = excluded.position",
                      (self.name, position))

    def _execute(self, statement: str, params: tuple[Any, ...] = (),
                 fetch: bool = False) -> Any:
        datastore = self.recorder.datastore
        if isinstance(self.recorder, SQLiteApplicationRecorder):
            query: Any = statement.format(table=TABLE).replace("%s", "?")
        else:
            query = SQL(statement).format(  # type: ignore[arg-type]
                table=Identifier(datastore.schema, TABLE))  # type: ignore[union-attr]
        with datastore.transaction(commit=not fetch) as cursor:
            cursor.execute(query, params)
            return cursor.fetchone() if fetch else None
