"""Persistence wiring: how events become stored records, and which database holds them.

Each stored record's state is plain JSON a human can read with SQL:

    {"prev":"<64 hex>","hash":"<64 hex>","event":{...the event's fields...}}

`hash` is SHA-256 over the predecessor's hash in the same aggregate, the aggregate id, the
version, the event type (topic) and the exact event bytes, so altering, removing or
re-ordering a record breaks the chain (invariant 7). The header has a fixed width, so a
verifier slices it without parsing JSON.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Sequence
from contextlib import closing
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit
from uuid import UUID

import orjson
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import EventStore, Mapper, Recording, StoredEvent, Transcoder
from eventsourcing.utils import get_topic, resolve_topic
from pydantic import TypeAdapter

GENESIS = "0" * 64
_PREV_AT = len(b'{"prev":"')
_HASH_AT = _PREV_AT + 64 + len(b'","hash":"')
_EVENT_AT = _HASH_AT + 64 + len(b'","event":')


def chain_hash(prev: str, originator_id: UUID | str, version: int, topic: str,
               payload: bytes) -> str:
    head = f"{prev}\n{originator_id}\n{version}\n{topic}\n".encode()
    return hashlib.sha256(head + payload).hexdigest()


def seal(prev: str, digest: str, payload: bytes) -> bytes:
    return b'{"prev":"%s","hash":"%s","event":%s}' % (prev.encode(), digest.encode(), payload)


def unseal(state: bytes) -> tuple[str, str, bytes]:
    """Split a stored state into (prev hash, hash, event bytes) without parsing JSON."""
    state = bytes(state)
    return (state[_PREV_AT:_PREV_AT + 64].decode(), state[_HASH_AT:_HASH_AT + 64].decode(),
            state[_EVENT_AT:-1])


def event_payload(state: bytes) -> dict[str, Any]:
    """The event's fields as plain JSON values (what projections and exports fold)."""
    return orjson.loads(bytes(state)[_EVENT_AT:-1])


def event_type(topic: str) -> str:
    """`domain.hazards:Hazard.HazardReported` → `HazardReported`."""
    return topic.rpartition(".")[2]


class OrjsonTranscoder(Transcoder):
    """Sorted-key JSON: the same event always encodes to the same bytes."""

    def encode(self, obj: Any) -> bytes:
        return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)

    def decode(self, data: bytes) -> Any:
        return orjson.loads(data)


class ChainedMapper(Mapper[UUID]):
    """Encodes events as sorted-key JSON (orjson) sealed into the hash chain, and decodes
    them into typed domain events with pydantic.

    It remembers the newest hash it has seen per aggregate (bounded), so continuing a
    chain right after loading or saving an aggregate costs no extra read.
    """

    def __init__(self, *args: Any, heads_cache_size: int = 100_000, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._adapters: dict[type, TypeAdapter[Any]] = {}
        self._heads: OrderedDict[UUID, tuple[int, str]] = OrderedDict()
        self._heads_cache_size = heads_cache_size

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        topic = get_topic(type(domain_event))
        state = dict(vars(domain_event))
        originator_id = state.pop("originator_id")
        version = state.pop("originator_version")
        payload = self.transcoder.encode(state)
        prev = GENESIS if version == 1 else self.head(originator_id, version - 1)
        digest = chain_hash(prev, originator_id, version, topic, payload)
        self.remember(originator_id, version, digest)
        return StoredEvent(originator_id=originator_id, originator_version=version, topic=topic,
                           state=seal(prev, digest, payload))

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        _, digest, payload = unseal(stored_event.state)
        self.remember(stored_event.originator_id, stored_event.originator_version, digest)
        cls = resolve_topic(stored_event.topic)
        fields = self.transcoder.decode(payload)
        fields["originator_id"] = stored_event.originator_id
        fields["originator_version"] = stored_event.originator_version
        return self._adapter(cls).validate_python(fields)

    def _adapter(self, cls: type) -> TypeAdapter[Any]:
        adapter = self._adapters.get(cls)
        if adapter is None:
            adapter = self._adapters[cls] = TypeAdapter(cls)
        return adapter

    def head(self, originator_id: UUID | str, version: int) -> str:
        """The hash of `version` of the aggregate; KeyError if not remembered."""
        known = self._heads.get(originator_id)  # type: ignore[call-overload]
        if known is None or known[0] != version:
            raise KeyError((originator_id, version))
        return known[1]

    def remember(self, originator_id: UUID | str, version: int, digest: str) -> None:
        self._heads[originator_id] = (version, digest)  # type: ignore[index]
        self._heads.move_to_end(originator_id)  # type: ignore[arg-type]
        if len(self._heads) > self._heads_cache_size:
            self._heads.popitem(last=False)

    def forget(self, originator_ids: set[UUID]) -> None:
        for originator_id in originator_ids:
            self._heads.pop(originator_id, None)


class ChainedEventStore(EventStore[UUID]):
    """Makes sure the mapper knows each chain's head before encoding new events: a head
    not remembered is read from the last stored record of that aggregate."""

    mapper: ChainedMapper

    def put(self, domain_events: Sequence[DomainEventProtocol[UUID]],
            **kwargs: Any) -> list[Recording[UUID]]:
        first_versions: dict[UUID, int] = {}
        for event in domain_events:
            first_versions.setdefault(event.originator_id, event.originator_version)
        for originator_id, version in first_versions.items():
            if version > 1:
                self._load_head(originator_id, version - 1)
        try:
            return super().put(domain_events, **kwargs)
        except Exception:
            self.mapper.forget(set(first_versions))
            raise

    def _load_head(self, originator_id: UUID, version: int) -> None:
        try:
            self.mapper.head(originator_id, version)
        except KeyError:
            for stored in self.recorder.select_events(originator_id, lte=version, desc=True,
                                                      limit=1):
                self.mapper.remember(originator_id, stored.originator_version,
                                     unseal(stored.state)[1])


def eventsourcing_env(database_url: str) -> dict[str, str]:
    """Translate `ZHIBAO_DATABASE_URL` into the eventsourcing library's settings."""
    url = urlsplit(database_url)
    if url.scheme == "sqlite":
        path = unquote(url.path[1:] if url.path.startswith("/") else url.path) or "zhibao.db"
        return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": path,
                "SQLITE_LOCK_TIMEOUT": "30"}
    if url.scheme in ("postgresql", "postgres"):
        query = parse_qs(url.query)
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": url.path.lstrip("/") or "postgres",
            "POSTGRES_HOST": url.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(url.port or 5432),
            "POSTGRES_USER": unquote(url.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(url.password or ""),
            "POSTGRES_SCHEMA": query.get("schema", ["public"])[0],
            "POSTGRES_POOL_SIZE": "4",
            "POSTGRES_LOCK_TIMEOUT": "10",
        }
    raise ValueError(f"ZHIBAO_DATABASE_URL: unsupported scheme {url.scheme!r} "
                     "(use sqlite:///PATH or postgresql://USER@HOST:PORT/DB)")


def prepare_sqlite_store(path: str) -> None:
    """Put the SQLite file into WAL mode before the library opens it. Processes opening a
    new file at the same moment race to switch it, and SQLite refuses the losers at once
    ("database is locked") instead of waiting, so the switch is retried briefly."""
    for delay in (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, None):
        try:
            with closing(sqlite3.connect(path, timeout=30)) as connection:
                connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or delay is None:
                raise
            time.sleep(delay)
