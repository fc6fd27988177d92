"""`audit verify` at ≥ 1M events (`bench_projection`'s store), vs the raw notification-log
read, alternating as in `bench_verify`, with the process's peak RSS. Target: ≥ 0.3.

Verify needs a stored tree and a signed checkpoint to do its full work, and taking one
writes to the store; the shared store stays as the other benchmarks read it, so this one
walks a copy of it, checkpointed once and kept beside it (removed with it when the demo's
sources change).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from bench.bench_projection import big_store, postgres_copy, raw_read
from bench.bench_verify import walks
from bench.harness import Result
from infra.audit.checkpoints import take_checkpoint
from infra.audit.keys import generate, write_key_files
from infra.intake.service import Zhibao
from infra.settings import Settings


def run(stores: list[str]) -> list[Result]:
    results: list[Result] = []
    for kind in stores:
        app = Zhibao(checkpointed_copy(kind))
        try:
            raw_read(app)  # warm the caches
            results.extend(walks(app, f"{kind}, 1M+")[0])
        finally:
            app.close()
    return results


def checkpointed_copy(kind: str) -> Settings:
    """Settings of a `kind` copy of the ≥ 1M-event store holding a signed checkpoint over
    all of it (its key kept beside it)."""
    source = Path(big_store("sqlite").removeprefix("sqlite:///"))
    key = source.with_name(f"{source.stem}-verify.key")
    if not key.exists():
        write_key_files(generate("bench.zhibao.example/log"), key)
    if kind == "sqlite":
        copy = source.with_name(f"{source.stem}-verify.db")  # a demo-*.db: forgotten with it
        if not copy.exists():
            shutil.copy(source, copy.with_suffix(".copying"))
            copy.with_suffix(".copying").rename(copy)
        url = f"sqlite:///{copy}"
    else:  # a bench_cache_* schema: dropped with the store's
        url = postgres_copy(source, f"bench_cache_verify_{source.stem.removeprefix('demo-')}")
    settings = Settings(database_url=url, audit_signing_key=key,
                        output_dir=source.with_name(f"{source.stem}-verify-{kind}"))
    app = Zhibao(settings)
    try:
        take_checkpoint(app)  # the first time; later, nothing new to sign
    finally:
        app.close()
    return settings
