"""Topology: idempotent declaration, routing of each exchange, the retry loop, deletion."""

from __future__ import annotations

import pika.exceptions
import pytest
from amqp_testkit import Broker, wait_until

from infra.amqp import declare_topology, delete_topology
from infra.amqp.topology import all_queue_names

pytestmark = pytest.mark.integration


def test_declaring_twice_is_fine_and_each_exchange_routes_to_its_queue(broker: Broker) -> None:
    # Given the topology declared twice
    with broker.channel() as ch:
        declare_topology(ch, **broker.topology)
        declare_topology(ch, **broker.topology)
    n = broker.names

    # When one message goes to each exchange for "entities"
    broker.publish(n.commands_exchange, "entities")
    broker.publish(n.dead_exchange, "entities")

    # Then each lands in its own queue and nowhere else
    assert broker.depth(n.work_queue("entities")) == 1
    assert broker.depth(n.dead_queue("entities")) == 1
    assert broker.depth(n.work_queue("time_entries")) == 0
    assert broker.depth(n.dead_queue("time_entries")) == 0


def test_retry_tier_holds_a_message_for_its_ttl_then_returns_it_to_the_work_queue(
    broker: Broker,
) -> None:
    with broker.channel() as ch:
        declare_topology(ch, **broker.topology)
    n = broker.names

    broker.publish(n.retry_exchange, n.retry_routing_key("time_entries", 0))

    # Held in the tier first (TTL is 1 s) ...
    assert broker.depth(n.retry_queue("time_entries", 0)) == 1
    assert broker.depth(n.work_queue("time_entries")) == 0
    # ... then dead-lettered back through the commands exchange.
    wait_until(
        lambda: broker.depth(n.work_queue("time_entries")) == 1,
        timeout=10,
        what="message back in the work queue",
    )
    assert broker.depth(n.retry_queue("time_entries", 0)) == 0


def test_redeclaring_with_another_delivery_limit_is_refused(broker: Broker) -> None:
    with broker.channel() as ch:
        declare_topology(ch, **broker.topology)

    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as err, broker.channel() as ch:
        declare_topology(ch, **{**broker.topology, "delivery_limit": 9})

    assert err.value.reply_code == 406  # PRECONDITION_FAILED: x-delivery-limit differs


def test_unexpected_requeues_past_the_broker_limit_land_in_the_dead_queue(broker: Broker) -> None:
    # The broker's own backstop, independent of the runtime: delivery_limit=1 allows 2.
    broker.delivery_limit = 1
    with broker.channel() as ch:
        declare_topology(ch, **broker.topology)
    n = broker.names
    broker.publish(n.commands_exchange, "entities")

    counts = []
    with broker.channel() as ch:
        for _ in range(5):
            method, properties, _body = ch.basic_get(n.work_queue("entities"))
            if method is None:
                break
            counts.append((properties.headers or {}).get("x-delivery-count", 0))
            ch.basic_reject(method.delivery_tag, requeue=True)

    assert counts == [0, 1]
    wait_until(lambda: broker.depth(n.dead_queue("entities")) == 1, what="dead letter")


def test_delete_topology_removes_every_queue_and_exchange(broker: Broker) -> None:
    with broker.channel() as ch:
        declare_topology(ch, **broker.topology)
        delete_topology(ch, **{k: v for k, v in broker.topology.items() if k != "delivery_limit"})
    n = broker.names

    for name in all_queue_names(broker.prefix, broker.queues, len(broker.retry_delays)):
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as err, broker.channel() as ch:
            ch.queue_declare(name, passive=True)
        assert err.value.reply_code == 404, name
    for exchange in (n.commands_exchange, n.dead_exchange, n.retry_exchange):
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as err, broker.channel() as ch:
            ch.exchange_declare(exchange, passive=True)
        assert err.value.reply_code == 404, exchange
