"""Topology: idempotent declaration, routing of each exchange, the retry loop, at-least-once
dead-lettering, deletion."""

from __future__ import annotations

import pika.exceptions
import pytest
from amqp_testkit import AT_LEAST_ONCE, Broker, dead_lettering, wait_until

from infra.amqp import declare_topology, delete_topology
from infra.amqp.topology import all_queue_names, queue_specs

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


def test_every_queue_with_a_dead_letter_exchange_dead_letters_at_least_once(broker: Broker) -> None:
    with broker.channel() as ch:
        declare_topology(ch, **broker.topology)
    specs = queue_specs(**broker.topology)

    dlx = dead_lettering(specs)

    # Work queues and retry tiers dead-letter; dead queues are the end of the line.
    assert sorted(s.kind for s in dlx) == sorted(["work", "retry"] * len(broker.queues))
    for spec in dlx:
        for key, value in AT_LEAST_ONCE.items():
            assert broker.held_argument(spec.name, spec.arguments, key) == value, (spec.name, key)


# The broker resends an unconfirmed at-least-once dead letter after
# dead_letter_worker_publisher_confirm_timeout: 180 s by default, 2 s on the private node of
# quick_dead_letter_broker (conftest), so this is a generous deadline, not a sleep.
REDELIVERY_WAIT_S = 30


def test_dead_letters_with_no_route_when_they_die_are_kept_until_there_is_one(
    quick_dead_letter_broker: Broker,
) -> None:
    broker = quick_dead_letter_broker
    # One dead letter of each kind the broker makes here: an expired retry (to the work
    # queue) and a rejected command (to the dead queue). At most once, both would be dropped.
    with broker.channel() as ch:
        declare_topology(ch, **broker.topology)
    n = broker.names
    work, dead = n.work_queue("entities"), n.dead_queue("entities")

    # Given neither target has a route from its exchange when the messages die
    with broker.channel() as ch:
        ch.queue_unbind(work, n.commands_exchange, routing_key="entities")
        ch.queue_unbind(dead, n.dead_exchange, routing_key="entities")
    broker.publish(n.retry_exchange, n.retry_routing_key("entities", 0), message_id="expired")
    broker.publish("", work, message_id="rejected")  # straight to the queue
    with broker.channel() as ch:
        method, _properties, _body = ch.basic_get(work)
        ch.basic_reject(method.delivery_tag, requeue=False)
    wait_until(lambda: broker.depth(n.retry_queue("entities", 0)) == 0, what="the retry delay to expire")
    assert broker.depth(work) == broker.depth(dead) == 0

    # When the routes come back
    with broker.channel() as ch:
        ch.queue_bind(work, n.commands_exchange, routing_key="entities")
        ch.queue_bind(dead, n.dead_exchange, routing_key="entities")

    # Then each dead letter arrives after all
    wait_until(
        lambda: broker.depth(work) == 1 and broker.depth(dead) == 1,
        timeout=REDELIVERY_WAIT_S,
        what="both dead letters resent by the broker",
    )
    assert broker.get(work)[1].message_id == "expired"
    assert broker.get(dead)[1].message_id == "rejected"
