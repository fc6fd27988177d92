"""The relay: every stored event, in store order, onto its county's topic.

It reads the notification log in batches after the acknowledged position, encodes each
event (infra/avro.py) and sends it keyed by aggregate id (one aggregate → one partition →
its order kept). Sending does not wait: while the producer delivers one batch the next is
encoded. As acknowledgements come in, the position of the longest acknowledged run of
events is recorded in the store's database — never anything beyond it. When the broker
is unreachable, paused or restarted, the relay logs why, drops its producer, waits
(exponential backoff) and resumes from the recorded position: nothing is lost or skipped,
and what was in flight may arrive twice — consumers de-duplicate by event id.

An event the broker can never take (larger than its limit) stops the relay with an error
naming the event, instead of retrying forever.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import Notification
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
from infra.kafka.avro import Codec, Encoded, EncodeError
from infra.kafka.client import Backoff, connection, discard, producer_config
from infra.kafka.positions import RelayPositions
from infra.kafka.topics import Router, create_topic
from infra.settings import Settings

log = logging.getLogger("zhibao.relay")

FATAL_ERRORS = (MessageSizeTooLargeError, RecordListTooLargeError, AuthorizationError,
                SaslAuthenticationFailedError)
"""Broker answers that no retry can change."""

InFlight = deque[tuple[Encoded, FutureRecordMetadata]]
"""Sends not yet known to be acknowledged, oldest (lowest position) first."""

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
                 on_progress: Callable[[RelayProgress], None] | None = None) -> None:
        self.app = app
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
        """Send batch after batch without waiting in between (the producer delivers one
        batch while the next is encoded); record what was acknowledged as it comes in."""
        router = self._router_at(self.progress.position)
        in_flight: InFlight = deque()
        sent_through = self.progress.position
        batch_size = self.settings.relay_batch_size
        while not self.stop.is_set():
            self.progress.head = self.app.recorder.max_notification_id() or 0
            notifications = self.app.recorder.select_notifications(
                start=sent_through, limit=batch_size, inclusive_of_start=False)
            if notifications:
                self._send_all(producer, admin, router, notifications, in_flight)
                sent_through = notifications[-1].id
                while len(in_flight) > 2 * batch_size:  # at most two batches unacknowledged
                    self._await_oldest(in_flight)
                if self._acknowledge(in_flight, settle=False):
                    backoff.reset()
            else:
                self._await(producer)
                self._acknowledge(in_flight, settle=True)
            self.on_progress(self.progress)
            if not notifications:
                if not follow:
                    return
                self.stop.wait(self.settings.relay_poll_seconds)

    def _router_at(self, position: int) -> Router:
        """The router, with every unit event up to `position` folded."""
        if self._router is None:
            self._router = Router(self.settings.kafka_topic_prefix)
            self._router.catch_up(self.app.recorder, self.app.mapper, position)
        return self._router

    def _send_all(self, producer: KafkaProducer, admin: KafkaAdminClient, router: Router,
                  notifications: Any, in_flight: InFlight) -> None:
        try:
            for notification in notifications:
                router.fold((notification,), self.app.mapper)
                encoded = self._encode(notification)
                topic = router.topic(encoded.unit_code)
                self._ensure_topic(admin, topic)
                in_flight.append((encoded, self._send(producer, topic, encoded)))
        except (KafkaError, RelayError):
            self._await(producer)  # record what was sent before the failing event
            self._acknowledge(in_flight, settle=True)
            raise

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

    def _encode(self, notification: Notification) -> Encoded:
        try:
            return self.codec.encode(notification)
        except EncodeError as e:
            raise RelayError(f"{e}; the relay stopped at position {self.progress.position}") \
                from e

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
