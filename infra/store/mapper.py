"""How domain events become stored records and back: sorted-key JSON sealed into the hash
chain of `infra.store.records`, decoded into typed events with pydantic."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import EventStore, Mapper, Recording, StoredEvent, Transcoder
from eventsourcing.utils import get_topic, resolve_topic
from pydantic import TypeAdapter

from domain.base import DomainError
from infra.store.records import GENESIS, chain_hash, pack_record, unpack_record


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

    def __init__(self, *args: Any, heads_cache_size: int = 100_000,
                 max_event_bytes: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_event_bytes = max_event_bytes
        self._adapters: dict[type, TypeAdapter[Any]] = {}
        self._heads: OrderedDict[UUID, tuple[int, str]] = OrderedDict()
        self._heads_cache_size = heads_cache_size

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        topic = get_topic(type(domain_event))
        state = dict(vars(domain_event))
        originator_id = state.pop("originator_id")
        version = state.pop("originator_version")
        payload = self.transcoder.encode(state)
        if self.max_event_bytes is not None and len(payload) > self.max_event_bytes:
            raise DomainError("command", f"its {topic.rpartition('.')[2]} event would be "
                                         f"{len(payload):,} bytes, more than an event may be "
                                         f"({self.max_event_bytes:,}, ZHIBAO_MAX_EVENT_BYTES)",
                              "BOUND-EVENT")
        prev = GENESIS if version == 1 else self.head(originator_id, version - 1)
        digest = chain_hash(prev, originator_id, version, topic, payload)
        self.remember(originator_id, version, digest)
        return StoredEvent(originator_id=originator_id, originator_version=version, topic=topic,
                           state=pack_record(prev, digest, payload))

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        _, digest, payload = unpack_record(stored_event.state)
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
                                     unpack_record(stored.state)[1])
