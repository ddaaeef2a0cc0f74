"""Exchange and queue layout for harvest-sync, declared from one place.

Every process (publisher, consumer pod, admin command) calls :func:`declare_topology` with the
same settings at startup. Re-declaring an existing queue with *different* arguments fails with
406 PRECONDITION_FAILED and closes the channel, so the arguments must come from shared config,
never be invented per process.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pika.adapters.blocking_connection import BlockingChannel

from domain.commands import QUEUES

DEFAULT_PREFIX = "harvest_sync"
DEFAULT_DELIVERY_LIMIT = 5
DEFAULT_RETRY_DELAYS: tuple[float, ...] = (5, 30, 300)


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


def all_queue_names(prefix: str, queues: Sequence[str], retry_tiers: int) -> list[str]:
    """Every queue of the topology: work, dead and retry queues, per logical queue."""
    names = Names(prefix)
    out: list[str] = []
    for q in queues:
        out.append(names.work_queue(q))
        out.append(names.dead_queue(q))
        out.extend(names.retry_queue(q, i) for i in range(retry_tiers))
    return out


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
    other arguments, e.g. a different delivery limit or retry delay.
    """
    if not retry_delays:
        raise ValueError("retry_delays needs at least one tier")
    names = Names(prefix)
    for exchange in (names.commands_exchange, names.dead_exchange, names.retry_exchange):
        channel.exchange_declare(exchange, exchange_type="direct", durable=True)
    for q in queues:
        _declare_work_queue(channel, names, q, delivery_limit)
        _declare_dead_queue(channel, names, q)
        for tier, delay in enumerate(retry_delays):
            _declare_retry_queue(channel, names, q, tier, delay)


def _declare_work_queue(channel: BlockingChannel, names: Names, q: str, delivery_limit: int) -> None:
    arguments = {
        "x-queue-type": "quorum",
        # RabbitMQ 3.x has no default delivery limit: without this a crashing handler
        # would requeue the same message forever. The runtime dead-letters one delivery
        # earlier itself (with a reason); the broker limit is the backstop.
        "x-delivery-limit": delivery_limit,
        # Over the limit (or on reject requeue=False) the broker routes the message here.
        "x-dead-letter-exchange": names.dead_exchange,
        "x-dead-letter-routing-key": q,
    }
    channel.queue_declare(names.work_queue(q), durable=True, arguments=arguments)
    channel.queue_bind(names.work_queue(q), names.commands_exchange, routing_key=q)


def _declare_dead_queue(channel: BlockingChannel, names: Names, q: str) -> None:
    # No delivery limit here on purpose: peeking at dead letters (get, then requeue)
    # bumps their delivery count and must never drop them.
    channel.queue_declare(names.dead_queue(q), durable=True, arguments={"x-queue-type": "quorum"})
    channel.queue_bind(names.dead_queue(q), names.dead_exchange, routing_key=q)


def _declare_retry_queue(channel: BlockingChannel, names: Names, q: str, tier: int, delay: float) -> None:
    arguments = {
        "x-queue-type": "quorum",
        # One fixed TTL per queue: messages expire only from the head, so mixed
        # per-message TTLs would make short delays wait behind long ones.
        "x-message-ttl": int(delay * 1000),
        # Expired messages go back to the work queue through the commands exchange.
        "x-dead-letter-exchange": names.commands_exchange,
        "x-dead-letter-routing-key": q,
    }
    name = names.retry_queue(q, tier)
    channel.queue_declare(name, durable=True, arguments=arguments)
    channel.queue_bind(name, names.retry_exchange, routing_key=names.retry_routing_key(q, tier))


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
    for exchange in (names.commands_exchange, names.dead_exchange, names.retry_exchange):
        channel.exchange_delete(exchange)
