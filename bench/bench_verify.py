"""`audit verify` vs the raw notification-log read of the same store (the pages of
notifications verify itself reads, nothing done with them). Target: ≥ 0.3.

The store holds the demo and one signed checkpoint over all of it, so verify does its full
work: every chain hash recomputed, every link checked, the Merkle tree rebuilt and compared
tile by tile and with the signed root. Taking that checkpoint (the tree built from nothing,
then signed) is reported beside it, against the same raw read.

Verify is measured again remembering no aggregate head from one page to the next, the worst
a province-year's walk meets (it has more live aggregates than `HEADS_KEPT`): every link to
an earlier page is then checked against the previous version looked up, a page's in one
query. Target: ≥ 0.3 too.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench.bench_export import best_of, demo_store
from bench.bench_projection import raw_read
from bench.harness import Result, peak_rss_mb, timed
from infra.audit import integrity
from infra.audit.checkpoints import take_checkpoint
from infra.audit.integrity import Verification, verify
from infra.audit.keys import generate, write_key_files
from infra.intake.service import Zhibao
from infra.settings import Settings


def verify_forgetting(app: Zhibao) -> Verification:
    """`verify` remembering no head from one page to the next."""
    kept = integrity.HEADS_KEPT
    integrity.HEADS_KEPT = 0
    try:
        return verify(app)
    finally:
        integrity.HEADS_KEPT = kept


def run(stores: list[str]) -> list[Result]:
    return [result for kind in stores for result in _measure(kind)]


def _measure(kind: str) -> list[Result]:
    keys = Path(tempfile.mkdtemp(prefix="zhibao-bench-keys-"))
    write_key_files(generate("bench.zhibao.example/log"), keys / "audit.key")
    app = Zhibao(Settings(database_url=demo_store(kind), audit_signing_key=keys / "audit.key",
                          output_dir=keys / "out"))
    try:
        raw_read(app)  # warm the caches
        checkpoint, sealing = timed(lambda: take_checkpoint(app))
        walked, events, raw_seconds = walks(app, kind)
    finally:
        app.close()
    sealed = checkpoint.size if checkpoint else 0
    return [*walked,
            Result(f"audit checkpoint [{kind}]", sealed / sealing if sealed else 0.0,
                   "events/s", events / raw_seconds, "raw notification-log read", None,
                   note=f"sealed {sealed:,} events in {sealing:.1f} s")]


def walks(app: Zhibao, label: str) -> tuple[list[Result], int, float]:
    """Verify, and verify remembering no head across pages, against the raw read, alternating
    (the store must be checkpointed: verify then does its full work); also the events and
    the raw read's best time."""
    (events, raw_seconds), (verification, seconds), (forgetting, forgetting_seconds) = \
        best_of(lambda: raw_read(app), lambda: verify(app), lambda: verify_forgetting(app))
    for walked in (verification, forgetting):
        assert walked.ok and walked.checkpoints and walked.events == events, walked
    return [
        Result(f"audit verify [{label}]", events / seconds, "events/s", events / raw_seconds,
               "raw notification-log read", 0.3,
               note=f"{events:,} events in {seconds:.1f} s, "
                    f"{verification.checkpoints} checkpoint(s); peak RSS {peak_rss_mb():.0f} MB"),
        Result(f"audit verify, no head remembered across pages [{label}]",
               events / forgetting_seconds, "events/s", events / raw_seconds,
               "raw notification-log read", 0.3,
               note=f"{events:,} events in {forgetting_seconds:.1f} s"),
    ], events, raw_seconds
