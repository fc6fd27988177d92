"""The export and the report writer in a directory others can write to (issue 10 §5), on
both stores: a symbolic link planted where they write is refused, not followed; a file
they did not write is neither deleted nor overwritten; and what they leave is only what
their manifest names."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from infra.export.columns import dataset_name
from infra.export.manifest import MANIFEST, ExportError, read_manifest
from infra.export.parquet import LOCK, export_parquet
from infra.intake.service import Zhibao
from infra.reporting.reporter import write_submission_files
from tests.conftest import FakeClock
from tests.support.ledger_world import Ledger, build_ledger, general_hazard

VICTIM = b"a file of someone else's that must stay as it is\n"


@pytest.fixture
def ledger(app: Zhibao, clock: FakeClock) -> Ledger:
    return build_ledger(app, clock, general=2)


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    path = tmp_path / "victim.txt"
    path.write_bytes(VICTIM)
    return path


def exported_once(app: Zhibao, ledger: Ledger, clock: FakeClock, out: Path) -> None:
    """One export, then new events for the next run to write."""
    export_parquet(app, out)
    clock.advance(days=20)
    general_hazard(ledger.world, clock, "chem", 20)


def test_a_lock_planted_as_a_link_is_refused_not_truncated(app, ledger, clock, tmp_path,
                                                           victim):
    out = tmp_path / "export"
    exported_once(app, ledger, clock, out)
    (out / LOCK).unlink()
    (out / LOCK).symlink_to(victim)
    manifest = (out / MANIFEST).read_bytes()
    with pytest.raises(OSError, match="symbolic link"):
        export_parquet(app, out)
    assert victim.read_bytes() == VICTIM
    assert (out / MANIFEST).read_bytes() == manifest


def test_links_planted_at_the_manifest_names_are_not_written_through(app, ledger, clock,
                                                                     tmp_path, victim):
    out = tmp_path / "export"
    exported_once(app, ledger, clock, out)
    (out / f"{MANIFEST}.tmp").symlink_to(victim)  # the name older releases wrote through
    export_parquet(app, out)
    assert victim.read_bytes() == VICTIM

    (out / MANIFEST).unlink()
    (out / MANIFEST).symlink_to(victim)
    with pytest.raises(ExportError, match="symbolic link"):
        export_parquet(app, out)
    assert victim.read_bytes() == VICTIM


def test_a_users_file_named_like_a_part_file_is_never_deleted_or_replaced(app, ledger, clock,
                                                                          tmp_path):
    out = tmp_path / "export"
    exported_once(app, ledger, clock, out)
    partition = next((out / entry.path).parent for entry in read_manifest(out).files
                     if entry.dataset == dataset_name("HazardReported"))
    own = partition / "part-000009-0000.parquet"  # a name the export might have used
    own.write_bytes(VICTIM)
    next_run = partition / "part-000002-0000.parquet"  # the very name the next run uses
    next_run.write_bytes(VICTIM)

    with pytest.raises(ExportError, match="was not written by this export"):
        export_parquet(app, out)
    assert own.read_bytes() == VICTIM and next_run.read_bytes() == VICTIM
    assert not list(out.rglob("*.tmp"))  # its temporaries are removed by the next run …
    next_run.unlink()
    export_parquet(app, out)
    assert own.read_bytes() == VICTIM  # … and what it did not write stays
    assert read_manifest(out).pending is None


def test_a_partition_folder_replaced_by_a_link_is_refused(app, ledger, clock, tmp_path):
    out = tmp_path / "export"
    exported_once(app, ledger, clock, out)
    partition = next((out / entry.path).parent for entry in read_manifest(out).files
                     if entry.dataset == dataset_name("HazardReported"))
    elsewhere = tmp_path / "elsewhere"
    partition.rename(elsewhere)
    partition.symlink_to(elsewhere, target_is_directory=True)
    before = sorted(p.name for p in elsewhere.iterdir())
    with pytest.raises(OSError, match="symbolic link"):
        export_parquet(app, out)
    assert sorted(p.name for p in elsewhere.iterdir()) == before


def test_the_report_writer_follows_no_planted_link(tmp_path, victim):
    """Every submission's files are written by `write_submission_files`."""
    out = tmp_path / "out"
    folder = out / "reports" / "2021-03" / "610902"
    folder.mkdir(parents=True)
    (folder / "v1.json").symlink_to(victim)
    with pytest.raises(OSError, match="symbolic link"):
        write_submission_files(out, folder, "v1", {".json": b"{}", ".pdf": b"%PDF"})
    assert victim.read_bytes() == VICTIM

    (folder / "v1.json").unlink()
    written = write_submission_files(out, folder, "v1", {".json": b"{}", ".pdf": b"%PDF"})
    assert [p.name for p in written] == ["v1.json", "v1.pdf", "v1.sha256"]
    assert (folder / "v1.sha256").read_text().startswith(hashlib.sha256(b"{}").hexdigest())
    assert not list(folder.glob(".*"))  # no temporary left behind

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (out / "reports" / "2021-04").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(OSError, match="symbolic link"):
        write_submission_files(out, out / "reports" / "2021-04" / "610902", "v1",
                               {".json": b"{}"})
    assert not list(elsewhere.iterdir())
