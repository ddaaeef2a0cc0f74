"""One log line, and one ``on_event`` call, per decision the consumer runtime takes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog

from domain.errors import PermanentError, TransientError
from infra.amqp.delivery import OnEvent
from infra.amqp.outcomes import Action, Outcome
from infra.amqp.session import InFlight

log = structlog.get_logger(__name__)

_LOG_LEVELS = {
    "acked": "info",
    "retry_scheduled": "warning",
    "dead_lettered": "error",
    "requeued": "warning",
    "stale_dropped": "warning",
}


class Reporter:
    """Logs each outcome with the delivery's identity and passes it to the ``on_event`` hook.

    Outcomes are reported on the connection thread; ``stale_dropped`` may also come from
    the worker thread whose result arrived too late.
    """

    def __init__(self, on_event: OnEvent | None, retry_delays: Sequence[float]) -> None:
        self._on_event = on_event
        self._retry_delays = tuple(retry_delays)

    def outcome(self, outcome: Outcome, record: InFlight) -> None:
        """Report an outcome that was carried out on the broker."""
        fields: dict[str, Any] = {"reason": outcome.reason, "duration_ms": record.duration_ms}
        if outcome.action is not Action.ACK:
            fields["error_type"] = outcome.error_type
        if record.held_ms:
            fields["held_ms"] = record.held_ms
        if outcome.retry_tier is not None:
            tier = outcome.retry_tier
            fields.update(retry_tier=tier, retry_delay_s=self._retry_delays[tier])
        self._emit(outcome.event, record, fields)

    def stale(self, record: InFlight, reason: str) -> None:
        """Report a result dropped because its channel is gone (the broker redelivers)."""
        outcome = record.outcome
        fields = {"reason": reason, "dropped": outcome.event if outcome else None}
        self._emit("stale_dropped", record, fields)

    def _emit(self, event: str, record: InFlight, fields: dict[str, Any]) -> None:
        delivery = record.delivery
        getattr(log, _LOG_LEVELS[event])(
            event,
            message_id=delivery.message_id,
            command=delivery.type,
            queue=delivery.queue,
            delivery_tag=record.tag,
            redelivered=delivery.redelivered,
            delivery_count=delivery.delivery_count,
            retry_count=delivery.retry_count,
            **fields,
        )
        if self._on_event is None:
            return
        try:
            self._on_event(event, delivery, fields)
        except Exception:
            # A broken metrics hook must not take the consumer down.
            log.exception("on_event_hook_failed", hook_event=event)


def log_handler_error(exc: Exception) -> None:
    """Log a handler's exception in its worker thread (where the delivery is bound)."""
    if isinstance(exc, TransientError | PermanentError):
        log.warning("handler_failed", error_type=type(exc).__name__, error=str(exc))
    else:
        # Not a known failure kind: our side is broken; the traceback is the evidence.
        log.error("handler_crashed", error_type=type(exc).__name__, exc_info=exc)
