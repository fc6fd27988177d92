"""Python's cyclic garbage collector, run less often where zhibao's batch work makes
millions of short-lived objects and next to no cycles: a cascade's main process and its
render workers. With the default thresholds (700, 10, 10) it ran every few hundred new
objects, and each pass into an older generation scanned what the process keeps — the
facts, the unit tree, the kept rows and fonts: 0.8 of a cascade's 5.5 s of main-process
CPU, and 4-9 % of a render worker's. Reference counting still frees everything at once; only
cycles wait longer, and rendering and assembling make none to speak of (a worker's peak
RSS is the same with the collector off)."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

FEWER = (20_000, 20, 100)
"""New objects before a pass over the youngest generation, and passes before the next
generation's (the default: 700, 10, 10)."""

_lock = threading.Lock()
_users = 0
_default = gc.get_threshold()


@contextmanager
def collecting_less() -> Iterator[None]:
    """The collector at `FEWER` while the block runs, and as before once the last block
    that asked for it (in any thread) has ended."""
    global _users, _default
    with _lock:
        if _users == 0:
            _default = gc.get_threshold()
            gc.set_threshold(*FEWER)
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0:
                gc.set_threshold(*_default)


def settle() -> None:
    """For a worker process, once it has loaded what it keeps: that set aside for good
    (`gc.freeze`: no pass scans it again), and the collector at `FEWER` from now on."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*FEWER)
