"""What every benchmark shares: timing, peak memory, the result line and its verdict."""

from __future__ import annotations

import resource
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from infra.files import scratch_parent

T = TypeVar("T")


@dataclass(frozen=True)
class Result:
    """One figure and its ratio to a peer or limit measured in the same run."""

    name: str
    figure: float
    unit: str
    peer: float
    peer_name: str
    target: float | None  # the ratio must reach this; None: reported only
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.figure / self.peer if self.peer else float("inf")

    @property
    def passed(self) -> bool:
        return self.target is None or self.ratio >= self.target

    def line(self) -> str:
        verdict = "report" if self.target is None else ("PASS" if self.passed else "FAIL")
        target = "" if self.target is None else f" (target ≥ {self.target:g})"
        note = f"  [{self.note}]" if self.note else ""
        return (f"{self.name}: {self.figure:,.0f} {self.unit} vs {self.peer_name} "
                f"{self.peer:,.0f} {self.unit} → ratio {self.ratio:.2f}{target} {verdict}{note}")


def timed(work: Callable[[], T]) -> tuple[T, float]:
    started = time.perf_counter()
    value = work()
    return value, time.perf_counter() - started


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def stopwatch() -> Iterator[list[float]]:
    """`with stopwatch() as elapsed:` … `elapsed[0]` holds the seconds afterwards."""
    elapsed = [0.0]
    started = time.perf_counter()
    try:
        yield elapsed
    finally:
        elapsed[0] = time.perf_counter() - started


PG_BENCH_URL = "postgresql://postgres@127.0.0.1:5432/test"


@contextmanager
def scratch_schema(admin_url: str, prefix: str) -> Iterator[str]:
    """The URL of a new, empty PostgreSQL schema on `admin_url`, dropped afterwards."""
    import uuid

    import psycopg

    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{admin_url}?schema={schema}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def files_folder(prefix: str) -> Path:
    """A new folder for a cascade's files, in memory where the machine has a tmpfs there
    (`infra.files.scratch_parent`): on this machine's disk, the files of the run before,
    removed, cost the next one's creation six times the kernel time, which measured the last
    run's clean-up, not the cascade."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir=scratch_parent()))


@contextmanager
def fresh_store(kind: str, filename: str = "zhibao.db") -> Iterator[str]:
    """A database URL for an empty store of `kind` (a SQLite `filename` in a new directory,
    or a PostgreSQL schema), removed afterwards."""
    import shutil

    if kind == "sqlite":
        directory = tempfile.mkdtemp(prefix="zhibao-bench-")
        try:
            yield f"sqlite:///{directory}/{filename}"
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        return
    with scratch_schema(PG_BENCH_URL, "bench") as url:
        yield url
