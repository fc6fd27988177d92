"""The Avro codec per event vs bare fastavro on the same records: `schemaless_writer` /
`schemaless_reader` with the published schemas (logical types and all), nothing else.
Ours does more — JSON payload in, single-object header, envelope, `EventRecord` out — and
must reach ≥ 0.7 of the bare speed both ways.

The events are the demo store's (shared with the other benchmarks); the codec never touches
the database, so it is measured on the first store kind only.
"""

from __future__ import annotations

import gc
import json
from io import BytesIO
from typing import Any

from fastavro import parse_schema, schemaless_reader, schemaless_writer

from bench.bench_export import best_of, demo_store
from bench.harness import Result
from infra.intake.service import Zhibao
from infra.kafka.avro import HEADER_SIZE, Codec
from infra.settings import Settings
from infra.store.log import log_range
from schemas.generate import EVENTS_DIR

TARGET = 0.7


def run(stores: list[str]) -> list[Result]:
    app = Zhibao(Settings(database_url=demo_store(stores[0])))
    try:
        notifications = [n for page in log_range(app.recorder, 0) for n in page]
    finally:
        app.close()
    codec = Codec()
    schemas = {path.stem: parse_schema(json.loads(path.read_text()))
               for path in EVENTS_DIR.glob("*.avsc")}
    encoded = [codec.encode(n) for n in notifications]
    messages = [e.value for e in encoded]
    typed = [schemas[e.event_type] for e in encoded]
    records = [schemaless_reader(BytesIO(m[HEADER_SIZE:]), s) for m, s in zip(messages, typed,
                                                                               strict=True)]

    def bare_encode() -> list[bytes]:
        out = []
        for schema, record in zip(typed, records, strict=True):
            buffer = BytesIO()
            schemaless_writer(buffer, schema, record)
            out.append(buffer.getvalue())
        return out

    def bare_decode() -> list[Any]:
        return [schemaless_reader(BytesIO(m[HEADER_SIZE:]), s)
                for m, s in zip(messages, typed, strict=True)]

    gc.freeze()  # the inputs are static: neither side pays for the collector walking them
    try:
        (_, ours_encode), (_, peer_encode) = best_of(
            lambda: [codec.encode(n) for n in notifications], bare_encode)
        (_, ours_decode), (_, peer_decode) = best_of(
            lambda: [codec.decode(m) for m in messages], bare_decode)
    finally:
        gc.unfreeze()
    count = len(notifications)
    note = f"{count:,} demo events, {sum(map(len, messages)) / count:,.0f} bytes each"
    return [
        Result("codec encode (stored event → message)", count / ours_encode, "events/s",
               count / peer_encode, "fastavro schemaless_writer", TARGET, note),
        Result("codec decode (message → EventRecord)", count / ours_decode, "events/s",
               count / peer_decode, "fastavro schemaless_reader", TARGET, note),
    ]
