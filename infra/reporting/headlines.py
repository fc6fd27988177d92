"""What `zhibao demo` shows after building its city-year: the views projected, the cascade
run for the last month of the data, where the files are, and the cities' headline figures."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import orjson

from domain.base import Level
from domain.money import wan_yuan
from infra.intake.service import Zhibao
from infra.reporting.reporter import Reporter, catch_up, open_views

HEADLINES = ("A1", "A3", "B1", "B4", "C1", "C2r", "C3", "C6", "D2", "D3")


def report_last_month(app: Zhibao, period: str,
                      output_dir: Path | None = None) -> tuple[list[Path], list[tuple[str, str]]]:
    """Project, cascade `period`, and return the city-level files with the reports folder,
    and (figure, value) rows of each city's headline figures, ready to print."""
    views = open_views(app)
    try:
        catch_up(app, views)
        reporter = Reporter(app, views, output_dir)
        cities = [done for done in reporter.cascade(period) if done.level is Level.CITY]
    finally:
        views.close()
    paths = [reporter.output_dir / "reports" / period]
    rows: list[tuple[str, str]] = []
    for city in cities:
        paths.extend(city.files)
        document = orjson.loads(city.document.read_bytes())
        for figure in document["statistics"]:
            if figure["code"] in HEADLINES:
                rows.append((f"{city.unit_name} {figure['code']} {figure['name']}",
                             _shown(figure)))
    return paths, rows


def _shown(figure: dict[str, object]) -> str:
    """The figure as a reader expects it: the month's value, 累计 and 期末 beside it."""
    parts = []
    for column, label in (("month", "本月"), ("cumulative", "累计"), ("at_end", "期末")):
        value = figure.get(column)
        if column in figure:
            if value is None:
                text = "—"
            elif figure["measure"] == "%":
                text = f"{value}%"
            elif figure["measure"] == "分":
                text = f"{wan_yuan(Decimal(str(value))):.2f}万元"
            else:
                text = f"{value}"
            parts.append(f"{label} {text}")
    return "，".join(parts)
