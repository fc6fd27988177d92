"""The scheduled Parquet export: a Prefect flow around `infra.export.parquet.export_parquet`
scheduled hourly by default (`ZHIBAO_EXPORT_CRON`, Asia/Shanghai; see `flows.deployments`).

Each run exports what was recorded since the last one into `ZHIBAO_OUTPUT_DIR/parquet`; one
run at a time (the deployment's concurrency limit, and a lock in the export directory).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger

from infra.export.parquet import export_parquet
from infra.intake.service import Zhibao
from infra.settings import get_settings


@flow(name="parquet-export")
def parquet_export(directory: str | None = None) -> dict[str, Any]:
    """Export the events recorded since the last run; returns the run's summary."""
    settings = get_settings()
    target = Path(directory) if directory else settings.output_dir / "parquet"
    app = Zhibao(settings)
    try:
        result = export_parquet(app, target)
    finally:
        app.close()
    summary = {"directory": str(target), "run": result.run, "after": result.after,
               "through": result.through, "events": result.events,
               "files": len(result.files), "rows": sum(f.rows for f in result.files)}
    get_run_logger().info("parquet export: %s", summary)
    return summary

