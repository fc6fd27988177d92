"""Every rejection carries a rule code from `domain.rules.RULES` — what code and tests match
on, never the wording. Read from the source: each `DomainError(...)` and `require(...)` in
the application names its code, as a literal from the table or passed on from an error."""

from __future__ import annotations

import ast
from pathlib import Path

from domain.rules import RULES

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("domain", "projections", "infra", "flows")
ARITY = {"DomainError": 3, "require": 4}  # where the code stands among the arguments


def rejections() -> list[tuple[str, ast.Call]]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                        and node.func.id in ARITY:
                    found.append((f"{path.relative_to(ROOT)}:{node.lineno}", node))
    return found


def code_of(call: ast.Call) -> ast.expr | None:
    keyword = next((k.value for k in call.keywords if k.arg == "code"), None)
    position = ARITY[call.func.id] - 1  # type: ignore[attr-defined]
    return keyword or (call.args[position] if len(call.args) > position else None)


def test_every_rejection_names_a_rule_code_of_the_table():
    calls = rejections()
    assert len(calls) > 200  # the scan found the application's rejections
    missing = [where for where, call in calls if code_of(call) is None]
    unknown = [(where, code.value) for where, call in calls
               if isinstance(code := code_of(call), ast.Constant) and code.value not in RULES]
    assert missing == [] and unknown == []

