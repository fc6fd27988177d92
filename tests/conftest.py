"""Fixtures shared by the suite. Persistence tests run against the embedded SQLite default
and against the real PostgreSQL server on 127.0.0.1:5432 (a fresh schema per test)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta

import psycopg
import pytest

from domain.base import SHANGHAI
from infra.service import Zhibao
from infra.settings import Settings

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"


class FakeClock:
    """A settable system clock, so recorded_at is deterministic in tests."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2021, 3, 1, 9, 0, tzinfo=SHANGHAI))


def _postgres_schema() -> Iterator[str]:
    schema = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{PG_ADMIN_URL}?schema={schema}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


STORES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=STORES)
def database_url(request: pytest.FixtureRequest, tmp_path: object) -> Iterator[str]:
    """The same test runs on both stores."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/zhibao.db"  # type: ignore[operator]
    else:
        yield from _postgres_schema()


@pytest.fixture(scope="module", params=STORES)
def module_database_url(request: pytest.FixtureRequest,
                        tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Both stores, one of each per test module: for tests that share a world they only
    add to (each its own hazards), so the world is built once per module and store."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('store')}/zhibao.db"
    else:
        yield from _postgres_schema()


@pytest.fixture
def sqlite_url(tmp_path: object) -> str:
    return f"sqlite:///{tmp_path}/zhibao.db"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    yield from _postgres_schema()


def open_app(database_url: str, clock: FakeClock) -> Zhibao:
    return Zhibao(Settings(database_url=database_url), clock=clock)


@pytest.fixture
def app(database_url: str, clock: FakeClock) -> Iterator[Zhibao]:
    application = open_app(database_url, clock)
    yield application
    application.close()


from tests.brokers import kafka_broker, own_broker  # noqa: E402, F401  (broker fixtures)
