"""Publisher: message properties, mandatory routing, lazy topology, reconnects, bulk."""

from __future__ import annotations

import time
from collections.abc import Callable

import pika.exceptions
import pytest
from amqp_testkit import Broker, text

from infra.amqp import BulkUnroutableError, OutgoingMessage, Publisher

pytestmark = pytest.mark.integration


def test_publish_sets_persistence_identity_type_and_headers(broker: Broker) -> None:
    with Publisher(broker.url, **broker.topology) as publisher:
        publisher.publish(
            "entities",
            b'{"account_id": 7}',
            message_id="sync-entities:7:2026-11-26",
            type="SyncAccountEntities",
            headers={"account_id": 7},
        )

    got = broker.get(broker.names.work_queue("entities"))
    assert got is not None
    _method, properties, body = got
    assert body == b'{"account_id": 7}'
    assert properties.delivery_mode == 2
    assert properties.message_id == "sync-entities:7:2026-11-26"
    assert properties.type == "SyncAccountEntities"
    assert properties.content_type == "application/json"
    assert abs(properties.timestamp - time.time()) < 60
    assert properties.headers["account_id"] == 7


def test_publish_to_a_queue_nothing_is_bound_for_raises_unroutable(broker: Broker) -> None:
    with (
        Publisher(broker.url, **broker.topology) as publisher,
        pytest.raises(pika.exceptions.UnroutableError),
    ):
        publisher.publish("no_such_queue", b"{}", message_id="m1", type="T")


def test_publisher_declares_the_topology_on_first_use(broker: Broker) -> None:
    work_queue = broker.names.work_queue("time_entries")
    publisher = Publisher(broker.url, **broker.topology)
    # Given nothing declared yet (constructing the publisher does not connect)
    with pytest.raises(pika.exceptions.ChannelClosedByBroker):
        broker.depth(work_queue)

    publisher.publish("time_entries", b"{}", message_id="m1", type="T")
    publisher.close()

    assert broker.depth(work_queue) == 1


def test_publish_reconnects_after_the_broker_closes_its_connection(
    broker: Broker, kill_connections: Callable[[str], int]
) -> None:
    with Publisher(broker.url, **broker.topology) as publisher:
        publisher.publish("entities", b"{}", message_id="m1", type="T")
        assert kill_connections(f"harvest-sync/publisher/{broker.prefix}/") == 1

        publisher.publish("entities", b"{}", message_id="m2", type="T")

    assert broker.depth(broker.names.work_queue("entities")) == 2


def test_publish_many_confirms_every_message_and_returns_the_count(broker: Broker) -> None:
    items = [
        OutgoingMessage(
            queue=("entities", "time_entries")[i % 2],
            body=b'{"n": %d}' % i,
            message_id=f"m{i}",
            type="SyncAccountEntities",
            headers={"n": i},
        )
        for i in range(3000)
    ]

    with Publisher(broker.url, **broker.topology) as publisher:
        # A window smaller than the batch makes the run go through many confirm rounds.
        count = publisher.publish_many(items, window=97)

    assert count == 3000
    assert broker.depth(broker.names.work_queue("entities")) == 1500
    assert broker.depth(broker.names.work_queue("time_entries")) == 1500
    _m, properties, body = broker.get(broker.names.work_queue("time_entries")) or (0, 0, 0)
    assert body == b'{"n": 1}'
    assert (properties.message_id, properties.delivery_mode) == ("m1", 2)


def test_publish_many_reports_unroutable_messages_after_publishing_the_rest(
    broker: Broker,
) -> None:
    items = [OutgoingMessage("entities", b"{}", f"m{i}", "T") for i in range(10)]
    items.insert(4, OutgoingMessage("no_such_queue", b"{}", "lost", "T"))

    with Publisher(broker.url, **broker.topology) as publisher, pytest.raises(BulkUnroutableError) as err:
        publisher.publish_many(items)

    assert isinstance(err.value, pika.exceptions.UnroutableError)
    assert err.value.published == 10
    assert [text(m.properties.message_id) for m in err.value.messages] == ["lost"]
    assert broker.depth(broker.names.work_queue("entities")) == 10


def test_publish_many_of_nothing_publishes_nothing(broker: Broker) -> None:
    with Publisher(broker.url, **broker.topology) as publisher:
        assert publisher.publish_many([]) == 0
