"""What a handler receives: one delivered message, decoupled from pika."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pika
from pika.spec import Basic

from infra.amqp.messages import X_DELIVERY_COUNT, X_RETRY_COUNT, header_int


@dataclass(frozen=True)
class Delivery:
    """One delivered message, as handed to ``dispatch``."""

    queue: str  # logical queue name, e.g. "entities"
    body: bytes
    message_id: str | None
    type: str | None
    headers: dict[str, Any] = field(repr=False)
    redelivered: bool
    delivery_count: int  # from x-delivery-count (0 if absent)
    retry_count: int  # from our own x-retry-count header (0 if absent)

    @classmethod
    def from_pika(
        cls,
        queue: str,
        method: Basic.Deliver,
        properties: pika.BasicProperties,
        body: bytes,
    ) -> Delivery:
        """Build a Delivery from what pika hands a consumer callback."""
        headers = dict(properties.headers or {})
        return cls(
            queue=queue,
            body=body,
            message_id=properties.message_id,
            type=properties.type,
            headers=headers,
            redelivered=bool(method.redelivered),
            delivery_count=header_int(headers, X_DELIVERY_COUNT),
            retry_count=header_int(headers, X_RETRY_COUNT),
        )


Dispatch = Callable[[Delivery], None]
"""Handles one delivery. Returns normally on success; raises to report a failure kind."""

OnEvent = Callable[[str, Delivery | None, dict[str, Any]], None]
"""Outcome hook: ``(event_name, delivery, fields)``, e.g. for metrics."""
