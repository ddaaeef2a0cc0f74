"""How a handler's result maps to a broker action. Pure: no I/O, no pika.

Handlers only raise; the runtime decides here:

* returned normally                    -> ack
* ``TransientError``                   -> copy to a delayed retry tier, ack the original,
                                          the last tier repeating; once the first failure
                                          is ``transient_retry_for_s`` old, dead-letter
* ``PermanentError`` (and subclasses)  -> dead-letter at once
* anything else ("our side is broken") -> reject with requeue, until the delivery limit is
                                          one away, then dead-letter with the exception
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from domain.errors import PermanentError, TransientError
from infra.amqp.delivery import Delivery
from infra.amqp.messages import (
    X_DEAD_LETTER_COUNT,
    X_ERROR_REASON,
    X_ERROR_TYPE,
    X_FAILED_AT,
    X_FIRST_FAILED_AT,
    X_LAST_ERROR,
    X_ORIGINAL_QUEUE,
    X_RETRY_COUNT,
    clean_headers,
    header_int,
    header_time,
    iso_utc,
    truncate,
    utc_now_iso,
)

# A transient failure (Harvest down, a busy account) is retried for a day before it is
# dead-lettered: long enough to ride out an outage, and the next scheduled sync catches up.
DEFAULT_TRANSIENT_RETRY_FOR_S = 86_400.0


class Action(StrEnum):
    ACK = "ack"
    RETRY = "retry"
    DEAD_LETTER = "dead_letter"
    REQUEUE = "requeue"


# The event each action is reported as (logs and the on_event hook).
EVENT_NAMES = {
    Action.ACK: "acked",
    Action.RETRY: "retry_scheduled",
    Action.DEAD_LETTER: "dead_lettered",
    Action.REQUEUE: "requeued",
}


@dataclass(frozen=True)
class Outcome:
    """The runtime's decision for one delivery."""

    action: Action
    reason: str = ""
    error_type: str | None = None
    retry_tier: int | None = None
    # Transient failures only: when the first of them happened, stamped on the retry copy.
    first_failed_at: datetime | None = None

    @property
    def event(self) -> str:
        return EVENT_NAMES[self.action]


def describe(exc: BaseException) -> str:
    """The exception's message, or its class name when it has none."""
    return str(exc) or type(exc).__name__


def decide(
    exc: BaseException | None,
    delivery: Delivery,
    *,
    now: datetime,
    transient_retry_for_s: float,
    delivery_limit: int,
    retry_tiers: int,
) -> Outcome:
    """Choose the action for a delivery whose handler returned (``exc=None``) or raised.

    ``now`` is the decision's time (aware), against which a transient failure's
    ``x-first-failed-at`` is measured.
    """
    if exc is None:
        return Outcome(Action.ACK, reason="handled")
    error_type = type(exc).__name__
    if isinstance(exc, PermanentError):
        return Outcome(Action.DEAD_LETTER, describe(exc), error_type)
    if isinstance(exc, TransientError):
        return _transient(exc, delivery, now=now, retry_for_s=transient_retry_for_s, retry_tiers=retry_tiers)
    # Quorum queues count every return (reject, lost channel, crashed pod) in
    # x-delivery-count, 0 on the first delivery, and dead-letter past the limit, but
    # without our reason headers. So dead-letter ourselves one delivery early, with the
    # reason; the broker's limit stays as the backstop for a pod that dies mid-handler.
    if delivery.delivery_count + 1 >= delivery_limit:
        reason = f"delivery limit {delivery_limit} reached: {describe(exc)}"
        return Outcome(Action.DEAD_LETTER, reason, error_type)
    return Outcome(Action.REQUEUE, describe(exc), error_type)


def _transient(
    exc: TransientError, delivery: Delivery, *, now: datetime, retry_for_s: float, retry_tiers: int
) -> Outcome:
    # Bounded by time, not by a count: how many retries fit in the bound depends on the
    # tiers' delays, while what an operator can promise is "retried for a day".
    first_failed_at = header_time(delivery.headers, X_FIRST_FAILED_AT) or now
    elapsed_s = (now - first_failed_at).total_seconds()
    error_type = type(exc).__name__
    if elapsed_s >= retry_for_s:
        reason = (
            f"gave up after {delivery.retry_count} retries over {format_duration(elapsed_s)}: {describe(exc)}"
        )
        return Outcome(Action.DEAD_LETTER, reason, error_type, first_failed_at=first_failed_at)
    tier = min(delivery.retry_count, retry_tiers - 1)
    return Outcome(Action.RETRY, describe(exc), error_type, retry_tier=tier, first_failed_at=first_failed_at)


def format_duration(seconds: float) -> str:
    """A rough length of time for a reason line: ``1 day``, ``1.5 days``, ``3 h``, ``20 s``."""
    for unit, size in (("day", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= size:
            value = f"{round(seconds / size, 1):g}"
            plural = "s" if unit == "day" and value != "1" else ""
            return f"{value} {unit}{plural}"
    return f"{seconds:.0f} s"


def retry_headers(delivery: Delivery, outcome: Outcome) -> dict[str, Any]:
    """Headers for the copy sent to a retry tier."""
    headers = clean_headers(delivery.headers)
    headers[X_RETRY_COUNT] = delivery.retry_count + 1
    headers[X_LAST_ERROR] = truncate(outcome.reason)
    if outcome.first_failed_at is not None:
        headers[X_FIRST_FAILED_AT] = iso_utc(outcome.first_failed_at, timespec="milliseconds")
    return headers


def dead_letter_headers(delivery: Delivery, outcome: Outcome) -> dict[str, Any]:
    """Headers for the copy parked in the dead queue: why, what, where from, when."""
    headers = clean_headers(delivery.headers)
    headers.update(
        {
            X_ERROR_REASON: truncate(outcome.reason),
            X_ERROR_TYPE: outcome.error_type or "",
            X_ORIGINAL_QUEUE: delivery.queue,
            X_FAILED_AT: utc_now_iso(),
            X_RETRY_COUNT: delivery.retry_count,
            X_DEAD_LETTER_COUNT: header_int(delivery.headers, X_DEAD_LETTER_COUNT) + 1,
        }
    )
    return headers
