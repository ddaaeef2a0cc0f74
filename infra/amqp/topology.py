"""Exchange and queue layout for harvest-sync, declared from one place.

Every process (publisher, consumer pod, admin command) calls :func:`declare_topology` with the
same settings at startup. Re-declaring an existing queue with *different* arguments fails with
406 PRECONDITION_FAILED and closes the channel, so the arguments must come from shared config,
never be invented per process: each queue's are written once, in :func:`queue_specs`. Queues
an older version declared with other arguments are replaced, messages kept, by
``infra.amqp.upgrade`` (``harvest-sync admin topology upgrade``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pika.exceptions
import structlog
from pika.adapters.blocking_connection import BlockingChannel

from domain.commands import QUEUES

log = structlog.get_logger(__name__)

DEFAULT_PREFIX = "harvest_sync"
DEFAULT_DELIVERY_LIMIT = 5
DEFAULT_RETRY_DELAYS: tuple[float, ...] = (5, 30, 300)

PRECONDITION_FAILED = 406
# What to run when a declare is refused because a queue predates its current arguments.
UPGRADE_HINT = "stop the workers, then run `harvest-sync admin topology upgrade`"

QueueKind = Literal["work", "dead", "retry"]


@dataclass(frozen=True)
class Names:
    """Broker object names derived from a prefix and a logical queue name."""

    prefix: str = DEFAULT_PREFIX

    @property
    def commands_exchange(self) -> str:
        return f"{self.prefix}.commands"

    @property
    def dead_exchange(self) -> str:
        return f"{self.prefix}.dead"

    @property
    def retry_exchange(self) -> str:
        return f"{self.prefix}.retry"

    def work_queue(self, queue: str) -> str:
        return f"{self.prefix}.{queue}"

    def dead_queue(self, queue: str) -> str:
        return f"{self.prefix}.{queue}.dead"

    def retry_queue(self, queue: str, tier: int) -> str:
        return f"{self.prefix}.{queue}.retry.{tier}"

    @staticmethod
    def retry_routing_key(queue: str, tier: int) -> str:
        return f"{queue}.{tier}"

    def logical_queue(self, work_queue: str) -> str | None:
        """Map ``{prefix}.{q}`` back to ``q``; None for a name outside this prefix."""
        head = f"{self.prefix}."
        if not work_queue.startswith(head):
            return None
        rest = work_queue[len(head) :]
        return rest if rest and "." not in rest else None


def upgrading_name(queue_name: str) -> str:
    """The temporary queue holding a queue's messages while it is declared anew."""
    return f"{queue_name}.upgrading"


def all_queue_names(prefix: str, queues: Sequence[str], retry_tiers: int) -> list[str]:
    """Every queue of the topology: work, dead and retry queues, per logical queue."""
    names = Names(prefix)
    out: list[str] = []
    for q in queues:
        out.append(names.work_queue(q))
        out.append(names.dead_queue(q))
        out.extend(names.retry_queue(q, i) for i in range(retry_tiers))
    return out


@dataclass(frozen=True)
class QueueSpec:
    """One queue as the topology wants it: its arguments and its one binding.

    The single source of a queue's arguments, for :func:`declare_topology` and for the
    upgrade that brings queues declared by an older version in line.
    """

    name: str
    kind: QueueKind
    arguments: dict[str, Any] = field(hash=False)
    exchange: str
    routing_key: str

    def declare(self, channel: BlockingChannel) -> None:
        """Declare the queue and its binding (406 if it exists with other arguments)."""
        channel.queue_declare(self.name, durable=True, arguments=dict(self.arguments))
        channel.queue_bind(self.name, self.exchange, routing_key=self.routing_key)


def queue_specs(
    *,
    prefix: str = DEFAULT_PREFIX,
    queues: Sequence[str] = QUEUES,
    delivery_limit: int = DEFAULT_DELIVERY_LIMIT,
    retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
) -> list[QueueSpec]:
    """Every queue of the topology, per logical queue: work, dead, then its retry tiers."""
    if not retry_delays:
        raise ValueError("retry_delays needs at least one tier")
    names = Names(prefix)
    specs: list[QueueSpec] = []
    for q in queues:
        specs.append(_work_queue(names, q, delivery_limit))
        specs.append(_dead_queue(names, q))
        specs.extend(_retry_queue(names, q, tier, delay) for tier, delay in enumerate(retry_delays))
    return specs


def declare_exchanges(channel: BlockingChannel, names: Names) -> None:
    for exchange in (names.commands_exchange, names.dead_exchange, names.retry_exchange):
        channel.exchange_declare(exchange, exchange_type="direct", durable=True)


def declare_topology(
    channel: BlockingChannel,
    *,
    prefix: str = DEFAULT_PREFIX,
    queues: Sequence[str] = QUEUES,
    delivery_limit: int = DEFAULT_DELIVERY_LIMIT,
    retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
) -> None:
    """Declare exchanges, queues and bindings; safe to call any number of times.

    Raises ``pika.exceptions.ChannelClosedByBroker`` (406) if a queue already exists with
    other arguments, e.g. a different delivery limit or retry delay, or one declared by a
    version without at-least-once dead-lettering (see :data:`UPGRADE_HINT`).
    """
    specs = queue_specs(
        prefix=prefix, queues=queues, delivery_limit=delivery_limit, retry_delays=retry_delays
    )
    declare_exchanges(channel, Names(prefix))
    try:
        for spec in specs:
            spec.declare(channel)
    except pika.exceptions.ChannelClosedByBroker as exc:
        if is_outdated_queue_error(exc):
            # Reconnecting cannot cure this one: name the fix next to the broker's words.
            log.error("amqp_queue_arguments_differ", error=exc.reply_text, fix=UPGRADE_HINT)
        raise


def is_outdated_queue_error(exc: BaseException) -> bool:
    """True for the broker refusing a declare because the queue has other arguments."""
    return isinstance(exc, pika.exceptions.ChannelClosedByBroker) and exc.reply_code == PRECONDITION_FAILED


def _dead_lettering(exchange: str, routing_key: str) -> dict[str, Any]:
    return {
        "x-dead-letter-exchange": exchange,
        "x-dead-letter-routing-key": routing_key,
        # Without this a quorum queue dead-letters at most once: a dead letter the target
        # does not take at that moment (no route, queue being replaced) is dropped. With it
        # the source keeps the message until the target confirms it.
        "x-dead-letter-strategy": "at-least-once",
        # at-least-once is ignored (falling back to at-most-once) under any other overflow
        # mode. No length limit is set, so nothing is ever rejected for it.
        "x-overflow": "reject-publish",
    }


def _work_queue(names: Names, q: str, delivery_limit: int) -> QueueSpec:
    arguments = {
        "x-queue-type": "quorum",
        # RabbitMQ 3.x has no default delivery limit: without this a crashing handler
        # would requeue the same message forever. The runtime dead-letters one delivery
        # earlier itself (with a reason); the broker limit is the backstop.
        "x-delivery-limit": delivery_limit,
        # Over the limit (or on reject requeue=False) the broker routes the message here.
        **_dead_lettering(names.dead_exchange, q),
    }
    return QueueSpec(names.work_queue(q), "work", arguments, names.commands_exchange, q)


def _dead_queue(names: Names, q: str) -> QueueSpec:
    # No delivery limit here on purpose: peeking at dead letters (get, then requeue)
    # bumps their delivery count and must never drop them.
    return QueueSpec(names.dead_queue(q), "dead", {"x-queue-type": "quorum"}, names.dead_exchange, q)


def _retry_queue(names: Names, q: str, tier: int, delay: float) -> QueueSpec:
    arguments = {
        "x-queue-type": "quorum",
        # One fixed TTL per queue: messages expire only from the head, so mixed
        # per-message TTLs would make short delays wait behind long ones.
        "x-message-ttl": int(delay * 1000),
        # Expired messages go back to the work queue through the commands exchange.
        **_dead_lettering(names.commands_exchange, q),
    }
    return QueueSpec(
        names.retry_queue(q, tier), "retry", arguments, names.retry_exchange, names.retry_routing_key(q, tier)
    )


def delete_topology(
    channel: BlockingChannel,
    *,
    prefix: str = DEFAULT_PREFIX,
    queues: Sequence[str] = QUEUES,
    retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
) -> None:
    """Delete every queue and exchange of the topology (tests and admin only).

    Messages in the queues are lost. Deleting an absent queue or exchange is not an error on
    RabbitMQ, so this also cleans up after a partial declare.
    """
    names = Names(prefix)
    for name in all_queue_names(prefix, queues, len(retry_delays)):
        channel.queue_delete(name)
        channel.queue_delete(upgrading_name(name))  # left by an interrupted upgrade
    for exchange in (names.commands_exchange, names.dead_exchange, names.retry_exchange):
        channel.exchange_delete(exchange)
