"""Prefect flows composing `infra.reporting`: the monthly report cascade (village → town →
county → city, one task per level, each level after the one below) and the daily overdue
sweep. Their schedules, with those of the Parquet export and the store audit, are in
`flows.deployments`.

Run once, now: `zhibao flows run cascade --period 2021-03` (Prefect's ephemeral mode, no
server needed). On a schedule: `zhibao flows serve`. Prefect's ephemeral mode runs no
scheduler, so `flow.serve(cron=...)` against it would never start a run: serving needs a
real Prefect server —

    prefect server start                                    # in another terminal, or a host
    export PREFECT_API_URL=http://127.0.0.1:4200/api
    zhibao flows serve

Schedules come from `ZHIBAO_CASCADE_CRON`, `ZHIBAO_OVERDUE_CRON`, `ZHIBAO_EXPORT_CRON` and
`ZHIBAO_AUDIT_CRON`, read in Asia/Shanghai, and `ZHIBAO_QUARTERLY_CASCADE_CRON` and
`ZHIBAO_ANNUAL_CASCADE_CRON` for the quarterly and annual cascades; a scheduled cascade
reports the month (quarter, year) before the day it runs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NONE

from domain.base import Level
from domain.periods import Period, PeriodKind
from infra.intake.service import Zhibao
from infra.reporting.reporter import CASCADE_LEVELS, Reporter, Submitted, open_views, sweep_overdue
from infra.settings import Settings, get_settings
from projections.store import ViewStore


def previous_period(now: datetime, kind: str = "month") -> str:
    """The month, quarter or year before the one `now` falls in (Asia/Shanghai)."""
    return str(Period.containing(now, PeriodKind(kind)).previous())


def _open(database_url: str | None) -> Zhibao:
    return Zhibao(get_settings() if database_url is None
                  else Settings(database_url=database_url))


def summary(done: Submitted) -> dict[str, Any]:
    """A unit's submission as recorded: its version, whether this run recorded it (submitted
    or amended) or found it unchanged, 迟报 (late) and the children missing (漏报)."""
    status = "unchanged" if done.unchanged else ("submitted" if done.version == 1
                                                 else "amended")
    return {"unit_code": done.unit_code, "unit_name": done.unit_name,
            "level": done.level.value, "version": done.version, "status": status,
            "late": done.late, "sha256": done.sha256,
            "missing_children": list(done.missing_children)}


@task(cache_policy=NONE, task_run_name="assemble {level}")
def assemble_level(reporter: Reporter, period: str, level: str) -> list[dict[str, Any]]:
    done = [summary(s) for s in reporter.cascade(period, levels=(Level(level),))]
    get_run_logger().info("%s: %d submissions for %s", level, len(done), period)
    return done


@flow(name="zhibao-report-cascade")
def cascade_flow(period: str | None = None, database_url: str | None = None,
                 kind: str = "month") -> list[dict[str, Any]]:
    """Every unit's submission for `period` (default: the previous month, quarter or year,
    by `kind`), bottom-up."""
    app = _open(database_url)
    views = open_views(app)
    try:
        period = period or previous_period(app.clock(), kind)
        reporter = Reporter(app, views)
        done: list[dict[str, Any]] = []
        for level in CASCADE_LEVELS:
            done.extend(assemble_level(reporter, period, level.value))
        return done
    finally:
        views.close()
        app.close()


@task(cache_policy=NONE)
def sweep(app: Zhibao, views: ViewStore) -> int:
    return sweep_overdue(app, views)


@flow(name="zhibao-overdue-sweep")
def overdue_flow(database_url: str | None = None) -> int:
    """Record the hazards that became overdue (once per deadline)."""
    app = _open(database_url)
    views = open_views(app)
    try:
        recorded = sweep(app, views)
        get_run_logger().info("%d hazards recorded overdue", recorded)
        return recorded
    finally:
        views.close()
        app.close()
