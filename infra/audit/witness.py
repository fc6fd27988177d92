"""Witnesses: parties outside a log that remember the newest checkpoint they accepted from it
and accept a newer one only with a consistency proof that it extends the last — so a log
cannot show one history to some and another to others, or rewrite what they saw, without
them noticing (a *fork*).

- A county consumer (`infra/kafka/consumer.py`) witnesses the checkpoints that arrive on
  the system topic: each `CheckpointSigned` event carries the proof from the checkpoint
  before it. Its state lives in its views database.
- A city (or anyone) witnesses a county's log with `zhibao audit witness PROOF --state
  FILE`, fed consistency proofs (`zhibao audit prove --consistency`), and may cosign what it
  accepted (c2sp.org/tlog-cosignature): a verifier can then require the city's cosignature.
- Two witnesses compare the checkpoints they hold (`compare`): the same size with two roots,
  or a newer one the log cannot prove extends the older, is a fork.

The first checkpoint a witness sees is trusted as it comes (its signature checked).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from infra.audit.keys import Signer, cosign
from infra.audit.verifier import (
    Checkpoint,
    ProofError,
    VerifierKey,
    open_checkpoint,
    parse_checkpoint,
    parse_note,
    read_consistency,
    verify_consistency,
)


class ForkDetected(Exception):
    """The log showed a checkpoint that does not extend one this witness accepted."""


@dataclass(frozen=True)
class Accepted:
    origin: str
    size: int
    root: bytes
    note: str


def read_checkpoint(note: str, keys: Sequence[VerifierKey]) -> Accepted:
    """The checkpoint, its signature checked when keys are given."""
    if keys:
        checkpoint: Checkpoint = open_checkpoint(note, keys)
        return Accepted(checkpoint.origin, checkpoint.size, checkpoint.root, note)
    origin, size, root = parse_checkpoint(parse_note(note).text)
    return Accepted(origin, size, root, note)


def accept(latest: Accepted | None, new: Accepted, previous_size: int,
           proof: Sequence[bytes]) -> Accepted:
    """The newest checkpoint once `new` is seen; ForkDetected if `new` (with its proof from
    a checkpoint of `previous_size` leaves) does not extend `latest`."""
    if latest is None:
        return new
    if new.origin != latest.origin:
        raise ProofError(f"a checkpoint of {new.origin!r}, not of {latest.origin!r}")
    if new.size <= latest.size:
        if new.size == latest.size and new.root != latest.root:
            raise ForkDetected(f"{new.origin}: two different roots for {new.size:,} leaves — "
                               "the log forked")
        return latest  # one seen already (or older): nothing new
    if previous_size != latest.size:
        raise ForkDetected(f"{new.origin}: the checkpoint of {new.size:,} leaves claims to "
                           f"follow one of {previous_size:,} leaves, but the last one seen was "
                           f"of {latest.size:,}: the log's history of checkpoints was rewritten")
    try:
        verify_consistency(latest.size, new.size, latest.root, new.root, proof)
    except ProofError as e:
        raise ForkDetected(f"{new.origin}: {e}") from None
    return new


def compare(mine: Accepted, theirs: Accepted, proof: Sequence[bytes] = ()) -> None:
    """Two witnesses' newest checkpoints of one log must agree: equal sizes, equal roots;
    otherwise the larger must extend the smaller by `proof` (from the log)."""
    if mine.origin != theirs.origin:
        raise ProofError(f"checkpoints of two logs ({mine.origin!r}, {theirs.origin!r})")
    old, new = sorted((mine, theirs), key=lambda checkpoint: checkpoint.size)
    try:
        verify_consistency(old.size, new.size, old.root, new.root, proof)
    except ProofError as e:
        raise ForkDetected(f"{old.origin}: the witnesses hold checkpoints of {old.size:,} and "
                           f"{new.size:,} leaves that do not agree — {e}") from None


class FileWitness:
    """A witness whose state is a small JSON file: per log, the newest checkpoint accepted,
    and the alarm once a fork was seen (from then on nothing is accepted)."""

    def __init__(self, path: Path, keys: Sequence[VerifierKey],
                 cosigner: Signer | None = None) -> None:
        self.path = path
        self.keys = keys
        self.cosigner = cosigner
        self.state = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else \
            {"logs": {}}

    def latest(self, origin: str) -> Accepted | None:
        held = self.state["logs"].get(origin, {})
        return read_checkpoint(held["note"], ()) if "note" in held else None

    def accept_proof(self, data: bytes) -> Accepted:
        """Accept the newer checkpoint of a consistency proof file whose older checkpoint is
        the last one accepted (or, for a first, any older one); returns what is now held,
        cosigned when this witness cosigns."""
        old, new, proof = read_consistency(data, self.keys)
        held = self.state["logs"].get(new.origin, {})
        if held.get("alarm"):
            raise ForkDetected(f"{new.origin}: fork alarm raised before ({held['alarm']}); "
                               "nothing is accepted from this log until it is resolved")
        latest = self.latest(new.origin)
        if latest is not None and (old.size, old.root) != (latest.size, latest.root):
            if old.size == latest.size:
                self._alarm(new.origin, "two different roots for one tree size")
                raise ForkDetected(f"{new.origin}: the proof starts from a root of "
                                   f"{old.size:,} leaves that differs from the one accepted")
            raise ProofError(f"the proof starts at {old.size:,} leaves; this witness last "
                             f"accepted {latest.size:,}: ask for a proof from there")
        if latest is None:  # a first checkpoint: the proof must still hold
            verify_consistency(old.size, new.size, old.root, new.root, proof)
        try:
            accepted = accept(latest, Accepted(new.origin, new.size, new.root, new.note),
                              old.size, proof)
        except ForkDetected as e:
            self._alarm(new.origin, str(e))
            raise
        if self.cosigner is not None and accepted.size == new.size:
            accepted = Accepted(accepted.origin, accepted.size, accepted.root,
                                cosign(accepted.note, self.cosigner, int(time.time())))
        self.state["logs"][new.origin] = {"size": accepted.size, "root": accepted.root.hex(),
                                          "note": accepted.note}
        self._save()
        return accepted

    def _alarm(self, origin: str, why: str) -> None:
        self.state["logs"].setdefault(origin, {})["alarm"] = why
        self._save()

    def _save(self) -> None:
        temporary = self.path.with_name(f".{self.path.name}.tmp")
        temporary.write_text(json.dumps(self.state, ensure_ascii=False, indent=1),
                             encoding="utf-8")
        os.replace(temporary, self.path)
