"""Checking zhibao's audit proofs with no database: one file, the Python standard library and
the `cryptography` package only, so a county, a province or a court can copy it and run it
on its own (`python verifier.py BUNDLE --key KEY.pub`).

What it checks, each an open standard:

- Merkle trees (RFC 9162 §2.1): leaf hash = SHA-256(0x00 ‖ leaf), node = SHA-256(0x01 ‖ left ‖
  right); inclusion proofs (§2.1.3) and consistency proofs (§2.1.4).
- Signed notes (c2sp.org/signed-note): Ed25519 signature lines `— <name> <base64(key ID ‖
  signature)>` under a text, verified with verifier keys `<name>+<key ID hex>+<base64(0x01 ‖
  public key)>`; witness cosignatures (c2sp.org/tlog-cosignature, type 0x04).
- Checkpoints (c2sp.org/tlog-checkpoint): origin, tree size, base64 root hash.
- Proofs of inclusion (c2sp.org/tlog-proof): `index N`, the audit path, the checkpoint.

A zhibao leaf is one stored event in log order: its log position, then exactly the bytes its
per-aggregate chain hash covers — the previous hash in its aggregate, the aggregate id, the
version, the event type (topic) and the event's canonical JSON:

    <position>\\n<prev hash>\\n<aggregate id>\\n<version>\\n<topic>\\n<event JSON>

A *bundle* (`zhibao audit prove`) carries one event's fields and its tlog-proof; a
*consistency proof* carries two checkpoints and the hashes proving the newer log extends the
older one. Every refusal is one line saying what is wrong.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import struct
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
ED25519 = 0x01  # c2sp.org/signed-note signature type of a log's key
COSIGNATURE = 0x04  # c2sp.org/tlog-cosignature: a witness's timestamped Ed25519 cosignature
TLOG_PROOF = "c2sp.org/tlog-proof@v1"
BUNDLE_FORMAT = "zhibao-bundle/1"
CONSISTENCY_FORMAT = "zhibao-consistency/1"
SUBMISSION_TYPES = ("ReportSubmitted", "ReportAmended")
MAX_SIGNATURES = 100
T = TypeVar("T")


class ProofError(ValueError):
    """A proof, a note or a bundle does not hold; the message says why, in one line."""


# -- Merkle trees (RFC 9162 §2.1) --------------------------------------------------------------


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def event_leaf(position: int, prev: str, aggregate_id: str, version: int, topic: str,
               payload: bytes) -> bytes:
    """The leaf of one stored event (see the module docstring)."""
    return b"%d\n%s\n%s\n%d\n%s\n" % (position, prev.encode(), aggregate_id.encode(), version,
                                      topic.encode()) + payload


def chained_leaf_hash(position: int, chained: bytes) -> bytes:
    """`leaf_hash(event_leaf(…))` in one step from `chained`, the bytes the event's chain hash
    covers (everything after the position line): a verifier that has just checked the chain
    hash hashes the leaf without building those bytes again."""
    return hashlib.sha256(b"\x00%d\n%s" % (position, chained)).digest()


def inclusion_path_length(index: int, size: int) -> int:
    """How many hashes the audit path of leaf `index` in a tree of `size` leaves holds."""
    inner = (index ^ (size - 1)).bit_length()
    return inner + bin(index >> inner).count("1")


def root_from_inclusion(index: int, size: int, leaf: bytes, path: Sequence[bytes]) -> bytes:
    """RFC 9162 §2.1.3.2: the root the audit path leads to from the leaf hash."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of {size} leaves")
    if len(leaf) != HASH_SIZE or any(len(p) != HASH_SIZE for p in path):
        raise ProofError("the leaf hash and the proof's hashes must be SHA-256 hashes")
    expected = inclusion_path_length(index, size)
    if len(path) != expected:
        raise ProofError(f"the inclusion proof has {len(path)} hashes; leaf {index} of a tree of "
                         f"{size} leaves needs {expected} — it was made for another tree size")
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return r


def verify_inclusion(index: int, size: int, leaf: bytes, path: Sequence[bytes],
                     root: bytes) -> None:
    if root_from_inclusion(index, size, leaf, path) != root:
        raise ProofError(f"the inclusion proof of leaf {index} does not lead to the root of the "
                         f"tree of {size} leaves: the entry or the proof was altered")


def verify_consistency(size1: int, size2: int, root1: bytes, root2: bytes,
                       path: Sequence[bytes]) -> None:
    """RFC 9162 §2.1.4.2: the tree of `size2` leaves extends the tree of `size1` leaves."""
    if not 0 < size1 <= size2:
        raise ProofError(f"no consistency proof exists from {size1} to {size2} leaves")
    if size1 == size2:
        if path:
            raise ProofError("a consistency proof between equal sizes must be empty")
        if root1 != root2:
            raise ProofError(f"two different roots for the same tree size {size1}: the log forked")
        return
    if not path:
        raise ProofError("the consistency proof is empty")
    proof = list(path)
    if size1 & (size1 - 1) == 0:  # a power of two: the old root is the first node
        proof.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            raise ProofError(f"the consistency proof from {size1} to {size2} leaves is too long")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError(f"the consistency proof from {size1} to {size2} leaves is too short")
    if fr != root1 or sr != root2:
        raise ProofError(f"the log of {size2} leaves does not extend the checkpoint of {size1} "
                         "leaves: history was rewritten (or the proof was altered)")


# -- signed notes and keys (c2sp.org/signed-note, tlog-cosignature) ---------------------------


def key_id(name: str, kind: int, public_key: bytes) -> int:
    """SHA-256(key name ‖ 0x0A ‖ signature type ‖ public key)[:4], big-endian."""
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([kind]) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


def valid_key_name(name: str) -> bool:
    return bool(name) and "+" not in name and not any(c.isspace() for c in name)


@dataclass(frozen=True)
class VerifierKey:
    """A public key: a log's (type 0x01) or a witness's (type 0x04)."""

    name: str
    kind: int
    public_key: bytes

    @property
    def key_id(self) -> int:
        return key_id(self.name, self.kind, self.public_key)

    @property
    def label(self) -> str:
        return f"{self.name}+{self.key_id:08x}"

    def __str__(self) -> str:
        material = base64.b64encode(bytes([self.kind]) + self.public_key).decode()
        return f"{self.label}+{material}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except InvalidSignature:
            return False
        return True


def parse_verifier_key(text: str) -> VerifierKey:
    """`<name>+<key ID hex>+<base64(type ‖ public key)>`."""
    name, _, rest = text.strip().partition("+")
    hex_id, _, material = rest.partition("+")
    try:
        raw = base64.b64decode(material, validate=True)
        claimed = int(hex_id, 16)
    except (binascii.Error, ValueError):
        raise ProofError(f"not a verifier key: {text.strip()[:60]!r}") from None
    if not valid_key_name(name) or len(hex_id) != 8 or len(raw) != 33 \
            or raw[0] not in (ED25519, COSIGNATURE):
        raise ProofError(f"not an Ed25519 verifier key: {text.strip()[:60]!r}")
    key = VerifierKey(name, raw[0], raw[1:])
    if key.key_id != claimed:
        raise ProofError(f"verifier key {name}+{hex_id}: the key ID does not match the key")
    return key


def read_verifier_keys(source: str) -> list[VerifierKey]:
    """Keys from a file (one per line; `#` comments and private-key lines skipped) or, when
    no such file exists, the key text itself."""
    path = Path(source)
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else [source]
    keys = [parse_verifier_key(line) for line in lines
            if line.strip() and not line.startswith(("#", "PRIVATE+KEY+"))]
    if not keys:
        raise ProofError(f"{source}: no verifier key in it")
    return keys


@dataclass(frozen=True)
class Signature:
    name: str
    key_id: int
    signature: bytes

    @property
    def label(self) -> str:
        return f"{self.name}+{self.key_id:08x}"


@dataclass(frozen=True)
class Note:
    text: str  # ends with a newline; what the signatures sign
    signatures: tuple[Signature, ...]


def parse_note(message: str) -> Note:
    """A signed note: text, a blank line, then one or more signature lines."""
    if any(ord(c) < 0x20 and c != "\n" for c in message):
        raise ProofError("the note holds control characters")
    text, separator, tail = message.rpartition("\n\n")
    if not separator or not tail.endswith("\n"):
        raise ProofError("not a signed note (no signature lines after a blank line)")
    signatures = []
    for line in tail[:-1].split("\n"):
        dash, _, rest = line.partition(" ")
        name, _, encoded = rest.partition(" ")
        try:
            raw = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raw = b""
        if dash != "—" or not valid_key_name(name) or len(raw) < 5:
            raise ProofError(f"malformed signature line {line[:60]!r}")
        signatures.append(Signature(name, int.from_bytes(raw[:4], "big"), raw[4:]))
    if len(signatures) > MAX_SIGNATURES:
        raise ProofError("the note carries too many signatures")
    return Note(text + "\n", tuple(signatures))


def cosigned_message(text: str, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n{text}".encode()


def verified_signers(note: Note, keys: Iterable[VerifierKey]) -> list[VerifierKey]:
    """The keys among `keys` that signed `note` (logs) or cosigned it (witnesses). Unknown
    signatures are ignored; a signature of a known key that fails refuses the note."""
    by_label = {key.label: key for key in keys}
    signed = []
    for signature in note.signatures:
        key = by_label.get(signature.label)
        if key is None:
            continue
        if key.kind == COSIGNATURE:
            if len(signature.signature) != 72:
                raise ProofError(f"the cosignature by {key.label} is malformed")
            timestamp = struct.unpack(">Q", signature.signature[:8])[0]
            good = key.verify(cosigned_message(note.text, timestamp), signature.signature[8:])
        else:
            good = key.verify(note.text.encode(), signature.signature)
        if not good:
            raise ProofError(f"the signature by {key.label} does not verify: the checkpoint was "
                             "altered or signed by another key of that name")
        signed.append(key)
    return signed


# -- checkpoints (c2sp.org/tlog-checkpoint) -----------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    note: str = field(repr=False)  # the signed note as given
    signed_by: tuple[str, ...] = ()  # key labels whose signatures verified

    @property
    def root_b64(self) -> str:
        return base64.b64encode(self.root).decode()


def parse_checkpoint(note_text: str) -> tuple[str, int, bytes]:
    lines = note_text.split("\n")[:-1]
    if len(lines) < 3 or not all(lines):
        raise ProofError("not a checkpoint: it needs an origin, a tree size and a root hash")
    origin, size_text, root_text = lines[:3]
    if not size_text.isascii() or not size_text.isdigit() \
            or (size_text.startswith("0") and size_text != "0"):
        raise ProofError(f"checkpoint tree size {size_text[:30]!r} is not a decimal number")
    try:
        root = base64.b64decode(root_text, validate=True)
    except binascii.Error:
        root = b""
    if len(root) != HASH_SIZE:
        raise ProofError(f"checkpoint root hash {root_text[:50]!r} is not a base64 SHA-256 hash")
    return origin, int(size_text), root


def open_checkpoint(message: str, log_keys: Sequence[VerifierKey],
                    witness_keys: Sequence[VerifierKey] = ()) -> Checkpoint:
    """A checkpoint signed by one of `log_keys` (whose name is its origin) and cosigned by
    every one of `witness_keys`; ProofError otherwise."""
    note = parse_note(message)
    origin, size, root = parse_checkpoint(note.text)
    logs = [key for key in log_keys if key.kind == ED25519 and key.name == origin]
    if not logs:
        trusted = ", ".join(key.label for key in log_keys) or "none"
        raise ProofError(f"the checkpoint is of the log {origin!r}, for which no key is trusted "
                         f"(trusted: {trusted})")
    signed = verified_signers(note, logs)
    if not signed:
        carried = ", ".join(s.label for s in note.signatures)
        raise ProofError(f"the checkpoint is not signed by a trusted key (trusted: "
                         f"{', '.join(k.label for k in logs)}; it carries signatures by "
                         f"{carried})")
    witnesses = [key for key in witness_keys if key.kind == COSIGNATURE]
    cosigned = verified_signers(note, witnesses)
    for witness in witnesses:
        if witness not in cosigned:
            raise ProofError(f"the checkpoint is not cosigned by the witness {witness.label}")
    return Checkpoint(origin, size, root, message,
                      tuple(key.label for key in (*signed, *cosigned)))


# -- tlog-proof, bundles and consistency proofs ------------------------------------------------


def format_tlog_proof(index: int, path: Sequence[bytes], checkpoint_note: str) -> str:
    hashes = "".join(base64.b64encode(h).decode() + "\n" for h in path)
    return f"{TLOG_PROOF}\nindex {index}\n{hashes}\n{checkpoint_note}"


def parse_tlog_proof(text: str) -> tuple[int, list[bytes], str]:
    """(leaf index, audit path, checkpoint note) of a c2sp.org/tlog-proof@v1."""
    head, separator, checkpoint_note = text.partition("\n\n")
    lines = head.split("\n")
    if not separator or lines[0] != TLOG_PROOF:
        raise ProofError(f"the proof is not a {TLOG_PROOF}")
    lines = lines[1:]
    if lines and lines[0].startswith("extra "):
        lines = lines[1:]
    index_text = lines[0].removeprefix("index ") if lines else ""
    if not lines or not lines[0].startswith("index ") or not index_text.isdigit():
        raise ProofError("the proof has no leaf index line")
    path = []
    for line in lines[1:]:
        try:
            digest = base64.b64decode(line, validate=True)
        except binascii.Error:
            digest = b""
        if len(digest) != HASH_SIZE:
            raise ProofError(f"the proof's hash {line[:50]!r} is not a base64 SHA-256 hash")
        path.append(digest)
    return int(index_text), path, checkpoint_note


@dataclass(frozen=True)
class VerifiedEvent:
    """A bundle that checked out: the event, where it sits in the log, and the checkpoint."""

    position: int
    index: int
    aggregate_id: str
    version: int
    event_type: str
    fields: dict[str, object]
    checkpoint: Checkpoint


def _load_json(data: bytes, what: str) -> dict[str, object]:
    try:
        value = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ProofError(f"not a {what}: {e}") from None
    if not isinstance(value, dict):
        raise ProofError(f"not a {what}: a JSON object was expected")
    return value


def _typed(document: dict[str, object], key: str, kind: type[T]) -> T:
    value = document.get(key)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ProofError(f"the bundle's {key} is missing or not a {kind.__name__}")
    return value


def check_bundle(data: bytes, log_keys: Sequence[VerifierKey],
                 witness_keys: Sequence[VerifierKey] = (),
                 document: bytes | None = None) -> VerifiedEvent:
    """Verify a bundle: the checkpoint's signatures, the event's inclusion in it, and (when
    given) that `document` is the submission the event records, by its SHA-256."""
    bundle = _load_json(data, "zhibao proof bundle")
    if bundle.get("format") != BUNDLE_FORMAT:
        raise ProofError(f"not a {BUNDLE_FORMAT} bundle (format {bundle.get('format')!r})")
    event = _typed(bundle, "event", dict)
    position, version = _typed(event, "position", int), _typed(event, "version", int)
    aggregate_id, topic = _typed(event, "aggregate_id", str), _typed(event, "topic", str)
    prev, payload = _typed(event, "prev", str), _typed(event, "event", str)
    index, path, checkpoint_note = parse_tlog_proof(_typed(bundle, "proof", str))
    checkpoint = open_checkpoint(checkpoint_note, log_keys, witness_keys)
    leaf = leaf_hash(event_leaf(position, prev, aggregate_id, version, topic, payload.encode()))
    if root_from_inclusion(index, checkpoint.size, leaf, path) != checkpoint.root:
        raise ProofError(f"the event is not leaf {index} of the checkpointed log of "
                         f"{checkpoint.size:,} leaves: the event, its position or the proof was "
                         "altered")
    fields = _load_json(payload.encode(), "event (its JSON)")
    event_type = topic.rpartition(".")[2]
    if document is not None:
        recorded = fields.get("sha256")
        if event_type not in SUBMISSION_TYPES or not isinstance(recorded, str):
            raise ProofError(f"the event is a {event_type}, not a submission: it records no "
                             "document")
        digest = hashlib.sha256(document).hexdigest()
        if digest != recorded:
            raise ProofError(f"the document's SHA-256 {digest[:16]}… is not the one the "
                             f"submission records ({recorded[:16]}…): it is another document")
    return VerifiedEvent(position, index, aggregate_id, version, event_type, fields,
                         checkpoint)


def read_consistency(data: bytes, log_keys: Sequence[VerifierKey],
                     witness_keys: Sequence[VerifierKey] = ()
                     ) -> tuple[Checkpoint, Checkpoint, list[bytes]]:
    """A consistency proof file's two checkpoints (signatures checked, one log) and hashes,
    the proof itself not yet checked."""
    proof = _load_json(data, "zhibao consistency proof")
    if proof.get("format") != CONSISTENCY_FORMAT:
        raise ProofError(f"not a {CONSISTENCY_FORMAT} proof (format {proof.get('format')!r})")
    old = open_checkpoint(_typed(proof, "old", str), log_keys)
    new = open_checkpoint(_typed(proof, "new", str), log_keys, witness_keys)
    if old.origin != new.origin:
        raise ProofError(f"the checkpoints are of two logs ({old.origin!r}, {new.origin!r})")
    path = []
    for item in _typed(proof, "proof", list):
        try:
            digest = base64.b64decode(str(item), validate=True)
        except binascii.Error:
            digest = b""
        if len(digest) != HASH_SIZE:
            raise ProofError(f"the proof's hash {str(item)[:50]!r} is not a base64 SHA-256 hash")
        path.append(digest)
    return old, new, path


def check_consistency(data: bytes, log_keys: Sequence[VerifierKey],
                      witness_keys: Sequence[VerifierKey] = ()) -> tuple[Checkpoint, Checkpoint]:
    """Verify a consistency proof file: both checkpoints signed, of one log, the newer
    extending the older."""
    old, new, path = read_consistency(data, log_keys, witness_keys)
    verify_consistency(old.size, new.size, old.root, new.root, path)
    return old, new


def check_file(data: bytes, log_keys: Sequence[VerifierKey],
               witness_keys: Sequence[VerifierKey] = (), document: bytes | None = None) -> str:
    """Verify a bundle or a consistency proof; a one-line account of what holds."""
    kind = _load_json(data, "zhibao proof").get("format")
    if kind == CONSISTENCY_FORMAT:
        old, new = check_consistency(data, log_keys, witness_keys)
        return (f"OK: the log {new.origin} at {new.size:,} leaves extends its checkpoint at "
                f"{old.size:,} leaves (signed by {', '.join(new.signed_by)})")
    verified = check_bundle(data, log_keys, witness_keys, document)
    about = verified.fields
    what = verified.event_type
    if what in SUBMISSION_TYPES:
        what = (f"{what} {about.get('unit_code')} {about.get('period')} version "
                f"{about.get('version')} (sha256 {about.get('sha256')})")
    checkpoint = verified.checkpoint
    matches = "; the document is the one it records" if document is not None else ""
    return (f"OK: {what} is leaf {verified.index:,} (position {verified.position:,}) of the log "
            f"{checkpoint.origin} at {checkpoint.size:,} leaves, signed by "
            f"{', '.join(checkpoint.signed_by)}{matches}")


def main(argv: Sequence[str] | None = None) -> int:
    """`python verifier.py FILE --key LOG_KEY [--witness-key KEY] [--document FILE]`."""
    import argparse

    parser = argparse.ArgumentParser(description="Verify a zhibao proof bundle or consistency "
                                                 "proof offline.")
    parser.add_argument("file", type=Path)
    parser.add_argument("--key", action="append", required=True,
                        help="the log's verifier key, or a file of them")
    parser.add_argument("--witness-key", action="append", default=[],
                        help="a witness whose cosignature is required")
    parser.add_argument("--document", type=Path, help="the submission's JSON document")
    args = parser.parse_args(argv)
    try:
        log_keys = [key for source in args.key for key in read_verifier_keys(source)]
        witnesses = [key for source in args.witness_key for key in read_verifier_keys(source)]
        document = args.document.read_bytes() if args.document else None
        print(check_file(args.file.read_bytes(), log_keys, witnesses, document))
    except (ProofError, OSError) as e:
        print(f"REFUSED: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
