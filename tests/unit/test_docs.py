"""The reference documents generated from the code are current: every rule code a refusal
can cite and every figure of the forms is documented as the code defines it."""

from __future__ import annotations

import pytest

from domain.rules import RULES
from infra.ops.docs import DOCS, DOCUMENTS, metrics_markdown, rules_markdown
from projections.catalogue import CATALOGUE


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_the_committed_document_is_current(name: str):
    assert (DOCS / name).read_text(encoding="utf-8") == DOCUMENTS[name](), (
        f"docs/{name} is stale: python -m infra.ops.docs")


def test_every_rule_and_every_metric_is_documented():
    rules, metrics = rules_markdown(), metrics_markdown()
    assert all(f"| `{code}` |" in rules for code in RULES)
    assert all(f"| `{metric.code}` | {metric.name} |" in metrics for metric in CATALOGUE)
