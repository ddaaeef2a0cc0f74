"""RabbitMQ layer: topology, confirming publisher, consumer runtime, dead-letter admin.

Modules:
    topology    names, ``declare_topology`` / ``delete_topology``
    connection  connection parameters, URL masking, backoff, recoverable errors
    messages    ``OutgoingMessage``, AMQP properties, header names and helpers
    publisher   ``Publisher`` (confirmed, mandatory, bounded reconnect; ``publish_many``)
    bulk        windowed publisher confirms on a ``SelectConnection`` (used by publish_many)
    delivery    ``Delivery``, ``Dispatch``, ``OnEvent``
    outcomes    pure mapping of handler result -> ack / retry / dead-letter / requeue
    session     one connection's in-flight deliveries and how each is settled
    worker      what runs on a delivery's worker thread (handler, log binding, hold)
    reporting   one log line and one on_event call per decision
    consumer    ``ConsumerRuntime`` (threads, heartbeats, reconnects, graceful stop)
    admin       ``queue_depths``, ``DeadLetter``, ``dead_letters``, ``dead_letter_counts``,
                replay and purge
"""

from infra.amqp.admin import (
    DeadLetter,
    dead_letter_counts,
    dead_letters,
    purge_dead_letters,
    queue_depths,
    replay_dead_letters,
)
from infra.amqp.bulk import BulkNackError, BulkUnroutableError
from infra.amqp.connection import mask_url
from infra.amqp.consumer import ConsumerRuntime
from infra.amqp.delivery import Delivery, Dispatch, OnEvent
from infra.amqp.messages import OutgoingMessage
from infra.amqp.publisher import Publisher
from infra.amqp.topology import (
    DEFAULT_DELIVERY_LIMIT,
    DEFAULT_PREFIX,
    DEFAULT_RETRY_DELAYS,
    QUEUES,
    Names,
    declare_topology,
    delete_topology,
)

__all__ = [
    "DEFAULT_DELIVERY_LIMIT",
    "DEFAULT_PREFIX",
    "DEFAULT_RETRY_DELAYS",
    "QUEUES",
    "BulkNackError",
    "BulkUnroutableError",
    "ConsumerRuntime",
    "DeadLetter",
    "Delivery",
    "Dispatch",
    "Names",
    "OnEvent",
    "OutgoingMessage",
    "Publisher",
    "dead_letter_counts",
    "dead_letters",
    "declare_topology",
    "delete_topology",
    "mask_url",
    "purge_dead_letters",
    "queue_depths",
    "replay_dead_letters",
]
