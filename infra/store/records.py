"""The stored record format every reader of the store shares (projections, the relay, the
audit, the export): each stored record's state is plain JSON a human can read with SQL:

    {"prev":"<64 hex>","hash":"<64 hex>","event":{...the event's fields...}}

`hash` is SHA-256 over the predecessor's hash in the same aggregate, the aggregate id, the
version, the event type (topic) and the exact event bytes, so altering, removing or
re-ordering a record breaks the chain (invariant 7). The header has a fixed width, so a
reader slices it without parsing JSON.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson

from domain.base import micros

GENESIS = "0" * 64
_PREV_AT = len(b'{"prev":"')
_HASH_AT = _PREV_AT + 64 + len(b'","hash":"')
_EVENT_AT = _HASH_AT + 64 + len(b'","event":')


def chained(prev: str, originator_id: UUID | str, version: int, topic: str,
            payload: bytes) -> bytes:
    """Exactly the bytes an event's chain hash covers; its Merkle leaf is its log position
    and these (`infra.audit.verifier.event_leaf`), so a verifier builds them once for both."""
    return f"{prev}\n{originator_id}\n{version}\n{topic}\n".encode() + payload


def chain_hash(prev: str, originator_id: UUID | str, version: int, topic: str,
               payload: bytes) -> str:
    return hashlib.sha256(chained(prev, originator_id, version, topic, payload)).hexdigest()


def pack_record(prev: str, digest: str, payload: bytes) -> bytes:
    """The stored state: the chain header around the event's JSON."""
    return b'{"prev":"%s","hash":"%s","event":%s}' % (prev.encode(), digest.encode(), payload)


class DamagedRecord(ValueError):
    """A stored state that is no record at all (NULL, cut short): the store was damaged
    or tampered with outside zhibao; `zhibao audit verify` says where."""


def _state_bytes(state: bytes | None) -> bytes:
    if state is None or len(state) <= _EVENT_AT:
        raise DamagedRecord("a stored event's record is empty or cut short: the store was "
                            "altered outside zhibao (run `zhibao audit verify`)")
    return bytes(state)


def unpack_record(state: bytes) -> tuple[str, str, bytes]:
    """Split a stored state into (prev hash, hash, event bytes) without parsing JSON."""
    state = _state_bytes(state)
    return (state[_PREV_AT:_PREV_AT + 64].decode(), state[_HASH_AT:_HASH_AT + 64].decode(),
            state[_EVENT_AT:-1])


def event_payload(state: bytes) -> dict[str, Any]:
    """The event's fields as plain JSON values (what projections and exports fold)."""
    return orjson.loads(_state_bytes(state)[_EVENT_AT:-1])


def event_type(topic: str) -> str:
    """`domain.hazards:Hazard.HazardReported` → `HazardReported`."""
    return topic.rpartition(".")[2]


def iso_micros(text: str) -> int:
    """An instant stored as ISO text (an event's `occurred_at` and `timestamp`) as integer
    microseconds since the epoch, the one form records, views, Avro and Parquet keep."""
    return micros(datetime.fromisoformat(text))
