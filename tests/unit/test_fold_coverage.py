"""Every event type is either folded into the views or deliberately ignored — a new event
type cannot slip past the views unnoticed — and every fold writes whole, named rows."""

from __future__ import annotations

import pytest

from domain.event_types import event_classes
from projections import tables as t
from projections.fold import FOLDS, IGNORED


def test_every_event_type_is_folded_or_explicitly_ignored():
    names = set(event_classes())
    assert names - FOLDS.keys() - IGNORED == set(), "neither folded nor listed in IGNORED"
    assert FOLDS.keys() & IGNORED == set(), "both folded and ignored"
    assert (FOLDS.keys() | IGNORED) - names == set(), "folds or ignores no such event type"


def test_a_row_is_built_from_named_columns_and_a_wrong_name_is_refused():
    row = t.UNIT_CODES.row(code="610902", unit_id="u", valid_from="2000-01-01", rec=7)
    assert row == ("610902", "u", "2000-01-01", 7, None, None, None)
    with pytest.raises(KeyError, match="successor_code"):
        t.UNIT_CODES.row(code="610902", successor_code="610903")
