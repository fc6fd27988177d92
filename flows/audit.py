"""The scheduled audit: verify the whole store — against the newest checkpoints kept outside
it too (the anchors file under `ZHIBAO_OUTPUT_DIR`, the Parquet manifest) — check with a
consistency proof that the store's newest checkpoint extends the last one recorded outside
it, and only when all holds, sign a checkpoint of what is new. Daily by default
(`ZHIBAO_AUDIT_CRON`, Asia/Shanghai).

A broken link, a checkpoint missing from the store or a log that no longer extends what was
signed fails the flow run with the finding, so it shows up wherever Prefect runs are watched,
and nothing is signed over it.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger

from infra.audit.anchors import newest_anchors
from infra.audit.bundles import ProveError, consistency
from infra.audit.checkpoints import (
    TamperedError,
    newest_checkpoint,
    take_checkpoint,
    trusted_keys,
)
from infra.audit.integrity import describe, verify
from infra.audit.keys import KeyFileError
from infra.audit.verifier import ProofError, check_consistency
from infra.intake.service import Zhibao
from infra.settings import get_settings


class TamperDetected(Exception):
    """The store failed verification, or no longer extends a checkpoint kept outside it."""


@flow(name="store-audit")
def store_audit() -> dict[str, Any]:
    """Verify, prove the store extends what was kept outside, then sign a checkpoint."""
    app = Zhibao(get_settings())
    logger = get_run_logger()
    try:
        verification = verify(app)
        if not verification.ok:
            raise TamperDetected(f"first broken link: {verification.first_break}")
        extends = _extends_what_was_kept_outside(app)
        try:
            checkpoint = take_checkpoint(app)
        except (TamperedError, KeyFileError) as e:
            raise TamperDetected(str(e)) from None
    finally:
        app.close()
    summary = describe(verification) | {"extends": extends, "checkpoint": None if checkpoint
                                        is None else {"number": checkpoint.number,
                                                      "tree_size": checkpoint.size,
                                                      "root": checkpoint.root_b64,
                                                      "note": checkpoint.note}}
    logger.info("store audit: %s", summary)
    return summary


def _extends_what_was_kept_outside(app: Zhibao) -> list[str]:
    """Check, as an outside verifier would, the consistency proof from the newest checkpoint
    kept outside the store (per place) to the store's newest; what was checked."""
    newest = newest_checkpoint(app)
    if newest is None:
        return []
    keys = trusted_keys(app.settings)
    checked = []
    for anchor in newest_anchors(app.settings, newest.origin):
        try:
            proof = consistency(app, anchor, newest)
            if keys:
                check_consistency(proof, keys)
        except (ProveError, ProofError) as e:
            raise TamperDetected(f"against {anchor.source}: {e}") from None
        checked.append(f"{anchor.source}: {anchor.size:,} → {newest.size:,} leaves")
    return checked
