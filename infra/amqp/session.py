"""One connection's worth of consuming: in-flight deliveries and how each one is settled.

A ``Session`` lives exactly as long as one ``BlockingConnection``. Delivery tags are only
meaningful on the channel that issued them, so every in-flight record belongs to a session,
and a result that arrives after its session closed is dropped (the broker redelivers the
message; handlers are idempotent).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel, BlockingConnection

from infra.amqp.delivery import Delivery
from infra.amqp.messages import copy_properties
from infra.amqp.outcomes import (
    Action,
    Outcome,
    dead_letter_headers,
    retry_headers,
)
from infra.amqp.topology import Names


@dataclass
class InFlight:
    """A delivery handed to a worker thread and not yet settled with the broker."""

    tag: int
    delivery: Delivery
    properties: pika.BasicProperties
    outcome: Outcome | None = None  # set by the worker when the handler is done
    duration_ms: int | None = None
    held_ms: int = 0  # back-off before a requeue


@dataclass
class Session:
    """State of one connection and its channel; mutated on the connection thread only,
    except where ``lock`` is taken (the hand-over from worker threads)."""

    generation: int
    connection: BlockingConnection
    channel: BlockingChannel
    consumer_tags: list[str] = field(default_factory=list)
    broken: str | None = None
    closed: bool = False
    inflight: dict[int, InFlight] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, record: InFlight) -> None:
        with self.lock:
            self.inflight[record.tag] = record

    def take(self, tag: int) -> InFlight | None:
        """Remove and return an in-flight record (None if the session already gave it up)."""
        with self.lock:
            return self.inflight.pop(tag, None)

    def hand_back(self, settle: Callable[[], None]) -> bool:
        """From a worker thread: schedule ``settle`` on the connection thread.

        Returns False when the session is gone, i.e. the result is stale.
        """
        with self.lock:
            if self.closed:
                return False
            try:
                # The only thread-safe call on a BlockingConnection: the channel itself
                # is never touched from a worker thread.
                self.connection.add_callback_threadsafe(settle)
            except pika.exceptions.ConnectionWrongStateError:
                return False
            return True

    def close(self) -> list[InFlight]:
        """Mark the session closed; return records whose result arrived but was never settled.

        Workers that finish later see ``closed`` and report their own result as stale, so
        every delivery is accounted for exactly once.
        """
        with self.lock:
            self.closed = True
            finished = [r for r in self.inflight.values() if r.outcome is not None]
            for r in finished:
                del self.inflight[r.tag]
            return finished


def settle(channel: BlockingChannel, names: Names, record: InFlight) -> Outcome:
    """Carry out ``record.outcome`` on the channel (connection thread only).

    Returns the outcome actually applied: a retry or dead-letter whose copy the broker did
    not accept becomes a requeue. Connection and channel errors propagate to the runtime,
    which reconnects; the unacked original then comes back by itself.
    """
    outcome = record.outcome
    assert outcome is not None
    delivery = record.delivery
    try:
        if outcome.action is Action.RETRY:
            assert outcome.retry_tier is not None
            _publish_copy(
                channel,
                names.retry_exchange,
                names.retry_routing_key(delivery.queue, outcome.retry_tier),
                record,
                retry_headers(delivery, outcome),
            )
        elif outcome.action is Action.DEAD_LETTER:
            _publish_copy(
                channel,
                names.dead_exchange,
                delivery.queue,
                record,
                dead_letter_headers(delivery, outcome),
            )
    except (pika.exceptions.UnroutableError, pika.exceptions.NackError) as exc:
        # The copy reached no queue (topology changed under us) or the broker refused it.
        # Acking now would lose the message, so give it back; the delivery limit bounds
        # how often this can repeat.
        channel.basic_reject(record.tag, requeue=True)
        return Outcome(
            Action.REQUEUE,
            reason=f"{outcome.event} copy not accepted ({exc!r}): {outcome.reason}",
            error_type=outcome.error_type,
        )
    if outcome.action is Action.REQUEUE:
        # reject, not nack: from RabbitMQ 4.3 only reject counts toward x-delivery-limit.
        channel.basic_reject(record.tag, requeue=True)
    else:
        # Publish-then-ack is a dual write: a crash in between leaves both the copy and
        # the redelivered original. Idempotent handlers absorb the duplicate.
        channel.basic_ack(record.tag)
    return outcome


def _publish_copy(
    channel: BlockingChannel,
    exchange: str,
    routing_key: str,
    record: InFlight,
    headers: dict,
) -> None:
    # Confirmed (channel in confirm mode) and mandatory, so an unroutable copy raises
    # UnroutableError instead of vanishing.
    channel.basic_publish(
        exchange,
        routing_key,
        record.delivery.body,
        copy_properties(record.properties, headers),
        mandatory=True,
    )
