"""The relay: every stored event, in store order, onto its county's topic.

It reads the notification log in pages after the acknowledged position, encodes each event
(`infra.kafka.pages`; a long backlog in a worker process) and sends it keyed by aggregate id
(one aggregate → one partition → its order kept). Sending does not wait: while the producer
delivers one page the next is encoded. As acknowledgements come in, the position of the
longest acknowledged run of events is recorded in the store's database — never anything
beyond it. When the broker is unreachable, paused or restarted, the relay logs why, drops
its producer, waits (exponential backoff) and resumes from the recorded position: nothing
is lost or skipped, and what was in flight may arrive twice — consumers de-duplicate by
event id.

An event the broker can never take (larger than its limit), or one that does not fit its
published schema, stops the relay with an error naming the event, instead of retrying
forever.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures.process import BrokenProcessPool
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass
from functools import partial

from kafka import KafkaAdminClient, KafkaProducer
from kafka.errors import (
    AuthorizationError,
    KafkaError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    SaslAuthenticationFailedError,
)
from kafka.producer.future import FutureRecordMetadata

from infra.intake.service import Zhibao
from infra.kafka.avro import Codec, Encoded
from infra.kafka.client import Backoff, connection, discard, producer_config
from infra.kafka.pages import EncodedPage, encode_in_worker, encode_range
from infra.kafka.positions import RelayPositions
from infra.kafka.topics import Router, create_topic
from infra.settings import Settings
from infra.store.databases import shared_by_processes
from infra.store.log import last_position, page_ranges
from infra.store.workers import in_workers

log = logging.getLogger("zhibao.relay")

FATAL_ERRORS = (MessageSizeTooLargeError, RecordListTooLargeError, AuthorizationError,
                SaslAuthenticationFailedError)
"""Broker answers that no retry can change."""

InFlight = deque[tuple[Encoded, FutureRecordMetadata]]
"""Sends not yet known to be acknowledged, oldest (lowest position) first."""

PARALLEL_FROM = 50_000
"""A backlog of at least this many positions is encoded by a worker process (starting it
costs ~1 s)."""
EVENT_TYPE_HEADER = "event-type"
FINGERPRINT_HEADER = "schema-fingerprint"


class RelayError(Exception):
    """The relay stopped on a problem an operator must fix; the message says which event."""


@dataclass
class RelayProgress:
    published: int = 0  # events acknowledged in this run
    position: int = 0  # last acknowledged store position
    head: int = 0  # newest store position seen
    retries: int = 0  # reconnections after a broker failure
    pages_in_workers: int = 0  # pages encoded by a worker process rather than here
    started: float = 0.0

    @property
    def lag(self) -> int:
        return max(0, self.head - self.position)

    @property
    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.published / elapsed if elapsed > 0 else 0.0


class Relay:
    def __init__(self, app: Zhibao, settings: Settings | None = None,
                 on_progress: Callable[[RelayProgress], None] | None = None,
                 parallel_from: int = PARALLEL_FROM) -> None:
        """`parallel_from`: the backlog, in positions, from which a worker process encodes
        (see `PARALLEL_FROM`)."""
        self.app = app
        self.parallel_from = parallel_from
        self.settings = settings or app.settings
        self.codec = Codec()
        self.positions = RelayPositions(app.recorder,  # type: ignore[arg-type]
                                        self.settings.kafka_topic_prefix)
        self.on_progress = on_progress or (lambda progress: None)
        self.progress = RelayProgress()
        self.stop = threading.Event()
        self._router: Router | None = None
        self._topics: set[str] = set()
        self._headers_by_type: dict[str, list[tuple[str, bytes]]] = {}

    def run(self, follow: bool = False) -> RelayProgress:
        """Publish up to the store's end (`follow`: keep publishing until `stop` is set)."""
        self.progress = RelayProgress(position=self.positions.load(), started=time.monotonic())
        backoff = Backoff(self.settings.kafka_retry_max_seconds)
        while not self.stop.is_set():
            try:
                with self._producer() as (producer, admin):
                    self._publish(producer, admin, follow, backoff)
                return self.progress
            except KafkaError as e:
                if isinstance(e, FATAL_ERRORS):
                    raise RelayError(f"the broker refused: {e}") from e
                self.progress.retries += 1
                log.warning("Kafka at %s failed (%s: %s); resuming from position %d after "
                            "%.1f s", self.settings.kafka_bootstrap_servers, type(e).__name__,
                            e, self.progress.position, backoff.next)
                backoff.wait(self.stop)
        return self.progress

    @contextmanager
    def _producer(self) -> Iterator[tuple[KafkaProducer, KafkaAdminClient]]:
        producer = KafkaProducer(**producer_config(self.settings))
        try:
            admin = KafkaAdminClient(**connection(self.settings))
        except BaseException:
            discard(producer)
            raise
        self._topics.clear()
        try:
            yield producer, admin
        finally:
            admin.close()
            discard(producer)  # what it did not deliver is re-sent from the position

    def _publish(self, producer: KafkaProducer, admin: KafkaAdminClient, follow: bool,
                 backoff: Backoff) -> None:
        """Send page after page without waiting in between (the producer delivers one page
        while the next is encoded); record what was acknowledged as it comes in."""
        router = self._router_at(self.progress.position)
        in_flight: InFlight = deque()
        sent_through = self.progress.position
        while not self.stop.is_set():
            self.progress.head = last_position(self.app.recorder)
            if self.progress.head > sent_through:
                with closing(self._pages(router, sent_through, self.progress.head)) as pages:
                    for page in pages:
                        self._send_all(producer, admin, router, page, in_flight)
                        sent_through = page.through
                        while len(in_flight) > 2 * self.settings.relay_batch_size:
                            self._await_oldest(in_flight)  # two pages unacknowledged at most
                        if self._acknowledge(in_flight, settle=False):
                            backoff.reset()
                        self.on_progress(self.progress)
                        if self.stop.is_set():
                            return
                continue
            self._settle(producer, in_flight)
            self.on_progress(self.progress)
            if not follow:
                return
            self.stop.wait(self.settings.relay_poll_seconds)

    def _pages(self, router: Router, after: int, head: int) -> Iterator[EncodedPage]:
        """The log up to `head` in pages, encoded: a backlog of `parallel_from` events or more
        by a worker process, the rest (or all, if the worker cannot start or dies) here."""
        page, url = self.settings.relay_batch_size, self.app.settings.database_url
        topics = frozenset(router.directory.topics)
        if head - after >= self.parallel_from and shared_by_processes(url):
            try:
                for shipped in in_workers(url, page_ranges(after, head, page),
                                          partial(encode_in_worker, topics), 1, 2):
                    encoded = EncodedPage.unshipped(shipped)
                    after = encoded.through
                    self.progress.pages_in_workers += 1
                    yield encoded
            except BrokenProcessPool as e:
                log.warning("the encoding worker failed (%s); encoding here from position %d",
                            e, after)
        for start, through in page_ranges(after, head, page):
            yield encode_range(self.app.recorder, self.codec, start, through, topics)

    def _router_at(self, position: int) -> Router:
        """The router, with every unit event up to `position` folded."""
        if self._router is None:
            self._router = Router(self.settings.kafka_topic_prefix)
            self._router.catch_up(self.app.recorder, self.app.mapper, position)
        return self._router

    def _send_all(self, producer: KafkaProducer, admin: KafkaAdminClient, router: Router,
                  page: EncodedPage, in_flight: InFlight) -> None:
        """Send a page's events, each routed by the unit events before it; a page cut short by
        an event that does not fit its schema stops the relay once the rest is settled."""
        units = deque(page.units)
        try:
            for encoded in page.events:
                while units and units[0].id <= encoded.position:
                    router.fold((units.popleft(),), self.app.mapper)
                topic = router.topic(encoded.unit_code)
                self._ensure_topic(admin, topic)
                in_flight.append((encoded, self._send(producer, topic, encoded)))
        except (KafkaError, RelayError):
            self._settle(producer, in_flight)  # record what was sent before the failing event
            raise
        if page.problem is not None:
            self._settle(producer, in_flight)
            raise RelayError(f"{page.problem}; the relay stopped at position "
                             f"{self.progress.position}")

    def _settle(self, producer: KafkaProducer, in_flight: InFlight) -> None:
        self._await(producer)
        self._acknowledge(in_flight, settle=True)

    def _acknowledge(self, in_flight: InFlight, settle: bool) -> int:
        """Record the position of the longest acknowledged run of sends from the oldest
        on; how many that was. A failed send raises (named, if no retry can help); with
        `settle`, so does a send still pending."""
        acknowledged = 0
        failure = None
        while in_flight:
            encoded, future = in_flight[0]
            if not future.is_done:
                failure = self._translate(encoded, None) if settle else None
                break
            if future.failed():
                failure = self._translate(encoded, future.exception)
                break
            in_flight.popleft()
            acknowledged += 1
            self.progress.position = encoded.position
        if acknowledged:
            self.positions.save(self.progress.position)
            self.progress.published += acknowledged
        if failure is not None:
            raise failure
        return acknowledged

    def _await_oldest(self, in_flight: InFlight) -> None:
        encoded, future = in_flight[0]
        with suppress(KafkaError):  # a failure is raised, naming the event, just below
            future.get(timeout=self._ack_timeout())
        if not future.is_done:
            raise self._translate(encoded, None)
        self._acknowledge(in_flight, settle=False)

    def _await(self, producer: KafkaProducer) -> None:
        """Wait for the acknowledgements, but not forever: a send neither acknowledged nor
        failed by then (the client can wedge after a broker pause) counts as failed."""
        with suppress(KafkaTimeoutError):  # the unacknowledged sends are found by the caller
            producer.flush(timeout=self._ack_timeout())

    def _ack_timeout(self) -> float:
        return (2 * self.settings.kafka_request_timeout_ms + self.settings.kafka_linger_ms) / 1000

    def _send(self, producer: KafkaProducer, topic: str,
              encoded: Encoded) -> FutureRecordMetadata:
        try:
            return producer.send(topic, key=encoded.aggregate_id.encode(), value=encoded.value,
                                 headers=self._headers(encoded))
        except FATAL_ERRORS as e:
            raise self._translate(encoded, e) from e

    def _headers(self, encoded: Encoded) -> list[tuple[str, bytes]]:
        """The same for every event of a type (and schema): made once."""
        headers = self._headers_by_type.get(encoded.event_type)
        if headers is None:
            headers = self._headers_by_type[encoded.event_type] = [
                (EVENT_TYPE_HEADER, encoded.event_type.encode()),
                (FINGERPRINT_HEADER, encoded.fingerprint.hex().encode())]
        return headers

    def _translate(self, encoded: Encoded, error: BaseException | None) -> Exception:
        """A refusal no retry can change becomes a RelayError naming the event."""
        if error is None:
            return KafkaTimeoutError(f"no acknowledgement for {encoded.describe()}")
        if isinstance(error, FATAL_ERRORS):
            return RelayError(
                f"{encoded.describe()} was refused: {type(error).__name__}: {error}. The "
                f"relay stopped at position {self.progress.position}; raise the brokers' "
                "message.max.bytes and ZHIBAO_KAFKA_MAX_REQUEST_BYTES, then run it again")
        return error if isinstance(error, Exception) else KafkaError(str(error))

    def _ensure_topic(self, admin: KafkaAdminClient, topic: str) -> None:
        if topic not in self._topics:
            create_topic(admin, topic, self.settings)
            self._topics.add(topic)
