"""The reference documents generated from the code, so every code an error cites and every
figure a form shows is explained where the code defines it:

- docs/rules.md — every rule a rejection can cite (`domain/rules.py` RULES);
- docs/metrics.md — every figure of the statistical report form and of the national table
  (`projections/catalogue.py`), with how it is computed.

`python -m infra.ops.docs` rewrites them; a test fails when a committed one is stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

from domain.base import Level
from domain.rules import RULES
from projections.catalogue import CATALOGUE, NATIONAL_TABLE, Metric, Rate

DOCS = Path(__file__).resolve().parents[2] / "docs"
COLUMNS = {"month": "本月 / 本季 / 本年", "cumulative": "累计", "at_end": "期末",
           "year": "本年累计"}
KINDS = {"count": "count", "sum": "sum of", "distinct": "distinct"}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def rules_markdown() -> str:
    lines = [
        "# Rule codes",
        "",
        "Generated from `domain/rules.py` (`python -m infra.ops.docs`); a test fails when it "
        "is stale. A refusal names the field and one of these codes, e.g. `deadline: "
        "2021-02-01 must be after the discovery date 2021-03-01 (V1)`. V1–V29 are the "
        "validation rules of DOMAIN.md §12; the named ones are zhibao's own.",
        "",
        "| code | rule |",
        "| --- | --- |",
    ]
    lines += [f"| `{code}` | {_cell(rule)} |" for code, rule in RULES.items()]
    return "\n".join(lines) + "\n"


def _levels(levels: frozenset[Level]) -> str:
    return "all" if levels == frozenset(Level) else ", ".join(
        level.value for level in Level if level in levels)


def _definition(metric: Metric | Rate) -> str:
    if isinstance(metric, Rate):
        return f"{metric.numerator} / {metric.denominator} × 100"
    counted = f"`{metric.value}`" if metric.value else "rows"
    text = f"{KINDS[metric.kind]} {counted} of *{metric.family}*"
    if metric.when != "1 = 1":
        text += f" where `{metric.when}`"
    if metric.on:
        text += f"; in the period by `{metric.on}`"
    return text


def _rows(metrics: list[Metric | Rate]) -> list[str]:
    return [f"| `{m.code}` | {m.name} | {_cell(m.name_en)} | {m.measure} | "
            f"{', '.join(COLUMNS[c] for c in m.columns)} | "
            f"{_levels(m.levels)} | {_cell(_definition(m))} |" for m in metrics]


def metrics_markdown() -> str:
    header = ["| code | 名称 | meaning | unit | columns | levels | computed as |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    lines = [
        "# Metrics of the report forms",
        "",
        "Generated from `projections/catalogue.py` (`python -m infra.ops.docs`); a test "
        "fails when it is stale. Each metric counts, sums or counts distinct the rows of one "
        "family (hazards, the enterprise base, inspection visits, inspections, enforcement "
        "acts, measures) satisfying a condition, each row as it stood at the period end as "
        "known at the cut-off. Counts and sums add up the unit tree, distinct counts are "
        "re-counted at each level, rates are recomputed from the rolled-up numerator and "
        "denominator. Money is kept in integer fen (分) and shown in 万元.",
        "",
        "## 统计报表 — the statistical report form",
        "",
        *header,
        *_rows(list(CATALOGUE)),
        "",
        "## 工矿商贸企业安全生产事故隐患排查治理情况月报表 — the national table",
        "",
        "Evaluated per industry and in total, from 1 January of the report year to the "
        "period end.",
        "",
        *header,
        *_rows([metric for _, metric in NATIONAL_TABLE]),
    ]
    return "\n".join(lines) + "\n"


DOCUMENTS = {"rules.md": rules_markdown, "metrics.md": metrics_markdown}


def main() -> None:
    for name, render in DOCUMENTS.items():
        (DOCS / name).write_text(render(), encoding="utf-8")
        print(f"wrote docs/{name}", file=sys.stderr)


if __name__ == "__main__":
    main()
