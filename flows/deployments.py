"""The schedule of every zhibao deployment: the monthly, quarterly and annual cascades
(DOMAIN §7.3) and the daily overdue sweep
(`flows.reporting`), the Parquet export (`flows.export`) and the store audit
(`flows.audit`), each on its configured cron in Asia/Shanghai, one run at a time.
"""

from __future__ import annotations

from typing import Any

from prefect import Flow
from prefect.deployments.runner import EntrypointType, RunnerDeployment
from prefect.schedules import Cron

from domain.base import SHANGHAI
from flows.audit import store_audit
from flows.export import parquet_export
from flows.reporting import cascade_flow, overdue_flow
from infra.settings import get_settings


def scheduled(flow_: Flow[..., Any], name: str, cron: str,
              parameters: dict[str, Any] | None = None) -> RunnerDeployment:
    """A deployment of `flow_` on `cron` (Asia/Shanghai), one run at a time: a cascade,
    export or audit still running when the next is due must not race it."""
    return flow_.to_deployment(
        name=name, concurrency_limit=1, entrypoint_type=EntrypointType.MODULE_PATH,
        schedules=[Cron(cron, timezone=SHANGHAI.key)], parameters=parameters or {})


def deployments() -> list[RunnerDeployment]:
    """Every scheduled zhibao flow, on its configured schedule."""
    settings = get_settings()
    return [
        scheduled(cascade_flow, "monthly", settings.cascade_cron),
        scheduled(cascade_flow, "quarterly", settings.quarterly_cascade_cron,
                  {"kind": "quarter"}),
        scheduled(cascade_flow, "annual", settings.annual_cascade_cron, {"kind": "year"}),
        scheduled(overdue_flow, "daily", settings.overdue_cron),
        scheduled(parquet_export, "parquet-export", settings.export_cron),
        scheduled(store_audit, "store-audit", settings.audit_cron),
    ]


def serve() -> None:
    """Serve every deployment until interrupted; refuses without a Prefect server."""
    from prefect import serve as prefect_serve
    from prefect.settings import PREFECT_API_URL

    if not PREFECT_API_URL.value():
        raise RuntimeError(
            "serving needs a Prefect server: start one (`prefect server start`) and set "
            "PREFECT_API_URL, e.g. http://127.0.0.1:4200/api")
    prefect_serve(*deployments())
