"""Outgoing messages, their AMQP properties, and the headers the runtime reads and writes."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pika

CONTENT_TYPE = "application/json"

# Headers the runtime owns.
X_RETRY_COUNT = "x-retry-count"
# When the first transient failure happened (ISO 8601 UTC), carried from retry to retry.
X_FIRST_FAILED_AT = "x-first-failed-at"
X_LAST_ERROR = "x-last-error"
X_ERROR_REASON = "x-error-reason"
X_ERROR_TYPE = "x-error-type"
X_ORIGINAL_QUEUE = "x-original-queue"
X_FAILED_AT = "x-failed-at"
X_DEAD_LETTER_COUNT = "x-dead-letter-count"
X_REPLAYED_AT = "x-replayed-at"

# Headers the broker owns.
X_DELIVERY_COUNT = "x-delivery-count"
X_DEATH = "x-death"

MAX_ERROR_CHARS = 500


@dataclass(frozen=True)
class OutgoingMessage:
    """One command to publish to a logical queue (see ``Publisher.publish_many``)."""

    queue: str
    body: bytes
    message_id: str
    type: str
    headers: Mapping[str, Any] | None = field(default=None)


def build_properties(
    *, message_id: str, type: str, headers: Mapping[str, Any] | None
) -> pika.BasicProperties:
    """Properties every publish sets: persistent, identified, typed, timestamped."""
    return pika.BasicProperties(
        # Persistent: with a quorum queue the message survives a broker restart.
        delivery_mode=pika.DeliveryMode.Persistent,
        message_id=message_id,
        type=type,
        content_type=CONTENT_TYPE,
        timestamp=int(time.time()),
        headers=dict(headers or {}),
    )


def is_broker_header(name: str) -> bool:
    """True for headers RabbitMQ writes when it delivers or dead-letters a message."""
    return name in (X_DELIVERY_COUNT, X_DEATH) or name.startswith(("x-first-death-", "x-last-death-"))


def copy_properties(properties: pika.BasicProperties, headers: Mapping[str, Any]) -> pika.BasicProperties:
    """A copy of a delivery's properties for republishing, with ``headers`` replacing its own.

    Callers pass headers already stripped of broker-owned ones (see :func:`clean_headers`).
    ``expiration`` (a per-message TTL would hold up a fixed-TTL retry queue) and ``user_id``
    (the broker refuses one that differs from the connection's user) are dropped on purpose.
    """
    return pika.BasicProperties(
        content_type=properties.content_type,
        content_encoding=properties.content_encoding,
        headers=dict(headers),
        delivery_mode=pika.DeliveryMode.Persistent,
        priority=properties.priority,
        correlation_id=properties.correlation_id,
        reply_to=properties.reply_to,
        message_id=properties.message_id,
        timestamp=properties.timestamp,
        type=properties.type,
        app_id=properties.app_id,
    )


def clean_headers(headers: Mapping[str, Any] | None) -> dict[str, Any]:
    """Headers minus the broker-owned ones, for a copy we republish ourselves.

    Why strip: a stale ``x-delivery-count`` would be read as the copy's own count, and a
    carried-over ``x-death`` can make RabbitMQ see a dead-letter *cycle* without a
    rejection in it, and such messages are silently dropped.
    """
    return {k: v for k, v in (headers or {}).items() if not is_broker_header(k)}


def truncate(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    """Cut ``text`` to ``limit`` characters, marking the cut."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def utc_now_iso() -> str:
    """Current UTC time as ISO 8601, e.g. ``2026-11-26T01:46:00+00:00``."""
    return iso_utc(datetime.now(UTC))


def iso_utc(moment: datetime, *, timespec: str = "seconds") -> str:
    """``moment`` in UTC as ISO 8601, e.g. ``2026-11-26T01:46:00+00:00``."""
    return moment.astimezone(UTC).isoformat(timespec=timespec)


def header_time(headers: Mapping[str, Any] | None, name: str) -> datetime | None:
    """An ISO 8601 header as an aware datetime (naive read as UTC), or None if absent or bad."""
    value = (headers or {}).get(name)
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def header_int(headers: Mapping[str, Any] | None, name: str) -> int:
    """An integer header, or 0 if absent or not a number."""
    value = (headers or {}).get(name)
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return int(value)  # pika decodes AMQP longs as its own int subclass
    if isinstance(value, bytes | str):
        try:
            return int(value)
        except ValueError:
            return 0
    return 0
