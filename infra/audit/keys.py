"""Signing keys, kept outside the database: the log's Ed25519 key that signs checkpoints, and a
witness's key that cosigns the checkpoints of logs it watches (a city for its counties).

A key file holds lines in the signed-note formats (c2sp.org/signed-note), so Go's
`golang.org/x/mod/sumdb/note` and other tools read them too:

    PRIVATE+KEY+<name>+<key ID>+<base64(type ‖ Ed25519 seed)>   a key that signs
    <name>+<key ID>+<base64(type ‖ public key)>                  a retired key, still trusted

`zhibao audit keygen` writes the private file (mode 0600) and its public half `<file>.pub`,
which is what upper levels and witnesses are given. Rotation: make a new key with the same
name, give its `.pub` to every verifier, then in the key file replace the old PRIVATE line
by the old key's public line (so older checkpoints still verify here) and add the new one.
Every PRIVATE line signs each checkpoint, so during an overlap both keys may sign.
"""

from __future__ import annotations

import base64
import binascii
import os
import struct
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from infra.audit.verifier import (
    COSIGNATURE,
    ED25519,
    ProofError,
    VerifierKey,
    cosigned_message,
    parse_note,
    parse_verifier_key,
    valid_key_name,
)

PRIVATE_PREFIX = "PRIVATE+KEY+"


class KeyFileError(Exception):
    """A key file is missing or unreadable; the message says what to do."""


@dataclass(frozen=True)
class Signer:
    name: str
    kind: int
    private_key: Ed25519PrivateKey

    @property
    def public(self) -> VerifierKey:
        raw = self.private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return VerifierKey(self.name, self.kind, raw)

    def signature_line(self, message: bytes, prefix: bytes = b"") -> str:
        raw = struct.pack(">I", self.public.key_id) + prefix + self.private_key.sign(message)
        return f"— {self.name} {base64.b64encode(raw).decode()}\n"

    def private_text(self) -> str:
        seed = self.private_key.private_bytes_raw()
        encoded = base64.b64encode(bytes([self.kind]) + seed).decode()
        return f"{PRIVATE_PREFIX}{self.name}+{self.public.key_id:08x}+{encoded}"


@dataclass(frozen=True)
class KeyRing:
    """What a key file holds: keys that sign, and public keys still trusted."""

    signers: tuple[Signer, ...]
    retired: tuple[VerifierKey, ...]

    @property
    def trusted(self) -> tuple[VerifierKey, ...]:
        return (*(signer.public for signer in self.signers), *self.retired)


def generate(name: str, kind: int = ED25519) -> Signer:
    if not valid_key_name(name):
        raise ValueError(f"key name {name!r} must be non-empty, without spaces or '+' "
                         "(e.g. hanbin.ankang.example/zhibao)")
    return Signer(name, kind, Ed25519PrivateKey.generate())


def write_key_files(signer: Signer, path: Path) -> Path:
    """The private key at `path` (mode 0600, never overwritten) and its public half at
    `<path>.pub`; returns the public file's path."""
    public_path = path.with_name(path.name + ".pub")
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    what = "witness cosigning" if signer.kind == COSIGNATURE else "audit signing"
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(f"# zhibao {what} key: keep it secret, outside the database\n"
                   f"{signer.private_text()}\n")
    public_path.write_text(f"{signer.public}\n", encoding="utf-8")
    return public_path


def parse_signer(text: str) -> Signer:
    name, _, rest = text.strip().removeprefix(PRIVATE_PREFIX).partition("+")
    hex_id, _, material = rest.partition("+")
    try:
        raw = base64.b64decode(material, validate=True)
    except binascii.Error:
        raw = b""
    if not valid_key_name(name) or len(raw) != 33 or raw[0] not in (ED25519, COSIGNATURE):
        raise ProofError(f"not an Ed25519 private key line for {name!r}")
    signer = Signer(name, raw[0], Ed25519PrivateKey.from_private_bytes(raw[1:]))
    if f"{signer.public.key_id:08x}" != hex_id:
        raise ProofError(f"private key {name}+{hex_id}: the key ID does not match the key")
    return signer


def read_key_file(path: Path) -> KeyRing:
    """Raises KeyFileError for a missing or malformed file, naming it."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise KeyFileError(f"no signing key at {path}: make one with `zhibao audit keygen --name "
                        "NAME --out PATH` and set ZHIBAO_AUDIT_SIGNING_KEY to it") from None
    except (OSError, UnicodeDecodeError) as e:
        raise KeyFileError(f"cannot read the signing key {path}: {e}") from None
    signers, retired = [], []
    try:
        for line in lines:
            if line.startswith(PRIVATE_PREFIX):
                signers.append(parse_signer(line))
            elif line.strip() and not line.startswith("#"):
                retired.append(parse_verifier_key(line))
    except ProofError as e:
        raise KeyFileError(f"{path}: {e}") from None
    if len({signer.name for signer in signers}) > 1:
        raise KeyFileError(f"{path}: its signing keys have different names; a log has one name")
    return KeyRing(tuple(signers), tuple(retired))


def sign_note(text: str, signers: tuple[Signer, ...]) -> str:
    """The note `text` (ending in a newline) signed by every signer."""
    return text + "\n" + "".join(signer.signature_line(text.encode()) for signer in signers)


def cosign(note: str, witness: Signer, timestamp: int) -> str:
    """`note` with the witness's timestamped cosignature added (c2sp.org/tlog-cosignature)."""
    text = parse_note(note).text
    line = witness.signature_line(cosigned_message(text, timestamp),
                                  prefix=struct.pack(">Q", timestamp))
    return note + line
