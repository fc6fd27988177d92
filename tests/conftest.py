"""Fixtures shared by the suite. Persistence tests run against the embedded SQLite default
and against the real PostgreSQL server on 127.0.0.1:5432 (a fresh schema per test)."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
import pytest

from bench.harness import scratch_schema
from domain.base import SHANGHAI
from infra.intake.service import Zhibao
from infra.settings import Settings, get_settings

if TYPE_CHECKING:
    from tests.support.hazard_paths import Hazards

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"

if worker := os.environ.get("PYTEST_XDIST_WORKER"):
    # `.ci/run` runs the suite in parallel processes (pytest-xdist): each has a Prefect home
    # of its own, so their ephemeral servers do not share (and lock) one SQLite database.
    # Prefect reads PREFECT_HOME when it is first imported, which is after this module.
    os.environ["PREFECT_HOME"] = str(Path(tempfile.gettempdir()) / f"zhibao-prefect-{worker}")

pytest_plugins = ("tests.support.brokers",  # the Kafka-protocol broker fixtures
                  "tests.support.postgres")  # a PostgreSQL server that checks passwords


def wait_for(condition: Callable[[], bool], timeout: float = 60, what: str = "",
             interval: float = 0.02) -> None:
    """Poll `condition` until it holds; TimeoutError naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout} s for {what or 'a condition'}")
        time.sleep(interval)


class FakeClock:
    """A settable system clock, so recorded_at is deterministic in tests."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture(autouse=True)
def own_output_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test writes reports, anchors and logs under its own folder, never into the
    checkout's `zhibao-out` — where `zhibao demo` keeps its checkpoints' anchors, which a
    test's empty store would rightly be refused against."""
    monkeypatch.setenv("ZHIBAO_OUTPUT_DIR", str(tmp_path / "zhibao-out"))
    get_settings.cache_clear()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2021, 3, 1, 9, 0, tzinfo=SHANGHAI))


def _postgres_schema() -> Iterator[str]:
    with scratch_schema(PG_ADMIN_URL, "t") as url:
        yield url


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


@pytest.fixture(scope="module")
def hazards(module_database_url: str) -> Iterator[Hazards]:
    """A world built once per test module and store, its clock at 2021-03-01 09:00, for
    tests that each add hazards of their own (tests/hazard_paths.py)."""
    from tests.support.hazard_paths import hazards_in_new_world  # it builds on this module

    with hazards_in_new_world(module_database_url) as shared:
        yield shared


@pytest.fixture
def sqlite_url(tmp_path: object) -> str:
    return f"sqlite:///{tmp_path}/zhibao.db"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    yield from _postgres_schema()


def open_app(database_url: str, clock: FakeClock, output_dir: Path | None = None) -> Zhibao:
    """An app on `database_url` that signs nothing unless a test gives it a key (`signed`),
    writing outside the database only under `output_dir`."""
    settings = Settings(database_url=database_url, audit_signing_key=None,
                        **({"output_dir": output_dir} if output_dir else {}))
    return Zhibao(settings, clock=clock)


@pytest.fixture
def app(database_url: str, clock: FakeClock, tmp_path: Path) -> Iterator[Zhibao]:
    application = open_app(database_url, clock, tmp_path / "out")
    yield application
    application.close()


TEST_LOG = "test.zhibao.example/log"


def make_key(path: Path, name: str = TEST_LOG) -> Path:
    """A signing key file at `path`; its public key file."""
    from infra.audit.keys import generate, write_key_files

    return write_key_files(generate(name), path)


@pytest.fixture
def signed(app: Zhibao, tmp_path: Path) -> Path:
    """`app` signs checkpoints with a key of its own; the public key file."""
    public = make_key(tmp_path / "audit.key")
    app.settings = app.settings.model_copy(update={"audit_signing_key": tmp_path / "audit.key"})
    return public


@pytest.fixture
def app_env(app: Zhibao, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Settings in the environment pointing at `app`'s store, as a fresh process (the CLI,
    a deployed flow run) reads them; yields the output directory."""
    monkeypatch.setenv("ZHIBAO_DATABASE_URL", app.settings.database_url)
    monkeypatch.setenv("ZHIBAO_OUTPUT_DIR", str(tmp_path / "out"))
    monkeypatch.setenv("ZHIBAO_AUDIT_SIGNING_KEY", str(tmp_path / "audit.key"))
    get_settings.cache_clear()
    yield tmp_path / "out"
    get_settings.cache_clear()


# -- a shared partial-year demo store --------------------------------------------------------
# Built once per session and store kind (only when a test asks for it); each test gets its
# own copy, so tests may change or tamper with it freely.

DEMO_UNTIL = datetime(2021, 4, 30, 23, 59, tzinfo=SHANGHAI)


def _build_demo(database_url: str) -> None:
    from infra.demo import build_demo

    application = Zhibao(Settings(database_url=database_url))
    result = build_demo(application, until=DEMO_UNTIL)
    application.close()
    assert not result.totals.rejections, result.totals.rejections[:3]


@pytest.fixture(scope="session")
def demo_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "zhibao.db"
    _build_demo(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def demo_postgres_template() -> Iterator[str]:
    """The schema holding the session's demo store on PostgreSQL."""
    for url in _postgres_schema():
        _build_demo(url)
        yield url.rpartition("schema=")[2]


def _copy_postgres_store(template_schema: str, url: str) -> None:
    """Copy the template's events, notification ids included, into a fresh store."""
    application = Zhibao(Settings(database_url=url))  # creates the tables
    table = application.recorder.events_table_name
    application.close()
    schema = url.rpartition("schema=")[2]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'INSERT INTO "{schema}".{table} SELECT * FROM "{template_schema}".{table}')
        conn.execute(f"SELECT setval(pg_get_serial_sequence('\"{schema}\".{table}', "
                     f"'notification_id'), (SELECT max(notification_id) FROM "
                     f'"{schema}".{table}))')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def demo_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A private copy of the partial-year demo store (January–April 2021), on both stores."""
    if request.param == "sqlite":
        copy = tmp_path / "zhibao.db"
        shutil.copy(request.getfixturevalue("demo_sqlite_template"), copy)
        yield f"sqlite:///{copy}"
        return
    template = request.getfixturevalue("demo_postgres_template")
    for url in _postgres_schema():
        _copy_postgres_store(template, url)
        yield url


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """Prefect's test server and database, started once per session for every flow test."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
