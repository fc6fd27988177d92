"""Proofs anyone can check without the database, on both stores: the stored Merkle tree
against an independent implementation, every submission's bundle checked offline by the
standalone verifier (and each kind of tampering refused with a one-line reason), consistency
between checkpoints, witnesses that catch a forked log, and a county consumer on real
brokers that raises a fork alarm."""

from __future__ import annotations

import base64
import json
import random
import warnings
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from pymerkle import InmemoryTree

from domain.audit import AUDIT_TRAIL_ID
from infra.audit.anchors import anchor_from_text, anchors_path
from infra.audit.bundles import bundle, consistency, submission_position
from infra.audit.checkpoints import newest_checkpoint, take_checkpoint
from infra.audit.keys import cosign, generate, read_key_file, write_key_files
from infra.audit.tree import MerkleTree
from infra.audit.verifier import (
    COSIGNATURE,
    ProofError,
    check_bundle,
    check_consistency,
    check_file,
    leaf_hash,
    read_verifier_keys,
    verify_consistency,
    verify_inclusion,
)
from infra.audit.witness import Accepted, FileWitness, ForkDetected, compare, read_checkpoint
from infra.intake.service import Zhibao
from infra.reporting.reporter import Reporter, open_views
from tests.conftest import FakeClock
from tests.integration.test_audit_tamper import RawStore
from tests.support.march_world import TOWN, at, build_march, record_late_hazard


def keys(public: Path) -> list[Any]:
    return read_verifier_keys(str(public))


def test_the_stored_tree_agrees_with_an_independent_implementation(app: Zhibao) -> None:
    """Leaves appended in random batches; at many sizes the root, every audit path and the
    consistency proofs agree with pymerkle's tree of the same leaves."""
    warnings.simplefilter("ignore", DeprecationWarning)
    rng = random.Random(15)
    tree, reference = MerkleTree(app.recorder), InmemoryTree(algorithm="sha256")
    position, sizes = 0, []
    while len(sizes) < 40:
        batch = []
        for _ in range(rng.choice([1, 2, 3, 7, 200, 256, 700])):
            data = rng.randbytes(rng.randrange(60))
            reference.append_entry(data)
            position += rng.randint(1, 3)  # positions with gaps, as on PostgreSQL
            batch.append((position, leaf_hash(data)))
        sizes.append(tree.append(batch))
    for size in [*sizes[::3], 1, 255, 256, 257, 65536 if sizes[-1] > 65536 else sizes[-1]]:
        root = reference.get_state(size)
        assert tree.root(size) == root
        for index in {0, size - 1, rng.randrange(size)}:
            path = tree.inclusion_proof(index, size)
            theirs = reference.prove_inclusion(index + 1, size).serialize()["path"]
            assert [bytes.fromhex(h) for h in theirs[1:]] == path
            verify_inclusion(index, size, reference.get_leaf(index + 1), path, root)
        for old in {1, size // 2 or 1, size}:
            verify_consistency(old, size, reference.get_state(old), root,
                               tree.consistency_proof(old, size))


@pytest.fixture
def submitted(app: Zhibao, clock: FakeClock, signed: Path, tmp_path: Path) -> dict[str, Any]:
    """March's cascade and the town's amendment after a late hazard, with their files."""
    march = build_march(app, clock)
    views = open_views(app)
    try:
        reporter = Reporter(app, views, tmp_path / "reports")
        at(clock, "2021-04-03T10:00")
        cascade = {done.unit_code: done for done in reporter.cascade("2021-03")}
        record_late_hazard(march, clock)
        at(clock, "2021-04-05T12:00")
        amended = reporter.report(TOWN, "2021-03")
    finally:
        views.close()
    return {"cascade": cascade, "amended": amended, "keys": keys(signed), "world": march.world}


def test_every_submission_gets_a_bundle_an_upper_level_checks_offline(
        submitted: dict[str, Any]) -> None:
    cascade, log_keys = submitted["cascade"], submitted["keys"]
    assert len(cascade) > 3
    for done in cascade.values():
        document, proof = done.files[0], done.files[-1]
        assert proof.name == f"v{done.version}.bundle.json" and proof.parent == document.parent
        verified = check_bundle(proof.read_bytes(), log_keys, document=document.read_bytes())
        assert verified.event_type == "ReportSubmitted"
        assert verified.fields["unit_code"] == done.unit_code
        assert verified.fields["sha256"] == done.sha256
    town = submitted["amended"]
    assert town.version == 2 and town.files[-1].name == "v2.bundle.json"
    second = check_bundle(town.files[-1].read_bytes(), log_keys,
                          document=town.files[0].read_bytes())
    assert second.event_type == "ReportAmended"
    first = check_bundle(cascade[TOWN].files[-1].read_bytes(), log_keys)
    assert second.checkpoint.size > first.checkpoint.size  # a later checkpoint, which …
    kept = json.dumps({"format": "zhibao-consistency/1", "old": first.checkpoint.note,
                       "new": second.checkpoint.note, "proof": []})
    with pytest.raises(ProofError, match="consistency proof is empty"):
        check_consistency(kept.encode(), log_keys)


def test_the_newest_checkpoint_extends_the_one_in_an_older_bundle(
        app: Zhibao, submitted: dict[str, Any]) -> None:
    older = check_bundle(submitted["cascade"][TOWN].files[-1].read_bytes(), submitted["keys"])
    proof = consistency(app, anchor_from_text("v1.bundle.json", older.checkpoint.note))
    old, new = check_consistency(proof, submitted["keys"])
    assert old.size < new.size and new.size == newest_checkpoint(app).size


def edit_bundle(data: bytes, change: Any) -> bytes:
    bundle_json = json.loads(data)
    change(bundle_json)
    return json.dumps(bundle_json, ensure_ascii=False).encode()


def test_tampered_bundles_are_refused_each_with_a_one_line_reason(
        app: Zhibao, submitted: dict[str, Any], tmp_path: Path) -> None:
    town = submitted["cascade"][TOWN]
    document, data, log_keys = town.files[0].read_bytes(), town.files[-1].read_bytes(), \
        submitted["keys"]
    assert check_file(data, log_keys, document=document).startswith("OK: ReportSubmitted")

    def event(change: Any) -> Any:
        return lambda b: b["event"].update(event=change(b["event"]["event"]))

    refusals = {
        "one byte of the event": (edit_bundle(data, event(lambda text: text.replace(
            town.sha256[:6], town.sha256[:5] + ("0" if town.sha256[5] != "0" else "1")))),
            document, "is not leaf"),
        "one byte of the proof": (edit_bundle(data, _flip_first_hash), document, "is not leaf"),
        "another position": (edit_bundle(data, lambda b: b["event"].update(
            position=b["event"]["position"] + 1)), document, "is not leaf"),
        "another document": (data, document.replace(b'"period"', b'"Period"'),
                             "it is another document"),
        "a proof for another tree size": (edit_bundle(data, lambda b: b.update(
            proof=b["proof"].replace(*_size_line(b["proof"])))), document, ""),
        "a checkpoint signed by another key": (data, document, "not signed by a trusted key"),
    }
    impostor = [generate(read_key_file(app.settings.audit_signing_key).signers[0].name).public]
    for what, (bad, doc, reason) in refusals.items():
        use = impostor if what == "a checkpoint signed by another key" else log_keys
        with pytest.raises(ProofError) as refused:
            check_file(bad, use, document=doc)
        message = str(refused.value)
        assert "\n" not in message and reason in message, (what, message)


def _flip_first_hash(bundle_json: dict[str, Any]) -> None:
    lines = bundle_json["proof"].split("\n")
    lines[2] = ("A" if lines[2][0] != "A" else "B") + lines[2][1:]  # after the index line
    bundle_json["proof"] = "\n".join(lines)


def _size_line(proof: str) -> tuple[str, str]:
    """The checkpoint's tree-size line, and the same line for one leaf more."""
    lines = proof.split("\n\n", 1)[1].split("\n")
    return f"\n{lines[1]}\n", f"\n{int(lines[1]) + 1}\n"


def test_a_proof_for_another_checkpoint_size_is_refused(app: Zhibao,
                                                        submitted: dict[str, Any]) -> None:
    """The audit path of one checkpoint put under another (signed, real) checkpoint."""
    town = submitted["cascade"][TOWN]
    position = submission_position(app, TOWN, "2021-03", 1)
    older, newer = json.loads(town.files[-1].read_bytes()), json.loads(bundle(app, position))
    older["proof"] = older["proof"].split("\n\n", 1)[0] + "\n\n" + \
        newer["proof"].split("\n\n", 1)[1]
    with pytest.raises(ProofError, match=r"another tree size|is not leaf"):
        check_bundle(json.dumps(older).encode(), submitted["keys"])


# witnesses


def test_a_forked_log_shown_to_two_witnesses_is_found_when_they_compare(
        app: Zhibao, submitted: dict[str, Any], tmp_path: Path) -> None:
    """The log's operator (holding the key) rewrites history and re-signs: witness A saw the
    old checkpoint and refuses the new one; witness B only ever saw the fork. When they
    compare, the fork shows."""
    log_keys = submitted["keys"]
    honest = newest_checkpoint(app)
    assert honest is not None
    a = FileWitness(tmp_path / "a.json", log_keys)
    a.accept_proof(consistency(app, honest.size))

    raw = RawStore(app)
    case = next(s for s in app.recorder.select_notifications(start=1, limit=10_000)
                if s.topic.endswith("FineImposed"))
    raw.rewrite_and_rechain(case.originator_id, case.originator_version, b'"amount_fen"',
                            b'"amount_fen":1,"x"')
    raw.delete(AUDIT_TRAIL_ID)
    raw.clear_tree()
    raw.conn.close()
    anchors_path(app.settings).unlink()
    world = submitted["world"]
    for number in range(5):  # the forked log grows on
        world.do("ReportHazard", "town", hazard_id=uuid4(),
                 enterprise_id=world.enterprises["shop"], channel="supervisory_inspection",
                 discovered_at="2021-04-05T10:00", description=f"F{number}",
                 category="unsafe_condition")
    forked = take_checkpoint(app)
    assert forked is not None and forked.size > honest.size

    b = FileWitness(tmp_path / "b.json", log_keys)
    b.accept_proof(consistency(app, forked.size))  # B has seen only the fork
    with pytest.raises(ForkDetected, match="does not extend"):
        a.accept_proof(consistency(app, anchor_from_text("A's copy", honest.note)))
    with pytest.raises(ForkDetected, match="fork alarm raised before"):
        a.accept_proof(consistency(app, forked.size))  # it stops trusting the log
    mine, theirs = a.latest(honest.origin), b.latest(honest.origin)
    assert mine is not None and theirs is not None
    proof = [base64.b64decode(h) for h in json.loads(consistency(
        app, anchor_from_text("A's copy", mine.note)))["proof"]]
    with pytest.raises(ForkDetected, match="do not agree"):
        compare(mine, theirs, proof)


def test_a_city_cosigns_its_countys_checkpoint_and_a_bundle_carries_it(
        app: Zhibao, submitted: dict[str, Any], tmp_path: Path) -> None:
    log_keys = submitted["keys"]
    city_key = generate("city.ankang.example/witness", COSIGNATURE)
    write_key_files(city_key, tmp_path / "city.key")
    city = FileWitness(tmp_path / "city.json", log_keys, city_key)
    newest = newest_checkpoint(app)
    assert newest is not None
    cosigned = city.accept_proof(consistency(app, newest.size))
    assert cosigned.note.count("\n— ") == 2
    proof = bundle(app, submission_position(app, TOWN, "2021-03"), cosigned.note)
    verified = check_bundle(proof, log_keys, [city_key.public])
    assert city_key.public.label in verified.checkpoint.signed_by
    with pytest.raises(ProofError, match="not cosigned by the witness"):
        check_bundle(bundle(app, submission_position(app, TOWN, "2021-03")), log_keys,
                     [city_key.public])
    again = cosign(cosigned.note, city_key, 1)  # a cosignature is over the checkpoint body
    assert read_checkpoint(again, log_keys).size == newest.size


def test_witnesses_that_saw_the_same_checkpoints_agree(app: Zhibao,
                                                      submitted: dict[str, Any]) -> None:
    newest = newest_checkpoint(app)
    assert newest is not None
    one = Accepted(newest.origin, newest.size, newest.root, newest.note)
    older = check_bundle(submitted["cascade"][TOWN].files[-1].read_bytes(), submitted["keys"])
    other = Accepted(older.checkpoint.origin, older.checkpoint.size, older.checkpoint.root,
                     older.checkpoint.note)
    proof = [base64.b64decode(h) for h in json.loads(consistency(
        app, anchor_from_text("other", other.note)))["proof"]]
    compare(one, other, proof)
    with pytest.raises(ForkDetected):
        compare(one, other, [])


def test_processes_taking_checkpoints_at_once_leave_one_consistent_log(
        app: Zhibao, clock: FakeClock, signed: Path) -> None:
    """Two writers catch the tree up and sign side by side: the tree is appended once per
    leaf (a loser of the race goes on from what the other stored), at most one of two
    checkpoints of the same trail version is recorded, and the store verifies."""
    from concurrent.futures import ThreadPoolExecutor

    from infra.audit.integrity import verify
    from infra.intake.unit_of_work import ConflictError
    from tests.conftest import open_app

    build_march(app, clock)
    others = [open_app(app.settings.database_url, clock, app.settings.output_dir)
              for _ in range(3)]
    for other in others:
        other.settings = app.settings

    def attempt(other: Zhibao) -> str:
        try:
            return "signed" if take_checkpoint(other) else "nothing new"
        except ConflictError:
            return "conflict"

    try:
        with ThreadPoolExecutor(3) as pool:
            outcomes = list(pool.map(attempt, others))
    finally:
        for other in others:
            other.close()
    assert "signed" in outcomes
    result = verify(app)
    assert result.ok, result.first_break
    assert MerkleTree(app.recorder).size() == result.tree_size
