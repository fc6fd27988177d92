"""The standalone verifier (`infra/audit/verifier.py`) in isolation: no database, no zhibao
import. Checked against published vectors — transparency-dev/merkle's RFC 9162 inclusion and
consistency cases, Go's signed-note keys and signature, C2SP's example note — and against an
independent Merkle implementation (pymerkle) on random trees."""

from __future__ import annotations

import ast
import base64
import hashlib
import json
import random
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from pymerkle import InmemoryTree

from infra.audit import verifier
from infra.audit.keys import cosign, generate, parse_signer, sign_note
from infra.audit.tree import TreeBuilder
from infra.audit.verifier import (
    COSIGNATURE,
    EMPTY_ROOT,
    ProofError,
    chained_leaf_hash,
    event_leaf,
    leaf_hash,
    open_checkpoint,
    parse_verifier_key,
    root_from_inclusion,
    verify_consistency,
    verify_inclusion,
)
from infra.store.records import chain_hash, chained

VECTORS = json.loads((Path(__file__).parents[1] / "fixtures" / "rfc9162-vectors.json")
                     .read_text())


def b64(text: str) -> bytes:
    return base64.b64decode(text)


@pytest.mark.parametrize("case", VECTORS["inclusion"], ids=lambda c: c["file"])
def test_rfc9162_inclusion_vectors(case: dict) -> None:
    def check() -> None:
        verify_inclusion(case["leafIdx"], case["treeSize"], b64(case["leafHash"]),
                         [b64(h) for h in case["proof"] or []], b64(case["root"]))
    if case["wantErr"]:
        with pytest.raises(ProofError):
            check()
    else:
        check()


@pytest.mark.parametrize("case", VECTORS["consistency"], ids=lambda c: c["file"])
def test_rfc9162_consistency_vectors(case: dict) -> None:
    def check() -> None:
        verify_consistency(case["size1"], case["size2"], b64(case["root1"]),
                           b64(case["root2"]), [b64(h) for h in case["proof"] or []])
    if case["wantErr"]:
        with pytest.raises(ProofError):
            check()
    else:
        check()


# transparency-dev/merkle testonly: leaf inputs and the root of every prefix of them
LEAVES = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
          "606162636465666768696a6b6c6d6e6f"]
ROOTS = ["e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
         "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
         "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
         "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
         "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
         "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
         "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
         "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
         "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"]


def test_the_tree_builder_gives_the_reference_roots() -> None:
    builder = TreeBuilder()
    assert builder.root() == EMPTY_ROOT == bytes.fromhex(ROOTS[0])
    for size, leaf in enumerate(LEAVES, start=1):
        builder.add(size, leaf_hash(bytes.fromhex(leaf)))
        assert builder.root().hex() == ROOTS[size]


def test_a_leaf_hashed_from_the_chained_bytes_is_the_event_leafs_hash() -> None:
    """`audit verify` hashes each leaf from the bytes it has just checked the chain hash of;
    the leaf must be exactly the documented one the standalone verifier builds."""
    prev, aggregate, topic = "ab" * 32, "0b5e4d1c-7a52-4c43-9d2f-3f1a2b3c4d5e", "m:A.B"
    payload = '{"名称":"矿山","n":1}'.encode()
    covered = chained(prev, aggregate, 7, topic, payload)
    assert hashlib.sha256(covered).hexdigest() == chain_hash(prev, aggregate, 7, topic, payload)
    assert chained_leaf_hash(123_456, covered) == leaf_hash(
        event_leaf(123_456, prev, aggregate, 7, topic, payload))


def test_proofs_of_an_independent_implementation_verify_on_random_trees() -> None:
    """pymerkle builds the trees and the inclusion proofs; our verifier checks them, and
    refuses each with a flipped bit or for another size. Our consistency verification agrees
    with pymerkle's own roots."""
    warnings.simplefilter("ignore", DeprecationWarning)
    rng = random.Random(9162)
    for size in [*range(1, 70), 127, 128, 129, 255, 256, 257, 1000, 1025]:
        tree = InmemoryTree(algorithm="sha256")
        for _ in range(size + 1):
            tree.append_entry(rng.randbytes(rng.randrange(0, 40)))
        root = tree.get_state(size)
        for index in {0, size - 1, rng.randrange(size), size // 2}:
            proof = tree.prove_inclusion(index + 1, size).serialize()
            leaf, path = bytes.fromhex(proof["path"][0]), [bytes.fromhex(h)
                                                          for h in proof["path"][1:]]
            verify_inclusion(index, size, leaf, path, root)
            if path:
                bad = [*path]
                bad[rng.randrange(len(bad))] = bytes(32)
                with pytest.raises(ProofError):
                    verify_inclusion(index, size, leaf, bad, root)
            with pytest.raises(ProofError):  # a proof for another tree size
                verify_inclusion(index, size + 1, leaf, path, tree.get_state(size + 1))


def test_a_proof_for_another_tree_size_is_named_so() -> None:
    with pytest.raises(ProofError, match="it was made for another tree size"):
        root_from_inclusion(5, 1300, bytes(32), [bytes(32)] * 17)


# signed notes: Go's golang.org/x/mod/sumdb/note vectors, C2SP's example

GO_SIGNER = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VERIFIER = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = ("If you think cryptography is the answer to your problem,\n"
           "then you don't know what your problem is.\n")
GO_SIGNED = GO_TEXT + ("\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1"
                       "FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n")


def test_go_signed_note_vectors() -> None:
    signer = parse_signer(GO_SIGNER)
    assert str(signer.public) == GO_VERIFIER
    assert sign_note(GO_TEXT, (signer,)) == GO_SIGNED
    key = parse_verifier_key(GO_VERIFIER)
    note = verifier.parse_note(GO_SIGNED)
    assert verifier.verified_signers(note, [key]) == [key]
    tampered = verifier.parse_note(GO_SIGNED.replace("cryptography", "cryptographY"))
    with pytest.raises(ProofError, match="does not verify"):
        verifier.verified_signers(tampered, [key])


def test_c2sp_example_note_verifies_with_its_key() -> None:
    key = parse_verifier_key("example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANY"
                             "crnKv3U2k")
    note = verifier.parse_note(
        "This is an example message.\n\n— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6Tf"
        "Xppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n")
    assert verifier.verified_signers(note, [key]) == [key]


@pytest.mark.parametrize("mangled", [
    GO_VERIFIER[:-1], GO_VERIFIER.replace("c74f20a3", "c74f20a4"), "PeterNeumann+c74f20a3",
    GO_VERIFIER.replace("+ARpc", "+ZRpc"), "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBf"])
def test_mangled_verifier_keys_are_refused(mangled: str) -> None:
    with pytest.raises(ProofError):
        parse_verifier_key(mangled)


def checkpoint_note(signers: tuple, size: int = 10, root: bytes = bytes(range(32))) -> str:
    return sign_note(f"{signers[0].name}\n{size}\n{base64.b64encode(root).decode()}\n", signers)


def test_checkpoints_signed_by_another_key_or_cosigned_by_no_witness_are_refused() -> None:
    log = generate("county.example/log")
    note = checkpoint_note((log,))
    assert open_checkpoint(note, [log.public]).size == 10
    impostor = generate("county.example/log")  # the same name, another key
    with pytest.raises(ProofError, match="not signed by a trusted key"):
        open_checkpoint(checkpoint_note((impostor,)), [log.public])
    with pytest.raises(ProofError, match="no key is trusted"):
        open_checkpoint(checkpoint_note((generate("other.example/log"),)), [log.public])
    witness = generate("city.example/witness", COSIGNATURE)
    with pytest.raises(ProofError, match="not cosigned by the witness"):
        open_checkpoint(note, [log.public], [witness.public])
    cosigned = cosign(note, witness, 1_700_000_000)
    checkpoint = open_checkpoint(cosigned, [log.public], [witness.public])
    assert checkpoint.signed_by == (log.public.label, witness.public.label)
    with pytest.raises(ProofError, match="does not verify"):
        open_checkpoint(cosigned.replace("\n10\n", "\n11\n"), [log.public], [witness.public])


def test_the_verifier_depends_on_nothing_of_zhibao_and_runs_as_a_copied_script(
        tmp_path: Path) -> None:
    source = Path(verifier.__file__)
    imported = set()
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert imported - set(sys.stdlib_module_names) == {"cryptography"}
    copy = tmp_path / "verifier.py"
    shutil.copy(source, copy)
    (tmp_path / "junk.json").write_text("{}")
    key = tmp_path / "log.pub"
    key.write_text(GO_VERIFIER + "\n")
    done = subprocess.run([sys.executable, str(copy), str(tmp_path / "junk.json"), "--key",
                           str(key)], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip() == "REFUSED: not a zhibao-bundle/1 bundle (format None)"
