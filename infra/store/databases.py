"""Which database holds the store: `ZHIBAO_DATABASE_URL` translated into the eventsourcing
library's settings, the embedded SQLite file prepared for several processes, and what an
operator needs at start-up — a one-line reason when the database cannot be used (and the
command that fixes it), and `zhibao db create`."""

from __future__ import annotations

import shlex
import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import psycopg
from eventsourcing.persistence import ApplicationRecorder, Environment, InfrastructureFactory

APPLICATION_NAME = "zhibao"
"""The eventsourcing application's name: it prefixes the library's own settings."""

CONNECT_TIMEOUT_SECONDS = 3
"""How long a PostgreSQL server may take to accept a connection: a wrong host fails in
seconds, not after the connection pool's 30."""

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
            "POSTGRES_CONNECT_TIMEOUT": str(CONNECT_TIMEOUT_SECONDS),
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


def shared_by_processes(database_url: str) -> bool:
    """Whether other processes (workers) can open the store: an in-memory SQLite database is
    this process's alone."""
    return ":memory:" not in database_url and "mode=memory" not in database_url


_worker_reader: ApplicationRecorder | None = None


def open_worker_reader(database_url: str) -> None:
    """A worker process's initializer: its own reader of the store (`worker_reader`)."""
    global _worker_reader
    _worker_reader = open_reader(database_url)


def worker_reader() -> ApplicationRecorder:
    assert _worker_reader is not None, "open_worker_reader was not this worker's initializer"
    return _worker_reader


class StoreUnavailable(Exception):
    """The database a URL names cannot be used; the message says what is wrong and how to
    fix it, in one line."""


@dataclass(frozen=True)
class PostgresTarget:
    """Where a `postgresql://` URL points, as the fixing commands need it."""

    host: str
    port: int
    user: str
    password: str
    dbname: str
    schema: str

    @classmethod
    def of(cls, database_url: str) -> PostgresTarget:
        env = eventsourcing_env(database_url)
        return cls(env["POSTGRES_HOST"], int(env["POSTGRES_PORT"]), env["POSTGRES_USER"],
                   env["POSTGRES_PASSWORD"], env["POSTGRES_DBNAME"], env["POSTGRES_SCHEMA"])

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    def connect(self, dbname: str | None = None) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(host=self.host, port=self.port, user=self.user,
                               password=self.password or None, dbname=dbname or self.dbname,
                               connect_timeout=CONNECT_TIMEOUT_SECONDS, autocommit=True)

    def createdb(self) -> str:
        return shlex.join(["createdb", "-h", self.host, "-p", str(self.port), "-U", self.user,
                           self.dbname])


def check_database(database_url: str) -> None:
    """Raise StoreUnavailable, within a few seconds, when the store's database cannot be
    opened: before the library's connection pool retries for half a minute and ends in a
    traceback that never names the cause."""
    if database_url.startswith("sqlite:"):
        directory = Path(eventsourcing_env(database_url)["SQLITE_DBNAME"]).parent
        if not directory.is_dir():
            raise StoreUnavailable(f"directory {directory} of the SQLite store does not exist: "
                                   "create it, or correct ZHIBAO_DATABASE_URL")
        return
    target = PostgresTarget.of(database_url)
    try:
        with target.connect() as connection:
            found = connection.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s",
                                       (target.schema,)).fetchone()
    except psycopg.OperationalError as e:
        raise StoreUnavailable(_connection_failure(target, str(e))) from None
    if found is None:
        raise StoreUnavailable(
            f'schema "{target.schema}" does not exist in database "{target.dbname}" on '
            f"{target.where}: create it with `zhibao db create` (or psql -c "
            f"'CREATE SCHEMA \"{target.schema}\"'), or correct ?schema= in "
            "ZHIBAO_DATABASE_URL")


def _connection_failure(target: PostgresTarget, message: str) -> str:
    """PostgreSQL's refusal, said as what to do about it (libpq gives no SQLSTATE here)."""
    if f'database "{target.dbname}" does not exist' in message:
        return (f'database "{target.dbname}" does not exist on {target.where}: create it with '
                f"`{target.createdb()}` or `zhibao db create`")
    if "password authentication failed" in message or "no password supplied" in message:
        return (f'PostgreSQL at {target.where} refused the password of user "{target.user}": '
                "correct it in ZHIBAO_DATABASE_URL (postgresql://USER:PASSWORD@HOST:PORT/DB)")
    if f'role "{target.user}" does not exist' in message:
        return (f'PostgreSQL at {target.where} has no user "{target.user}": create it with '
                f"`createuser -h {target.host} -p {target.port} {target.user}` or correct "
                "ZHIBAO_DATABASE_URL")
    if "Connection refused" in message or "No such file or directory" in message:
        return (f"no PostgreSQL server accepts connections at {target.where} (connection "
                "refused): start it (`sudo systemctl start postgresql`) or correct the host "
                "and port in ZHIBAO_DATABASE_URL")
    if "timeout expired" in message:
        return (f"no answer from {target.where} within {CONNECT_TIMEOUT_SECONDS} s: check the "
                "host in ZHIBAO_DATABASE_URL and the firewall between")
    reason = message.rsplit("FATAL:", 1)[-1].strip().splitlines()[0]
    return f"cannot connect to PostgreSQL at {target.where}: {reason}"


def create_database(database_url: str) -> str:
    """Create what the URL names and is missing — the PostgreSQL database, its schema, the
    SQLite file's directory — for users allowed to; returns what was done, one line."""
    if database_url.startswith("sqlite:"):
        path = Path(eventsourcing_env(database_url)["SQLITE_DBNAME"])
        path.parent.mkdir(parents=True, exist_ok=True)
        prepare_sqlite_store(str(path))
        return f"SQLite store {path} is ready"
    from psycopg import sql

    target = PostgresTarget.of(database_url)
    done = []
    try:
        with target.connect("postgres") as connection:
            exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                        (target.dbname,)).fetchone()
            if exists is None:
                connection.execute(sql.SQL("CREATE DATABASE {}").format(
                    sql.Identifier(target.dbname)))
                done.append(f'created database "{target.dbname}"')
        with target.connect() as connection:
            created = connection.execute(
                "SELECT 1 FROM pg_namespace WHERE nspname = %s", (target.schema,)).fetchone()
            if created is None:
                connection.execute(sql.SQL("CREATE SCHEMA {}").format(
                    sql.Identifier(target.schema)))
                done.append(f'created schema "{target.schema}"')
    except psycopg.errors.InsufficientPrivilege:
        owned = shlex.join(["createdb", "-h", target.host, "-p", str(target.port), "-O",
                            target.user, target.dbname])
        raise StoreUnavailable(f'user "{target.user}" may not create databases or schemas on '
                               f"{target.where}: ask an administrator of the server to run "
                               f"`{owned}`") from None
    except psycopg.OperationalError as e:
        raise StoreUnavailable(_connection_failure(target, str(e))) from None
    what = "; ".join(done) or "nothing to create"
    return f'{what}: database "{target.dbname}", schema "{target.schema}" on {target.where}'
