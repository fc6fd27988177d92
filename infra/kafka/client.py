"""Client configuration from settings, shared by producer, consumer and admin client, so a
real cluster's security settings apply everywhere at once; and the pacing of reconnections."""

from __future__ import annotations

import threading
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaTimeoutError

from infra.settings import Settings


def connection(settings: Settings) -> dict[str, Any]:
    """Bootstrap servers, security protocol, SASL and TLS options for kafka-python."""
    config: dict[str, Any] = {
        "bootstrap_servers": [s.strip() for s in settings.kafka_bootstrap_servers.split(",")
                              if s.strip()],
        "security_protocol": settings.kafka_security_protocol,
        "request_timeout_ms": settings.kafka_request_timeout_ms,
        "bootstrap_timeout_ms": settings.kafka_request_timeout_ms,
        "reconnect_backoff_max_ms": int(settings.kafka_retry_max_seconds * 1000),
    }
    if settings.kafka_sasl_mechanism:
        config.update(sasl_mechanism=settings.kafka_sasl_mechanism,
                      sasl_plain_username=settings.kafka_sasl_username,
                      sasl_plain_password=settings.kafka_sasl_password)
    if settings.kafka_ssl_cafile:
        config["ssl_cafile"] = str(settings.kafka_ssl_cafile)
    return config


def producer_config(settings: Settings) -> dict[str, Any]:
    """Idempotent, acks from every in-sync replica, batched. A record is given up after one
    request timeout plus the linger, so an unreachable broker surfaces to the relay (which
    reconnects with backoff) instead of blocking it for minutes."""
    return {
        **connection(settings),
        "acks": "all",
        "enable_idempotence": True,
        "max_in_flight_requests_per_connection": 5,
        "linger_ms": settings.kafka_linger_ms,
        "batch_size": settings.kafka_batch_bytes,
        "max_request_size": settings.kafka_max_request_bytes,
        "delivery_timeout_ms": settings.kafka_request_timeout_ms + settings.kafka_linger_ms,
        "max_block_ms": settings.kafka_request_timeout_ms,
        "allow_auto_create_topics": False,
    }


class Backoff:
    """0.5 s, 1 s, 2 s … up to `cap`; back to the start after a success."""

    def __init__(self, cap: float, first: float = 0.5) -> None:
        self.first, self.cap, self.next = first, cap, first

    def wait(self, stop: threading.Event) -> float:
        delay = self.next
        self.next = min(self.cap, self.next * 2)
        stop.wait(delay)
        return delay

    def reset(self) -> None:
        self.next = self.first


def discard(producer: KafkaProducer) -> None:
    """Close a producer without waiting for what it has not delivered (the caller re-sends
    that). kafka-python's `close()` flushes first and raises when records are still
    pending — before it stops its I/O thread — so stop that thread ourselves then."""
    try:
        producer.close(timeout=0)
    except KafkaTimeoutError:
        producer._sender.force_close()  # the I/O thread fails the pending records and exits
        producer._sender.join(5)
        producer.close(timeout=0)
