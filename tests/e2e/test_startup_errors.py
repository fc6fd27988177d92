"""Start-up as an operator meets it: a store's database that is missing, a server that
refuses the connection or the password, a schema that is not there — each one line within
seconds (not the connection pool's 30 s and a traceback), naming what is wrong and the
command that fixes it, exit status 2; `zhibao db create` makes what is missing; and on
PostgreSQL nothing suggests `--fresh`, which only replaces the embedded SQLite file."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.conftest import PG_ADMIN_URL
from tests.support.postgres import PasswordServer

pytestmark = pytest.mark.postgres

ZHIBAO = [sys.executable, "-m", "infra.cli.main"]
SECONDS = 15
"""Far below the connection pool's 30 s wait that these errors used to take."""


def zhibao(url: str, *args: str, cwd: Path, **settings: str,
           ) -> subprocess.CompletedProcess[str]:
    """`zhibao ARGS` on `url`, with only the `ZHIBAO_` settings given (`pdf_font="…"`)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHIBAO_")}
    env["ZHIBAO_DATABASE_URL"] = url
    env.update({f"ZHIBAO_{name.upper()}": value for name, value in settings.items()})
    return subprocess.run([*ZHIBAO, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=SECONDS)


def refused(result: subprocess.CompletedProcess[str]) -> str:
    """The one line an operator sees, after checking it is one line and exit status 2."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


@pytest.fixture
def database_name() -> Iterator[str]:
    """A database name nobody has; dropped afterwards if a test created it."""
    name = f"zhibao_{uuid.uuid4().hex[:10]}"
    yield name
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')


def test_a_missing_database_is_named_with_the_createdb_command(database_name, tmp_path):
    url = f"postgresql://postgres@127.0.0.1:5432/{database_name}"
    for command in (["info"], ["project"], ["status"], ["flows", "run", "overdue"]):
        line = refused(zhibao(url, *command, cwd=tmp_path))
        assert f'database "{database_name}" does not exist on 127.0.0.1:5432' in line, command
        assert f"`createdb -h 127.0.0.1 -p 5432 -U postgres {database_name}`" in line

    created = zhibao(url, "db", "create", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    assert f'created database "{database_name}"' in created.stderr
    assert zhibao(url, "info", cwd=tmp_path).returncode == 0


def test_a_refused_connection_says_to_start_the_server(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    line = refused(zhibao(f"postgresql://postgres@127.0.0.1:{port}/zhibao", "info", cwd=tmp_path))
    assert f"no PostgreSQL server accepts connections at 127.0.0.1:{port}" in line
    assert "start it" in line


def test_a_wrong_password_is_named_and_the_right_one_opens_the_store(
        password_postgres: PasswordServer, tmp_path):
    line = refused(zhibao(password_postgres.url("wrong"), "info", cwd=tmp_path))
    assert 'refused the password of user "postgres"' in line
    assert "wrong" not in line  # the password is never printed
    assert zhibao(password_postgres.url(), "info", cwd=tmp_path).returncode == 0


def test_a_missing_schema_is_named_and_db_create_makes_it(tmp_path):
    schema = f"s_{uuid.uuid4().hex[:10]}"
    url = f"{PG_ADMIN_URL}?schema={schema}"
    try:
        line = refused(zhibao(url, "info", cwd=tmp_path))
        assert f'schema "{schema}" does not exist in database "test"' in line
        assert "zhibao db create" in line
        created = zhibao(url, "db", "create", cwd=tmp_path)
        assert created.returncode == 0, created.stderr
        assert f'created schema "{schema}"' in created.stderr
        assert zhibao(url, "info", cwd=tmp_path).returncode == 0
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_a_missing_sqlite_directory_is_named(tmp_path):
    line = refused(zhibao(f"sqlite:///{tmp_path}/nowhere/zhibao.db", "info", cwd=tmp_path))
    assert f"directory {tmp_path}/nowhere of the SQLite store does not exist" in line
    assert not (tmp_path / "nowhere").exists()


def test_a_missing_pdf_font_is_named_before_the_demo_builds_anything(tmp_path):
    line = refused(zhibao(f"sqlite:///{tmp_path}/zhibao.db", "demo", "--months", "1",
                          cwd=tmp_path, pdf_font=str(tmp_path / "missing.ttf")))
    assert f"ZHIBAO_PDF_FONT: {tmp_path}/missing.ttf does not exist" in line
    assert list(tmp_path.iterdir()) == []


def test_fresh_is_never_suggested_on_postgres(tmp_path):
    from bench.harness import scratch_schema

    with scratch_schema(PG_ADMIN_URL, "t") as url:
        init = zhibao(url, "admin", "init", "--unit", "610000", "--unit-name", "陕西省",
                      "--org-name", "陕西省安委办", "--admin-name", "张三", cwd=tmp_path)
        assert init.returncode == 0, init.stderr
        line = refused(zhibao(url, "demo", cwd=tmp_path))
        assert "already exists" in line and "--fresh" not in line
        assert "empty database or schema" in line
        line = refused(zhibao(url, "demo", "--fresh", cwd=tmp_path))
        assert "--fresh only replaces the embedded SQLite store" in line
        with psycopg.connect(url.split("?")[0]) as connection:
            schema = url.split("schema=")[1]
            events = connection.execute(
                f'SELECT count(*) FROM "{schema}".zhibao_events').fetchone()
        assert events == (4,)  # what admin init wrote, nothing more


def test_db_create_without_the_right_names_who_may(database_name, tmp_path):
    role = f"r_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'CREATE ROLE "{role}" LOGIN NOCREATEDB')
    try:
        url = f"postgresql://{role}@127.0.0.1:5432/{database_name}"
        line = refused(zhibao(url, "db", "create", cwd=tmp_path))
        assert f'user "{role}" may not create databases or schemas' in line
        assert f"`createdb -h 127.0.0.1 -p 5432 -O {role} {database_name}`" in line
        with psycopg.connect(PG_ADMIN_URL) as connection:
            assert connection.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                      (database_name,)).fetchone() is None
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as connection:
            connection.execute(f'DROP ROLE "{role}"')
