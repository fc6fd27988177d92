"""The one event id (UUIDv5 of aggregate and version) that the store, the relay and the
export all stamp on an event: the hashlib shortcut is RFC 4122's `uuid5`."""

from __future__ import annotations

from uuid import uuid5

from hypothesis import given
from hypothesis import strategies as st

from domain.base import EVENT_ID_NAMESPACE, event_id, event_id_text


@given(st.uuids(), st.integers(min_value=1, max_value=2**40))
def test_the_event_id_is_the_rfc_4122_uuid5_of_aggregate_and_version(aggregate_id, version):
    expected = uuid5(EVENT_ID_NAMESPACE, f"{aggregate_id}/{version}")
    assert event_id_text(str(aggregate_id), version) == str(expected)
    assert event_id(aggregate_id, version) == expected
