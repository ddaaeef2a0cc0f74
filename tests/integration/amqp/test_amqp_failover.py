"""AMQP_URL with several broker addresses: connections fail over to the next one that answers.

Runs on private RabbitMQ nodes (``private_node.py``), never on the machine's own broker. The
start of the address list is pinned to the first address (it is random in production), so
the dead or stopped address is always the one tried first.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

import pytest
from amqp_testkit import Broker, Recorder, running, wait_until
from private_node import PrivateNode, free_port, installed

from infra.amqp import ConsumerRuntime, OutgoingMessage, Publisher, delete_topology, queue_depths
from infra.amqp import connection as amqp_connection
from infra.observability.wiring import broker_check
from infra.preflight import require_broker

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _first_address_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(amqp_connection, "_start", lambda count: 0)


def _require_local_rabbitmq() -> None:
    if not installed():
        message = "rabbitmq-server and rabbitmqctl are needed for a private RabbitMQ node"
        if os.getenv("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


@contextlib.contextmanager
def _nodes(*names: str) -> Iterator[list[PrivateNode]]:
    """Private nodes started side by side; stopped and removed after."""
    _require_local_rabbitmq()
    nodes = [PrivateNode(name) for name in names]
    try:
        for node in nodes:
            node.launch()
        for node in nodes:
            node.wait_until_running()
        yield nodes
    finally:
        for node in nodes:
            node.stop()


@contextlib.contextmanager
def _cleaned(url: str, prefix: str) -> Iterator[Broker]:
    broker = Broker(url=url, prefix=prefix)
    try:
        yield broker
    finally:
        with broker.channel() as channel:
            delete_topology(channel, prefix=prefix, queues=broker.queues, retry_delays=broker.retry_delays)
        broker.close()


def _runtime(url: str, broker: Broker, recorder: Recorder) -> ConsumerRuntime:
    return ConsumerRuntime(
        url,
        dispatch=recorder.calls.append,
        **broker.topology,
        shutdown_grace_s=5.0,
        reconnect_max_delay_s=2.0,
        on_event=recorder.on_event,
    )


def _dead_address() -> str:
    return f"amqp://guest:guest@127.0.0.1:{free_port()}/%2F"  # nothing listens there


def test_a_dead_first_address_is_skipped_by_publisher_consumer_and_admin() -> None:
    with _nodes("hs-failover") as (node,), _cleaned(node.amqp_url, f"test.{uuid.uuid4().hex[:8]}") as broker:
        url = f"{_dead_address()},{node.amqp_url}"
        recorder = Recorder()
        with running(_runtime(url, broker, recorder)):
            with Publisher(url, **broker.topology) as publisher:
                publisher.publish("entities", b"{}", message_id="one", type="SyncIt")  # confirmed
                many = [OutgoingMessage("entities", b"{}", f"m{i}", "SyncIt") for i in range(3)]
                assert publisher.publish_many(many) == 3
            wait_until(lambda: recorder.event_names().count("acked") == 4, what="four messages acked")
        assert sorted(d.message_id for d in recorder.calls) == ["m0", "m1", "m2", "one"]
        depths = queue_depths(url, broker.prefix, broker.queues, retry_delays=broker.retry_delays)
        assert depths and set(depths.values()) == {0}
        # What a process checks before it starts, and what /readyz asks, take the list too.
        require_broker(url)
        assert broker_check(url, cache_s=0)() is None


def test_a_runtime_reconnects_to_the_other_address_when_its_node_stops() -> None:
    prefix = f"test.{uuid.uuid4().hex[:8]}"
    with _nodes("hs-failover-a", "hs-failover-b") as (a, b), _cleaned(b.amqp_url, prefix) as on_b:
        url = f"{a.amqp_url},{b.amqp_url}"
        recorder = Recorder()
        on_a = Broker(url=a.amqp_url, prefix=prefix)
        with running(_runtime(url, on_b, recorder)):
            # Connected to the first address: the runtime declared its queues on node a only.
            assert on_a.exists(on_a.names.work_queue("entities"))
            assert not on_b.exists(on_b.names.work_queue("entities"))
            on_a.close()
            a.stop()
            # It reconnects to node b and declares its queues there; a message sent there is consumed.
            wait_until(lambda: on_b.exists(on_b.names.work_queue("entities")), timeout=30, what="queues on b")
            with Publisher(url, **on_b.topology) as publisher:
                publisher.publish("entities", b"{}", message_id="after", type="SyncIt")
            wait_until(lambda: "acked" in recorder.event_names(), timeout=30, what="the message acked on b")
        assert [d.message_id for d in recorder.calls] == ["after"]
