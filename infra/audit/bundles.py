"""Proofs anyone can check without zhibao's database (`zhibao audit prove`), checked by the
standalone `infra/audit/verifier.py`:

- a **bundle** for one event — a submission, typically: the event exactly as stored (its
  position, aggregate, version, type, previous hash and canonical JSON) and a
  c2sp.org/tlog-proof (its leaf index, the inclusion proof and the signed checkpoint);
- a **consistency proof** between two checkpoints: the newer log extends the older one.

Every submission's files get its bundle beside them (`vN.bundle.json`): with the document
(`vN.json`) and the log's public key, an upper level checks that exactly this document was
recorded in the child's log, under a checkpoint the child cannot later deny.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterable
from pathlib import Path
from uuid import UUID

from domain.base import DomainError
from domain.reports import submission_id
from infra import files
from infra.audit.anchors import Anchor
from infra.audit.checkpoints import (
    SignedCheckpoint,
    newest_checkpoint,
    stored_checkpoints,
    take_checkpoint,
)
from infra.audit.keys import KeyFileError
from infra.audit.tree import MerkleTree
from infra.audit.verifier import (
    BUNDLE_FORMAT,
    CONSISTENCY_FORMAT,
    ProofError,
    format_tlog_proof,
    parse_checkpoint,
    parse_note,
)
from infra.intake.service import Zhibao
from infra.intake.unit_of_work import ConflictError
from infra.store.log import first_from, locate
from infra.store.records import unpack_record

log = logging.getLogger("zhibao.audit")
ATTEMPTS = 3


class ProveError(Exception):
    """No proof can be made (yet); the message says why and what to do."""


def _dumps(document: dict[str, object]) -> bytes:
    return json.dumps(document, ensure_ascii=False, indent=1).encode() + b"\n"


def submission_position(app: Zhibao, unit_code: str, period: str,
                        version: int | None = None) -> int:
    """The log position of a unit's submission for a period (its latest version unless
    `version` says which). DomainError naming the field when there is none."""
    app.refresh_directory()
    entry = app.directory.codes.get(unit_code)
    if entry is None:
        raise DomainError("unit", f"no unit has the code {unit_code!r}", "V8")
    aggregate = submission_id(entry.unit_id, period)
    stored = app.recorder.select_events(aggregate)
    if not stored:
        raise DomainError("period", f"{unit_code} has no submission for {period!r}", "REF")
    chosen = stored[-1] if version is None else next(
        (s for s in stored if s.originator_version == version), None)
    if chosen is None:
        raise DomainError("version", f"{unit_code} {period} has versions 1–{len(stored)}", "REF")
    return _position_of(app, aggregate, chosen.originator_version)


def _position_of(app: Zhibao, aggregate: UUID, version: int) -> int:
    located = locate(app.recorder, aggregate, version)
    assert located is not None
    return located[0]


def bundle(app: Zhibao, position: int, checkpoint: SignedCheckpoint | str | None = None,
           tree: MerkleTree | None = None) -> bytes:
    """The bundle of the event at `position`, proven against `checkpoint` (a stored one,
    the text of a stored one carrying witnesses' cosignatures, or by default the newest)."""
    tree = tree or MerkleTree(app.recorder)
    index = tree.index_of(position)
    note, size = _chosen(app, checkpoint)
    if index is None or size <= index:
        raise ProveError(f"the event at position {position} is not covered by a signed "
                         "checkpoint yet: take one (`zhibao audit checkpoint`)")
    record = first_from(app.recorder, position)
    assert record is not None  # a position the tree covers
    prev, _, payload = unpack_record(record.state)
    return _dumps({
        "format": BUNDLE_FORMAT,
        "event": {"position": position, "aggregate_id": str(record.originator_id),
                  "version": record.originator_version, "topic": record.topic, "prev": prev,
                  "event": payload.decode()},
        "proof": format_tlog_proof(index, tree.inclusion_proof(index, size), note),
    })


def _chosen(app: Zhibao, checkpoint: SignedCheckpoint | str | None) -> tuple[str, int]:
    if checkpoint is None:
        checkpoint = newest_checkpoint(app)
        if checkpoint is None:
            raise ProveError("the store holds no signed checkpoint yet: take one (`zhibao "
                             "audit checkpoint`)")
    if isinstance(checkpoint, SignedCheckpoint):
        return checkpoint.note, checkpoint.size
    try:
        origin, size, root = parse_checkpoint(parse_note(checkpoint).text)
    except ProofError as e:
        raise ProveError(f"--checkpoint: {e}") from None
    if not any((c.origin, c.size, c.root) == (origin, size, root)
               for c in stored_checkpoints(app)):
        raise ProveError(f"--checkpoint: this store signed no checkpoint of {origin} at "
                         f"{size:,} leaves with that root")
    return checkpoint, size


def consistency(app: Zhibao, old: Anchor | int, new: SignedCheckpoint | None = None) -> bytes:
    """The proof that the store's checkpoint `new` (default: the newest) extends `old` (a
    checkpoint an auditor kept, or the size of one the store holds)."""
    checkpoints = stored_checkpoints(app)
    new = new or (checkpoints[-1] if checkpoints else None)
    if new is None:
        raise ProveError("the store holds no signed checkpoint yet")
    if isinstance(old, int):
        kept = next((c for c in checkpoints if c.size == old), None)
        if kept is None:
            raise ProveError(f"the store holds no checkpoint of {old:,} leaves")
        old = Anchor("the store", kept.origin, kept.size, kept.root, kept.note)
    if old.size > new.size:
        raise ProveError(f"the old checkpoint ({old.size:,} leaves) is newer than the new one "
                         f"({new.size:,})")
    tree = MerkleTree(app.recorder)
    path = tree.consistency_proof(old.size, new.size) if old.size < new.size else []
    return _dumps({"format": CONSISTENCY_FORMAT, "old": old.note, "new": new.note,
                   "proof": [base64.b64encode(h).decode() for h in path]})


# -- the submissions' bundles --------------------------------------------------------------------


def seal_submissions(app: Zhibao, documents: Iterable[tuple[str, str, int, Path]]
                     ) -> dict[Path, Path]:
    """After submissions were recorded and written: take a checkpoint and write each
    submission's bundle beside its document. `documents` are (unit code, period, version,
    JSON path); returns document → bundle. Without a signing key this logs why and writes
    nothing: the submissions stand, they are only not provable offline yet."""
    documents = list(documents)
    if not documents:
        return {}
    checkpoint = None
    for _ in range(ATTEMPTS):
        try:
            checkpoint = take_checkpoint(app) or newest_checkpoint(app)
            break
        except KeyFileError as e:
            log.warning("no proof bundles written: %s", e)
            return {}
        except ConflictError:
            continue  # another process recorded a checkpoint meanwhile: take the next one
    if checkpoint is None:
        raise ProveError("no checkpoint could be signed: other processes kept recording one")
    tree = MerkleTree(app.recorder)
    written = {}
    for unit_code, period, version, document in documents:
        position = submission_position(app, unit_code, period, version)
        path = document.with_name(document.name.removesuffix(".json") + ".bundle.json")
        files.write_over(path, bundle(app, position, checkpoint, tree))
        written[document] = path
    return written
