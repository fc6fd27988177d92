"""The collector runs less often only while some block asks for it, in whatever thread."""

from __future__ import annotations

import gc
import threading

from infra.collector import FEWER, collecting_less


def test_fewer_collections_for_the_block_only() -> None:
    before = gc.get_threshold()
    with collecting_less():
        assert gc.get_threshold() == FEWER
    assert gc.get_threshold() == before


def test_the_thresholds_return_when_the_last_block_ends_whatever_the_order() -> None:
    before = gc.get_threshold()
    entered, first_done, second_may_end = (threading.Event() for _ in range(3))
    seen: list[tuple[int, int, int]] = []

    def second() -> None:
        with collecting_less():
            entered.set()
            second_may_end.wait(5)
            seen.append(gc.get_threshold())

    thread = threading.Thread(target=second)
    with collecting_less():
        thread.start()
        assert entered.wait(5)
    first_done.set()
    assert gc.get_threshold() == FEWER  # the other thread's block still runs
    second_may_end.set()
    thread.join(5)
    assert seen == [FEWER]
    assert gc.get_threshold() == before


def test_an_error_in_the_block_restores_the_thresholds() -> None:
    before = gc.get_threshold()
    try:
        with collecting_less():
            raise KeyError("the block failed")
    except KeyError:
        pass
    assert gc.get_threshold() == before
