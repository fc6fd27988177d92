"""`audit verify` vs the raw notification-log read of the same store (the pages of
notifications verify itself reads, nothing done with them). Target: ≥ 0.3.

The store holds the demo and one checkpoint over all of it, so verify does its full work:
every chain hash recomputed, every link checked, every sealed block compared. Taking that
checkpoint is reported beside it, against the same raw read.
"""

from __future__ import annotations

from bench.bench_export import best_of, demo_store
from bench.harness import Result, peak_rss_mb, timed
from infra.audit.seal import take_checkpoint, verify
from infra.intake.service import Zhibao
from infra.settings import Settings
from infra.store.log import log_range


def raw_read(app: Zhibao) -> int:
    return sum(len(page) for page in log_range(app.recorder, 0))


def run(stores: list[str]) -> list[Result]:
    return [result for kind in stores for result in _measure(kind)]


def _measure(kind: str) -> list[Result]:
    app = Zhibao(Settings(database_url=demo_store(kind)))
    try:
        raw_read(app)  # warm the caches
        checkpoint, sealing = timed(lambda: take_checkpoint(app))
        (events, raw_seconds), (verification, seconds) = best_of(lambda: raw_read(app),
                                                                 lambda: verify(app))
    finally:
        app.close()
    assert verification.ok and verification.events == events, verification
    sealed = checkpoint.events if checkpoint else 0
    return [
        Result(f"audit verify [{kind}]", events / seconds, "events/s", events / raw_seconds,
               "raw notification-log read", 0.3,
               note=f"{events:,} events in {seconds:.1f} s, "
                    f"{verification.checkpoints} checkpoint(s); peak RSS {peak_rss_mb():.0f} MB"),
        Result(f"audit checkpoint [{kind}]", sealed / sealing if sealed else 0.0, "events/s",
               events / raw_seconds, "raw notification-log read", None,
               note=f"sealed {sealed:,} events in {sealing:.1f} s"),
    ]
