"""Every event type is either folded into the views or deliberately ignored — a new event
type cannot slip past the views unnoticed — and every operation names its table's columns."""

from __future__ import annotations

import pytest

from domain.event_types import event_classes
from projections import tables as t
from projections.fold import FOLDS, IGNORED, inserts, updates


def test_every_event_type_is_folded_or_explicitly_ignored():
    names = set(event_classes())
    assert names - FOLDS.keys() - IGNORED == set(), "neither folded nor listed in IGNORED"
    assert FOLDS.keys() & IGNORED == set(), "both folded and ignored"
    assert (FOLDS.keys() | IGNORED) - names == set(), "folds or ignores no such event type"


def test_an_operation_names_only_its_tables_columns_and_an_insert_starts_with_the_key():
    assert inserts(t.UNIT_CODES, "code unit_id").columns == ("code", "unit_id")
    assert inserts(t.ORGS).columns == t.ORGS.column_names
    with pytest.raises(ValueError, match="successor_code"):
        updates(t.UNIT_CODES, "ended_on successor_code")
    with pytest.raises(ValueError, match="key"):
        inserts(t.UNIT_CODES, "unit_id code")
