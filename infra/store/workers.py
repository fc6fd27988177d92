"""Pages of the log worked on by worker processes, their results taken in log order: the
one way the projector (folding), verify (hashing) and the relay (encoding) spread a long
backlog's per-event work over the machine's cores while their own process keeps what must
happen in order.

Workers are spawned (a forked child would share this process's database connections), so a
script that uses them needs the usual `if __name__ == "__main__":` guard. Each opens its own
reader of the store (`worker_reader`). If they cannot start or die, the caller's iteration
raises `BrokenProcessPool` and the caller does the pages left itself.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from itertools import islice
from multiprocessing import get_context
from typing import TypeVar

from infra.store.databases import open_worker_reader
from infra.store.log import Range

T = TypeVar("T")


def in_workers(database_url: str, ranges: Iterable[Range], work: Callable[[int, int], T],
               workers: int, ahead: int) -> Iterator[T]:
    """`work(after, through)` for each range, run by `workers` processes reading the store at
    `database_url`, yielded in the ranges' order; `ahead` ranges are in the workers' hands at
    a time, so they keep working while the caller handles a result (memory: that many
    results). `work` is a module-level function of a module light to import (or a
    `functools.partial` of one), since each worker imports it."""
    pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn"),
                               initializer=open_worker_reader, initargs=(database_url,))
    try:
        remaining = iter(ranges)
        pending: deque[Future[T]] = deque(pool.submit(work, *r)
                                          for r in islice(remaining, ahead))
        while pending:
            result = pending.popleft().result()
            pending.extend(pool.submit(work, *r) for r in islice(remaining, 1))
            yield result
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
