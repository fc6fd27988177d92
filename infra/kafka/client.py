"""Client configuration from settings, shared by producer, consumer and admin client, so a
real cluster's security settings apply everywhere at once."""

from __future__ import annotations

from typing import Any

from infra.settings import Settings


def connection(settings: Settings) -> dict[str, Any]:
    """Bootstrap servers, security protocol, SASL and TLS options for kafka-python."""
    config: dict[str, Any] = {
        "bootstrap_servers": [s.strip() for s in settings.kafka_bootstrap_servers.split(",")
                              if s.strip()],
        "security_protocol": settings.kafka_security_protocol,
        "request_timeout_ms": settings.kafka_request_timeout_ms,
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
