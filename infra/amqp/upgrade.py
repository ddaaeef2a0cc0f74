"""Bring queues an older version declared in line with :func:`queue_specs`, keeping messages.

RabbitMQ cannot change a queue's arguments in place (a declare with other ones is refused,
406), so each outdated queue is replaced:

1. declare ``<name>.upgrading`` with the new arguments;
2. move every message there, acking each original only once its copy is confirmed;
3. delete the emptied queue and declare it anew, binding included;
4. move the messages back and delete the temporary queue.

Every step can be run again, so an interrupted run is finished by the next one: a leftover
``.upgrading`` queue says a queue was caught half-way. A queue is deleted only when it holds
no messages and has no consumers, and a queue to replace that has consumers (a worker still
running) is refused up front, before anything changes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel, BlockingConnection
from pika.spec import Queue

from infra.amqp.connection import RECOVERABLE_ERRORS, connection_parameters
from infra.amqp.messages import X_DELIVERY_COUNT, copy_properties
from infra.amqp.topology import (
    DEFAULT_DELIVERY_LIMIT,
    DEFAULT_PREFIX,
    DEFAULT_RETRY_DELAYS,
    QUEUES,
    Names,
    QueueSpec,
    declare_exchanges,
    is_outdated_queue_error,
    queue_specs,
    upgrading_name,
)

NOT_FOUND = 404
# Rounds of "empty it, check, delete" before giving up on a queue that keeps being fed.
DELETE_ATTEMPTS = 5


class UpgradeStopped(RuntimeError):
    """The upgrade cannot go on safely; ``str()`` is the one line to show."""


class QueueInUse(UpgradeStopped):
    """Queues to replace have consumers."""

    def __init__(self, consumers: Mapping[str, int], *, midway: bool = False) -> None:
        self.consumers = dict(consumers)
        listed = ", ".join(f"{name} ({n} consumer(s))" for name, n in self.consumers.items())
        then = "it finishes where this one stopped" if midway else "nothing was changed"
        super().__init__(f"queues in use: {listed}; stop the workers, then run the upgrade again ({then})")


class QueueStillFed(UpgradeStopped):
    """A queue kept receiving messages while it was being emptied (a producer still running)."""


class State(StrEnum):
    ABSENT = "absent"
    CURRENT = "current"
    OUTDATED = "outdated"


@dataclass(frozen=True)
class QueueState:
    """What the broker has for one queue of the topology."""

    spec: QueueSpec
    state: State
    consumers: int
    leftover: bool  # a ``.upgrading`` queue from an interrupted run exists

    @property
    def needs_work(self) -> bool:
        return self.state is not State.CURRENT or self.leftover


@dataclass(frozen=True)
class QueueUpgrade:
    """What the upgrade did to one queue."""

    name: str
    state: State  # as found
    resumed: bool  # an interrupted run's leftover was finished
    moved: int  # messages now in the queue that went through the temporary one

    def describe(self) -> str:
        if self.state is State.ABSENT and not self.resumed:
            return f"{self.name}: did not exist, declared"
        what = "finished an interrupted upgrade" if self.resumed else "declared anew with the new arguments"
        return f"{self.name}: {what}, {self.moved} message(s) moved"


def upgrade_topology(
    url: str,
    *,
    prefix: str = DEFAULT_PREFIX,
    queues: Sequence[str] = QUEUES,
    delivery_limit: int = DEFAULT_DELIVERY_LIMIT,
    retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
    on_queue: Callable[[QueueUpgrade], None] | None = None,
) -> list[QueueUpgrade]:
    """Replace every queue whose arguments differ from the topology's; return what was done.

    An empty list means the topology was already current. Raises :class:`QueueInUse` when
    a queue to replace has consumers, before changing anything. ``on_queue`` is called as
    each queue is done (a long move should show progress).
    """
    specs = queue_specs(
        prefix=prefix, queues=queues, delivery_limit=delivery_limit, retry_delays=retry_delays
    )
    # Retry tiers first: they dead-letter into the work queues, and once at-least-once they
    # hold a message that expires while its work queue is being replaced instead of dropping it.
    specs.sort(key=lambda spec: spec.kind != "retry")
    with _connection(url, prefix) as connection:
        states = [inspect_queue(connection, spec) for spec in specs]
        in_use = {s.spec.name: s.consumers for s in states if s.state is State.OUTDATED and s.consumers}
        if in_use:
            raise QueueInUse(in_use)
        channel = connection.channel()
        # Confirms make each copy's publish return only once the broker has it.
        channel.confirm_delivery()
        declare_exchanges(channel, Names(prefix))
        done = []
        for state in (s for s in states if s.needs_work):
            result = _upgrade_queue(channel, state)
            done.append(result)
            if on_queue is not None:
                on_queue(result)
        return done


def inspect_queue(connection: BlockingConnection, spec: QueueSpec) -> QueueState:
    """Whether ``spec``'s queue exists, has its arguments, has consumers, or a leftover."""
    leftover = _passive_declare(connection, upgrading_name(spec.name)) is not None
    found = _passive_declare(connection, spec.name)
    if found is None:
        return QueueState(spec, State.ABSENT, 0, leftover)
    state = State.CURRENT if _has_arguments(connection, spec) else State.OUTDATED
    return QueueState(spec, state, found.consumer_count, leftover)


def _upgrade_queue(channel: BlockingChannel, state: QueueState) -> QueueUpgrade:
    spec = state.spec
    if state.state is State.ABSENT and not state.leftover:
        spec.declare(channel)
        return QueueUpgrade(spec.name, state.state, resumed=False, moved=0)
    temp = upgrading_name(spec.name)
    # Declared with the new arguments: safe to consume from as if it were the queue itself.
    channel.queue_declare(temp, durable=True, arguments=dict(spec.arguments))
    if state.state is State.OUTDATED:
        move_messages(channel, spec.name, temp)
        _delete_emptied(channel, spec.name, spill_to=temp)
    if state.state is not State.CURRENT:
        spec.declare(channel)
    moved = move_messages(channel, temp, spec.name)
    _delete_emptied(channel, temp, spill_to=spec.name)
    return QueueUpgrade(spec.name, state.state, resumed=state.leftover, moved=moved)


def move_messages(channel: BlockingChannel, source: str, target: str) -> int:
    """Move every message of ``source`` to ``target`` (a confirm-mode channel); return how many.

    Each original is acked only after its copy is confirmed, so a crash leaves a message in
    both queues at worst (handlers are idempotent), never in neither.
    """
    moved = 0
    while True:
        method, properties, body = channel.basic_get(source)
        if method is None:
            return moved
        # The copy starts a fresh delivery count in its new queue. RabbitMQ writes the header
        # on redeliveries but, depending on the version, not on a first delivery, where a
        # copied count would be read as the copy's own and bring its dead-lettering closer.
        headers = {k: v for k, v in (properties.headers or {}).items() if k != X_DELIVERY_COUNT}
        # Straight to the queue through the default exchange; mandatory, so a missing
        # target raises UnroutableError instead of the copy vanishing.
        channel.basic_publish("", target, body, copy_properties(properties, headers), mandatory=True)
        channel.basic_ack(method.delivery_tag)
        moved += 1


def _delete_emptied(channel: BlockingChannel, name: str, *, spill_to: str) -> None:
    # Quorum queues refuse queue.delete's if-empty and if-unused flags (540), so check just
    # before deleting; whatever arrived meanwhile is moved on too.
    for _ in range(DELETE_ATTEMPTS):
        declared = channel.queue_declare(name, passive=True).method
        if declared.consumer_count:
            raise QueueInUse({name: declared.consumer_count}, midway=True)
        if declared.message_count == 0:
            channel.queue_delete(name)
            return
        move_messages(channel, name, spill_to)
    raise QueueStillFed(f"{name} keeps receiving messages: stop what publishes to it, then run again")


def _passive_declare(connection: BlockingConnection, name: str) -> Queue.DeclareOk | None:
    """The queue's counts, or None when it does not exist (a 404 closes the channel)."""
    channel = connection.channel()
    try:
        declared = channel.queue_declare(name, passive=True).method
    except pika.exceptions.ChannelClosedByBroker as exc:
        if exc.reply_code == NOT_FOUND:
            return None
        raise
    channel.close()
    return declared


def _has_arguments(connection: BlockingConnection, spec: QueueSpec) -> bool:
    # Only a non-passive declare compares arguments; the queue exists, so an equivalent one
    # changes nothing, and a 406 (which closes this channel) means they differ.
    channel = connection.channel()
    try:
        channel.queue_declare(spec.name, durable=True, arguments=dict(spec.arguments))
    except pika.exceptions.ChannelClosedByBroker as exc:
        if is_outdated_queue_error(exc):
            return False
        raise
    channel.close()
    return True


@contextlib.contextmanager
def _connection(url: str, prefix: str) -> Iterator[BlockingConnection]:
    connection = pika.BlockingConnection(connection_parameters(url, role="admin-upgrade", prefix=prefix))
    try:
        yield connection
    finally:
        if connection.is_open:
            with contextlib.suppress(*RECOVERABLE_ERRORS):
                connection.close()
