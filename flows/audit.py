"""The scheduled audit: verify the whole store, and only when it is intact, seal what was
recorded since the last checkpoint. Daily by default (`ZHIBAO_AUDIT_CRON`, Asia/Shanghai).

A broken link fails the flow run with the finding, so it shows up wherever Prefect runs are
watched, and nothing is sealed over it.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger

from infra.audit.seal import describe, take_checkpoint, verify
from infra.intake.service import Zhibao
from infra.settings import get_settings


class TamperDetected(Exception):
    """The store failed verification."""


@flow(name="store-audit")
def store_audit(anchor: str | None = None) -> dict[str, Any]:
    """Verify (against `anchor` too, when given), then take a checkpoint."""
    app = Zhibao(get_settings())
    try:
        verification = verify(app, anchor)
        if not verification.ok:
            raise TamperDetected(f"first broken link: {verification.first_break}")
        checkpoint = take_checkpoint(app)
    finally:
        app.close()
    summary = describe(verification) | {"checkpoint": None if checkpoint is None else {
        "number": checkpoint.number, "through_position": checkpoint.through_position,
        "events": checkpoint.events, "anchor": checkpoint.anchor}}
    get_run_logger().info("store audit: %s", summary)
    return summary

