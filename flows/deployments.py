"""The schedule of every zhibao deployment: the monthly, quarterly and annual cascades
(DOMAIN §7.3) and the daily overdue sweep
(`flows.reporting`), the Parquet export (`flows.export`) and the store audit
(`flows.audit`), each on its configured cron in Asia/Shanghai, one run at a time.
"""

from __future__ import annotations

from contextlib import suppress
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


def _require_server(doing: str) -> None:
    from prefect.settings import PREFECT_API_URL

    if not PREFECT_API_URL.value():
        raise RuntimeError(
            f"{doing} needs a Prefect server: start one (`prefect server start`) and set "
            "PREFECT_API_URL, e.g. http://127.0.0.1:4200/api")


def serve() -> None:
    """Serve every deployment until interrupted; refuses without a Prefect server."""
    from prefect import serve as prefect_serve

    _require_server("serving")
    prefect_serve(*deployments())


def deploy(pool: str) -> list[str]:
    """Register every deployment with the Prefect server for `pool`, a process work pool
    (created when missing); returns their names. The server's scheduler then creates their
    runs and `prefect worker start --pool POOL` runs each in a process of its own — the
    production set-up (deploy/), where a worker restarts on its own and more workers on
    other hosts share the pool, instead of one `zhibao flows serve` holding every schedule."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists

    _require_server("deploying")
    with get_client(sync_client=True) as client, suppress(ObjectAlreadyExists):
        client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
    names = []
    for deployment in deployments():
        deployment.apply(work_pool_name=pool)
        names.append(deployment.full_name)
    return names
