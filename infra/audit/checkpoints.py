"""Signed checkpoints: the Merkle tree caught up with the log, its root signed with the key
kept outside the database (c2sp.org/tlog-checkpoint), recorded as a `CheckpointSigned` event
and written outside the store (`infra/audit/anchors.py`).

Leaves are appended here, by whoever takes a checkpoint, not in each command's insert
transaction: intake stays as fast as before, and an event is provable once a signed
checkpoint covers it anyway. The tree only takes what is committed, in log order — both
recorders commit events in the order of their positions (SQLite's single writer,
PostgreSQL's table lock), so nothing can later appear below a position the tree has passed,
and gaps in PostgreSQL's ids are simply not leaves. Each new record's own hash is
recomputed as it becomes a leaf, so an edited record is never committed to.

A log must never sign a checkpoint inconsistent with one it signed before: the new tree is
proven (RFC 9162 consistency proof, checked by the standalone verifier) to extend the
store's last checkpoint and the newest one kept outside the store, or nothing is signed.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import Notification
from eventsourcing.utils import get_topic

from domain.audit import AUDIT_TRAIL_ID, AuditTrail
from domain.base import DomainError
from domain.commands import SignCheckpoint
from infra.audit.anchors import Anchor, newest_anchors, write_anchor
from infra.audit.keys import KeyFileError, KeyRing, read_key_file, sign_note
from infra.audit.tree import MerkleTree, TreeRaced
from infra.audit.verifier import (
    ProofError,
    VerifierKey,
    event_leaf,
    leaf_hash,
    read_verifier_keys,
    verify_consistency,
)
from infra.intake.service import Zhibao
from infra.intake.unit_of_work import ConflictError
from infra.settings import Settings
from infra.store.log import first_from, last_position, locate, log_range
from infra.store.records import chain_hash, unpack_record

SIGNED_TOPIC = get_topic(AuditTrail.CheckpointSigned)
CHUNK = 50_000
"""Leaves appended per tree transaction during a catch-up."""

Progress = Callable[[int], None]


class TamperedError(Exception):
    """Nothing was signed: the store (or its tree) is not what was checkpointed before."""


@dataclass(frozen=True)
class SignedCheckpoint:
    number: int
    origin: str
    size: int
    root: bytes
    through_position: int
    note: str
    position: int = 0  # where the CheckpointSigned event sits in the log

    @property
    def root_b64(self) -> str:
        return base64.b64encode(self.root).decode()


def checkpoint_text(origin: str, size: int, root: bytes) -> str:
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"


# -- keys ---------------------------------------------------------------------------------------


def signing_keys(settings: Settings) -> KeyRing:
    """The configured signing key file; KeyFileError saying what to do when there is none."""
    if settings.audit_signing_key is None:
        raise KeyFileError("no signing key configured: set ZHIBAO_AUDIT_SIGNING_KEY to a key "
                           "file (`zhibao audit keygen --name NAME --out PATH` makes one)")
    ring = read_key_file(settings.audit_signing_key)
    if not ring.signers:
        raise KeyFileError(f"{settings.audit_signing_key} holds no private key line")
    return ring


def trusted_keys(settings: Settings, extra: tuple[VerifierKey, ...] = ()) -> list[VerifierKey]:
    """Keys checkpoints may be signed with: the signing key file's (current and retired),
    `ZHIBAO_AUDIT_TRUSTED_KEYS` and `extra`. Missing files contribute nothing."""
    keys = list(extra)
    if settings.audit_signing_key is not None and settings.audit_signing_key.is_file():
        keys.extend(read_key_file(settings.audit_signing_key).trusted)
    if settings.audit_trusted_keys is not None:
        try:
            keys.extend(read_verifier_keys(str(settings.audit_trusted_keys)))
        except (ProofError, OSError) as e:
            raise KeyFileError(f"ZHIBAO_AUDIT_TRUSTED_KEYS: {e}") from None
    return keys


# -- the tree ----------------------------------------------------------------------------------


def _checked_leaf(n: Notification) -> bytes:
    prev, digest, payload = unpack_record(n.state)
    aggregate = str(n.originator_id)
    if chain_hash(prev, aggregate, n.originator_version, n.topic, payload) != digest:
        raise TamperedError(f"nothing signed — the record at position {n.id} (aggregate "
                            f"{aggregate} version {n.originator_version}) does not match its "
                            "own hash: it was altered")
    return leaf_hash(event_leaf(n.id, prev, aggregate, n.originator_version, n.topic, payload))


def catch_up(app: Zhibao, progress: Progress | None = None) -> MerkleTree:
    """The tree with every event stored now as a leaf."""
    tree = MerkleTree(app.recorder)
    through = last_position(app.recorder)
    while True:
        try:
            _append_through(app, tree, through, progress)
            return tree
        except TreeRaced:
            continue  # another process appended meanwhile: go on from what it stored


def _append_through(app: Zhibao, tree: MerkleTree, through: int,
                    progress: Progress | None) -> None:
    builder = tree.builder()
    base = builder.size
    for page in log_range(app.recorder, tree.last_position(), through):
        builder.extend((n.id, _checked_leaf(n)) for n in page)  # each record's hash checked
        if builder.size - base >= CHUNK:
            tree.store(builder, base)
            base = builder.size
        if progress:
            progress(page[-1].id)
    if builder.size > base:
        tree.store(builder, base)
    if progress:
        progress(through)


# -- the checkpoints in the store ----------------------------------------------------------------


def load_trail(app: Zhibao) -> AuditTrail | None:
    try:
        trail = app.repository.get(AUDIT_TRAIL_ID)
    except AggregateNotFoundError:
        return None
    assert isinstance(trail, AuditTrail)
    return trail


def stored_checkpoints(app: Zhibao) -> list[SignedCheckpoint]:
    """Every signed checkpoint the store holds, oldest first."""
    found = []
    for stored in app.recorder.select_events(AUDIT_TRAIL_ID):
        if stored.topic == SIGNED_TOPIC:
            payload = orjson.loads(unpack_record(stored.state)[2])
            found.append(SignedCheckpoint(
                len(found) + 1, payload["origin"], payload["tree_size"],
                bytes.fromhex(payload["root_hash"]), payload["through_position"],
                payload["note"]))
    return found


def newest_checkpoint(app: Zhibao) -> SignedCheckpoint | None:
    checkpoints = stored_checkpoints(app)
    return checkpoints[-1] if checkpoints else None


# -- taking one ----------------------------------------------------------------------------------


def take_checkpoint(app: Zhibao, progress: Progress | None = None,
                    anchors: tuple[Anchor, ...] = ()) -> SignedCheckpoint | None:
    """Sign a checkpoint of everything stored now; None when nothing but the trail's own
    records is new. Raises KeyFileError without a signing key, TamperedError (nothing
    signed) when the log does not extend its previous checkpoints, ConflictError when
    another process recorded a checkpoint meanwhile."""
    keys = signing_keys(app.settings)
    origin = keys.signers[0].name
    tree = catch_up(app, progress)
    size = tree.size()
    trail = load_trail(app)
    if trail is not None and trail.origin not in (None, origin):
        raise TamperedError(f"nothing signed — this store's log is {trail.origin!r} but the "
                            f"signing key is named {origin!r}")
    previous = trail.tree_size if trail is not None else 0
    if size == 0 or _only_the_trail_since(app, tree, previous, size):
        return None
    root = tree.root(size)
    proof = tree.consistency_proof(previous, size) if previous else []
    if trail is not None and previous:
        _require_extends(tree, Anchor("the store's last checkpoint", origin, previous,
                                      bytes.fromhex(trail.root_hash), ""), size, root)
    for anchor in newest_anchors(app.settings, origin, anchors):
        if anchor.size > previous:
            raise TamperedError(f"nothing signed — a checkpoint of {anchor.size:,} leaves is kept "
                                f"in {anchor.source}, but the store's newest is of {previous:,}: "
                                "checkpoints were removed from the store")
        _require_extends(tree, anchor, size, root)
    note = sign_note(checkpoint_text(origin, size, root), keys.signers)
    through = tree.position_of(size - 1)
    number = (trail.checkpoints if trail is not None else 0) + 1
    position = record_checkpoint(app, origin=origin, tree_size=size, root_hash=root.hex(),
                                 through_position=through,
                                 consistency=tuple(h.hex() for h in proof), note=note)
    write_anchor(app.settings, note, app.clock())
    return SignedCheckpoint(number, origin, size, root, through, note, position)


def _only_the_trail_since(app: Zhibao, tree: MerkleTree, previous: int, size: int) -> bool:
    """Whether the leaves after the last checkpoint are only the trail's own records (a
    checkpoint of those alone would add one per call forever)."""
    if size - previous > 2:
        return False
    for index in range(previous, size):
        position = tree.position_of(index)
        found = first_from(app.recorder, position)
        if found is None or found.originator_id != AUDIT_TRAIL_ID:
            return False
    return True


def _require_extends(tree: MerkleTree, old: Anchor, size: int, root: bytes) -> None:
    """The tree of `size` leaves extends `old`, proven as any verifier would check it."""
    try:
        if old.size > size:
            raise ProofError(f"the log has {size:,} leaves, fewer than the checkpoint's "
                             f"{old.size:,}: events were removed")
        if old.size < size:
            verify_consistency(old.size, size, old.root, root,
                               tree.consistency_proof(old.size, size))
        elif old.root != root:
            raise ProofError("the tree's root differs from the checkpoint's at the same size")
    except ProofError as e:
        raise TamperedError(f"nothing signed — against {old.source}: {e}") from None


def record_checkpoint(app: Zhibao, **checkpoint: Any) -> int:
    """Record a CheckpointSigned event on the trail (started first if need be) as zhibao
    itself, through the application service's internal path — the one place checkpoints
    are written; its log position."""
    try:
        app.record(SignCheckpoint(**checkpoint))
    except DomainError as e:
        if e.code == "AUDIT-SIZE":  # another process signed this size meanwhile
            raise ConflictError([AUDIT_TRAIL_ID]) from None
        raise
    trail = load_trail(app)
    assert trail is not None
    located = locate(app.recorder, AUDIT_TRAIL_ID, trail.version)
    assert located is not None
    return located[0]
