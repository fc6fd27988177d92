"""Which database holds the store: `ZHIBAO_DATABASE_URL` translated into the eventsourcing
library's settings, and the embedded SQLite file prepared for several processes."""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from urllib.parse import parse_qs, unquote, urlsplit

from eventsourcing.persistence import ApplicationRecorder, Environment, InfrastructureFactory

APPLICATION_NAME = "zhibao"
"""The eventsourcing application's name: it prefixes the library's own settings."""

def eventsourcing_env(database_url: str) -> dict[str, str]:
    """Translate `ZHIBAO_DATABASE_URL` into the eventsourcing library's settings."""
    url = urlsplit(database_url)
    if url.scheme == "sqlite":
        path = unquote(url.path[1:] if url.path.startswith("/") else url.path) or "zhibao.db"
        return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": path,
                "SQLITE_LOCK_TIMEOUT": "30"}
    if url.scheme in ("postgresql", "postgres"):
        query = parse_qs(url.query)
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": url.path.lstrip("/") or "postgres",
            "POSTGRES_HOST": url.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(url.port or 5432),
            "POSTGRES_USER": unquote(url.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(url.password or ""),
            "POSTGRES_SCHEMA": query.get("schema", ["public"])[0],
            "POSTGRES_POOL_SIZE": "4",
            "POSTGRES_LOCK_TIMEOUT": "10",
        }
    raise ValueError(f"ZHIBAO_DATABASE_URL: unsupported scheme {url.scheme!r} "
                     "(use sqlite:///PATH or postgresql://USER@HOST:PORT/DB)")


def prepare_sqlite_store(path: str) -> None:
    """Put the SQLite file into WAL mode before the library opens it. Processes opening a
    new file at the same moment race to switch it, and SQLite refuses the losers at once
    ("database is locked") instead of waiting, so the switch is retried briefly."""
    for delay in (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, None):
        try:
            with closing(sqlite3.connect(path, timeout=30)) as connection:
                connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or delay is None:
                raise
            time.sleep(delay)


def open_reader(database_url: str) -> ApplicationRecorder:
    """A recorder that only reads the store another process created (e.g. in a projector's
    worker): processes starting together must not all re-run the store's DDL (PostgreSQL:
    "tuple concurrently updated")."""
    env = Environment(APPLICATION_NAME, {**eventsourcing_env(database_url), "CREATE_TABLE": "no"})
    return InfrastructureFactory.construct(env).application_recorder()
