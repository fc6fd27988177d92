"""The Merkle tree of the audit log at ≥ 1M leaves (the cached million-event store of
`bench_projection`, read only: the tree is built in a scratch store of the same kind).

- Appending: every event's leaf (`infra.audit.verifier.event_leaf`) hashed and appended to
  the stored tree as a catch-up does (a transaction per 50,000 leaves) — against bare
  SHA-256 of the same leaf bytes, the two taking turns page by page. Target ≥ 0.3.
- Proofs at the full size: µs per inclusion proof and per consistency proof made from the
  stored tiles, and per verification of each (the standalone verifier), beside bare SHA-256
  of as many node pairs as the proof holds; and the proofs' size in hashes beside log2 n.
"""

from __future__ import annotations

import hashlib
import math
import random
import time

from bench.bench_projection import big_store
from bench.harness import Result, fresh_store
from infra.audit.checkpoints import CHUNK
from infra.audit.tree import MerkleTree
from infra.audit.verifier import (
    event_leaf,
    leaf_hash,
    node_hash,
    verify_consistency,
    verify_inclusion,
)
from infra.intake.service import Zhibao
from infra.settings import Settings
from infra.store.log import log_range
from infra.store.records import unpack_record

PROOFS = 2000


def run(stores: list[str]) -> list[Result]:
    return [result for kind in stores for result in _measure(kind)]


def _measure(kind: str) -> list[Result]:
    source = Zhibao(Settings(database_url=big_store(kind)))
    try:
        with fresh_store(kind) as scratch:
            host = Zhibao(Settings(database_url=scratch))
            try:
                tree = MerkleTree(host.recorder)
                appended, size = _append(source, tree)
                return [appended, *_proofs(tree, size, kind)]
            finally:
                host.close()
    finally:
        source.close()


def _append(source: Zhibao, tree: MerkleTree) -> tuple[Result, int]:
    """As a catch-up appends (`infra.audit.checkpoints`): one builder over the whole log,
    stored every `CHUNK` leaves in a transaction of its own."""
    ours = theirs = 0.0
    leaves_total = 0
    builder = tree.builder()
    stored = builder.size
    for page in log_range(source.recorder, 0):
        leaves = []
        for n in page:
            prev, _, payload = unpack_record(n.state)
            leaves.append((n.id, event_leaf(n.id, prev, str(n.originator_id),
                                            n.originator_version, n.topic, payload)))
        started = time.perf_counter()
        for _, leaf in leaves:
            hashlib.sha256(leaf).digest()
        middle = time.perf_counter()
        builder.extend((position, leaf_hash(leaf)) for position, leaf in leaves)
        if builder.size - stored >= CHUNK:
            tree.store(builder, stored)
            stored = builder.size
        ours += time.perf_counter() - middle
        theirs += middle - started
        leaves_total += len(leaves)
    started = time.perf_counter()
    tree.store(builder, stored)
    ours += time.perf_counter() - started
    size = tree.size()
    assert size == leaves_total
    kind = "sqlite" if tree.tiles.sqlite else "postgres"
    return Result(f"audit tree append [{kind}]", leaves_total / ours, "leaves/s",
                  leaves_total / theirs, "bare SHA-256 of the same leaf bytes", 0.3,
                  note=f"{leaves_total:,} leaves in {ours:.1f} s vs {theirs:.1f} s"), size


def _proofs(tree: MerkleTree, size: int, kind: str) -> list[Result]:
    rng = random.Random(9162)
    root = tree.root(size)
    indexes = [rng.randrange(size) for _ in range(PROOFS)]
    started = time.perf_counter()
    paths = [tree.inclusion_proof(index, size) for index in indexes]
    made = (time.perf_counter() - started) / PROOFS
    leaves = [tree.subtree(0, index) for index in indexes]
    started = time.perf_counter()
    for index, leaf, path in zip(indexes, leaves, paths, strict=True):
        verify_inclusion(index, size, leaf, path, root)
    checked = (time.perf_counter() - started) / PROOFS
    olds = [rng.randrange(1, size) for _ in range(PROOFS // 10)]
    started = time.perf_counter()
    consistency = [tree.consistency_proof(old, size) for old in olds]
    made_consistency = (time.perf_counter() - started) / len(olds)
    old_roots = [tree.root(old) for old in olds]
    started = time.perf_counter()
    for old, old_root, proof in zip(olds, old_roots, consistency, strict=True):
        verify_consistency(old, size, old_root, root, proof)
    checked_consistency = (time.perf_counter() - started) / len(olds)
    hashes = sum(map(len, paths)) / PROOFS
    consistency_hashes = sum(map(len, consistency)) / len(olds)
    log2 = math.log2(size)
    bare = _bare_node_hashes(round(hashes))
    return [
        Result(f"audit inclusion proof [{kind}]", made * 1e6, "µs", bare * 1e6,
               f"bare SHA-256 of {round(hashes)} node pairs", None,
               note=f"{PROOFS} proofs at {size:,} leaves, {hashes:.1f} hashes "
                    f"({hashes * 32:.0f} bytes) each, log2 n = {log2:.1f}"),
        Result(f"audit inclusion verify [{kind}]", checked * 1e6, "µs", bare * 1e6,
               f"bare SHA-256 of {round(hashes)} node pairs", None),
        Result(f"audit consistency proof [{kind}]", made_consistency * 1e6, "µs", bare * 1e6,
               f"bare SHA-256 of {round(hashes)} node pairs", None,
               note=f"{len(olds)} proofs to {size:,} leaves, {consistency_hashes:.1f} hashes "
                    "each"),
        Result(f"audit consistency verify [{kind}]", checked_consistency * 1e6, "µs",
               bare * 1e6, f"bare SHA-256 of {round(hashes)} node pairs", None),
        Result(f"audit proof size [{kind}]", hashes, "hashes", log2, "log2 n", None,
               note=f"consistency proofs {consistency_hashes:.1f} hashes"),
    ]


def _bare_node_hashes(count: int, rounds: int = 20_000) -> float:
    """Seconds for `count` node hashes, the floor of any proof's verification."""
    left = right = bytes(32)
    started = time.perf_counter()
    for _ in range(rounds):
        node = left
        for _ in range(count):
            node = node_hash(node, right)
    return (time.perf_counter() - started) / rounds
