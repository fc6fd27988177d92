"""`/metrics` (Prometheus text format, via prometheus-client) and `/healthz` as ASGI apps,
for the HTTP server to mount or uvicorn to serve alone:

    from infra.ops.metrics import health_app, metrics_app
    api.mount("/metrics", metrics_app(settings))
    api.mount("/healthz", health_app(settings))

Each request reads health afresh (infra/ops/health.py), in a worker thread so the server's
event loop never waits on a database or a broker.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from anyio import to_thread
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.responses import JSONResponse, Response

from infra.ops.health import Health, Probe
from infra.settings import Settings

ASGIApp = Callable[[dict[str, Any], Callable[..., Awaitable[Any]], Callable[..., Awaitable[Any]]],
                   Awaitable[None]]


class HealthCollector(Collector):
    """The health figures as gauges, labelled by stage and county (`*`: every county)."""

    def __init__(self, probe: Probe) -> None:
        self.probe = probe

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield from metric_families(self.probe.read())


def metric_families(health: Health) -> Iterator[GaugeMetricFamily]:
    yield GaugeMetricFamily("zhibao_store_head", "Newest position in the event store's log",
                            value=health.head)
    labels = ["stage", "county"]
    families = {
        "position": GaugeMetricFamily("zhibao_stage_position", "Where the stage has got to "
                                      "(log position; consumers: summed partition offsets)",
                                      labels=labels),
        "behind": GaugeMetricFamily("zhibao_stage_events_behind",
                                    "Events the stage has yet to process", labels=labels),
        "oldest": GaugeMetricFamily("zhibao_stage_oldest_unprocessed_seconds",
                                    "How long the oldest unprocessed event has waited "
                                    "(0 when none waits)", labels=labels),
        "stalled": GaugeMetricFamily("zhibao_stage_stalled", "1 when the stage is stalled "
                                     "beyond ZHIBAO_STATUS_STALL_SECONDS or unreadable",
                                     labels=labels),
    }
    for stage in health.stages:
        key = [stage.stage, stage.scope]
        families["position"].add_metric(key, stage.position)
        families["behind"].add_metric(key, stage.behind)
        families["oldest"].add_metric(key, stage.oldest_seconds or 0)
        families["stalled"].add_metric(key, stage.stalled(health.stall_seconds))
    yield from families.values()
    if health.checkpoint_seconds is not None:
        yield GaugeMetricFamily("zhibao_checkpoint_age_seconds",
                                "Age of the newest signed checkpoint",
                                value=health.checkpoint_seconds)
        yield GaugeMetricFamily("zhibao_checkpoint_tree_size",
                                "Events the newest signed checkpoint covers",
                                value=health.checkpoint_size or 0)
    cascade = {
        "submitted": GaugeMetricFamily("zhibao_cascade_submitted", "Units that submitted the "
                                       "level's last cascaded period", labels=["level", "period"]),
        "late": GaugeMetricFamily("zhibao_cascade_late", "Units of the level that submitted "
                                  "late (迟报) in its last cascaded period",
                                  labels=["level", "period"]),
        "missing": GaugeMetricFamily("zhibao_cascade_missing", "Units of the level whose "
                                     "submission is missing (漏报) in its last cascaded period",
                                     labels=["level", "period"]),
    }
    for run in health.cascades:
        cascade["submitted"].add_metric([run.level, run.period], run.submitted)
        cascade["late"].add_metric([run.level, run.period], run.late)
        cascade["missing"].add_metric([run.level, run.period], run.missing)
    yield from cascade.values()


def metrics_app(settings: Settings | None = None) -> ASGIApp:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(HealthCollector(Probe(settings)))

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = await to_thread.run_sync(generate_latest, registry)
        await Response(body, media_type=CONTENT_TYPE_LATEST)(scope, receive, send)

    return app


def health_app(settings: Settings | None = None) -> ASGIApp:
    """200 and the figures as JSON when every stage keeps up; 503 when one is stalled, or
    when the store or the views cannot be read at all (the reason in `error`)."""
    probe = Probe(settings)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        try:
            answer = (await to_thread.run_sync(probe.read)).as_json()
        except Exception as e:  # whatever keeps the probe from reading is the answer
            answer = {"status": "unavailable", "error": f"{type(e).__name__}: {e}"}
        status = 200 if answer["status"] == "ok" else 503
        await JSONResponse(answer, status_code=status)(scope, receive, send)

    return app
