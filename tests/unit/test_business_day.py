"""An event's business day, taken from a cache per UTC hour while folding, is the day of
its own instant in Shanghai — around midnight, China's 1986–91 summer time and the local
mean time before 1901 too (an hour with a change inside it is never cached)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from domain.base import SHANGHAI, micros
from projections.fold import business_day

EDGES = (datetime(1986, 5, 3, 17, tzinfo=UTC), datetime(1986, 9, 13, 17, tzinfo=UTC),
         datetime(1991, 4, 13, 17, tzinfo=UTC), datetime(1991, 9, 14, 17, tzinfo=UTC),
         datetime(1900, 12, 31, 15, 54, 17, tzinfo=UTC), datetime(2021, 12, 31, 16, tzinfo=UTC))


def instants() -> list[datetime]:
    rng = random.Random(14)
    near_edges = [edge + timedelta(microseconds=offset) for edge in EDGES
                  for offset in (-3_600_000_001, -1, 0, 1, 1_799_999_999, 3_600_000_000)]
    spread = [datetime(1890, 1, 1, tzinfo=UTC) + timedelta(
        microseconds=rng.randrange(150 * 365 * 86_400 * 10**6)) for _ in range(20_000)]
    return near_edges + spread


def test_the_cached_day_is_the_instants_own() -> None:
    for at in instants():
        assert business_day(micros(at)) == at.astimezone(SHANGHAI).date().isoformat(), at
