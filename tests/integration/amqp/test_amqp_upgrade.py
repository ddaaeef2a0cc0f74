"""Upgrading queues an older version declared: every message kept, the new arguments in place,
refused while workers consume, an interrupted run finished by the next, a second run a no-op."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator

import pika
import pytest
import structlog
from amqp_testkit import (
    AT_LEAST_ONCE,
    Broker,
    dead_lettering,
    declare_old_topology,
    old_arguments,
    wait_until,
)
from click.testing import CliRunner
from pika.adapters.blocking_connection import BlockingChannel

from harvest_sync.cli import main
from infra.amqp import QUEUES, ConsumerRuntime
from infra.amqp import upgrade as upgrade_module
from infra.amqp.topology import QueueSpec, queue_specs, upgrading_name
from infra.amqp.upgrade import QueueInUse, State, move_messages, upgrade_topology

pytestmark = pytest.mark.integration

N = 30


class Interrupted(Exception):
    """Stands for the process dying part-way through an upgrade."""


@pytest.fixture(autouse=True)
def long_retry_delays(broker: Broker) -> None:
    # Messages parked in a retry tier must stay there while a test counts them.
    broker.retry_delays = (300,)


def _publish(broker: Broker, exchange: str, routing_key: str, count: int, tag: str) -> set[str]:
    ids = [f"{tag}-{i}" for i in range(count)]
    with broker.channel() as ch:
        for i, message_id in enumerate(ids):
            properties = pika.BasicProperties(
                delivery_mode=2, message_id=message_id, type="SyncIt", headers={"account_id": i}
            )
            ch.basic_publish(exchange, routing_key, b'{"i": %d}' % i, properties, mandatory=True)
    return set(ids)


def _commands(broker: Broker, queue: str, count: int = N) -> set[str]:
    return _publish(broker, broker.names.commands_exchange, queue, count, queue)


def _take_all(broker: Broker, queue_name: str) -> list[str]:
    ids = []
    while (got := broker.get(queue_name)) is not None:
        ids.append(got[1].message_id)
    return ids


def _upgrade(broker: Broker) -> dict[str, tuple[State, bool, int]]:
    done = upgrade_topology(broker.url, **broker.topology)
    return {d.name: (d.state, d.resumed, d.moved) for d in done}


def _assert_upgraded(broker: Broker) -> None:
    for spec in dead_lettering(queue_specs(**broker.topology)):
        for key, value in AT_LEAST_ONCE.items():
            assert broker.held_argument(spec.name, spec.arguments, key) == value, (spec.name, key)
        assert not broker.exists(upgrading_name(spec.name))


def test_every_message_moves_into_queues_with_the_new_arguments(broker: Broker) -> None:
    # Given queues declared the old way, holding work, retries and dead letters
    declare_old_topology(broker)
    n = broker.names
    entities = _commands(broker, "entities")
    time_entries = _commands(broker, "time_entries", 7)
    retries = _publish(broker, n.retry_exchange, n.retry_routing_key("entities", 0), 5, "retry")
    _publish(broker, n.dead_exchange, "entities", 2, "dead")

    # When the upgrade runs
    done = _upgrade(broker)

    # Then each queue with a dead-letter exchange was replaced, its messages all kept
    assert done == {
        n.work_queue("entities"): (State.OUTDATED, False, N),
        n.work_queue("time_entries"): (State.OUTDATED, False, 7),
        n.retry_queue("entities", 0): (State.OUTDATED, False, 5),
        n.retry_queue("time_entries", 0): (State.OUTDATED, False, 0),
    }
    _assert_upgraded(broker)
    _method, properties, body = broker.get(n.work_queue("entities")) or (None, None, None)
    assert (properties.message_id, properties.type, body) == ("entities-0", "SyncIt", b'{"i": 0}')
    assert properties.headers["account_id"] == 0
    assert set(_take_all(broker, n.work_queue("entities"))) == entities - {"entities-0"}
    assert set(_take_all(broker, n.work_queue("time_entries"))) == time_entries
    assert set(_take_all(broker, n.retry_queue("entities", 0))) == retries
    assert broker.depth(n.dead_queue("entities")) == 2  # its arguments did not change
    # The new queues are bound as the old ones were (mandatory publishes would raise).
    broker.publish(n.commands_exchange, "entities")
    broker.publish(n.retry_exchange, n.retry_routing_key("time_entries", 0))

    # And a second run has nothing to do
    assert _upgrade(broker) == {}


def test_a_broker_without_the_backfill_queue_gets_it_and_keeps_the_parts_queued_on_time_entries(
    broker: Broker,
) -> None:
    # Given the queues of the version before backfill parts had a queue of their own, and
    # parts it queued on time_entries (a worker of time_entries still handles them there)
    broker.queues = tuple(q for q in QUEUES if q != "backfill")
    declare_old_topology(broker)
    parts = _commands(broker, "time_entries", 3)

    # When this version's upgrade runs
    broker.queues = QUEUES
    done = _upgrade(broker)

    # Then the backfill queue, its dead letters and retry tier are declared, bound and empty
    n = broker.names
    for name in (n.work_queue("backfill"), n.dead_queue("backfill"), n.retry_queue("backfill", 0)):
        assert done[name] == (State.ABSENT, False, 0)
    assert set(_take_all(broker, n.work_queue("time_entries"))) == parts
    broker.publish(n.commands_exchange, "backfill")
    assert broker.depth(n.work_queue("backfill")) == 1
    assert _upgrade(broker) == {}


def test_the_command_says_what_it_did_per_queue_then_that_there_is_nothing_to_do(broker: Broker) -> None:
    broker.queues = QUEUES
    declare_old_topology(broker)
    _commands(broker, "autofill", 3)
    env = {
        "AMQP_URL": broker.url,
        "AMQP_PREFIX": broker.prefix,
        "DELIVERY_LIMIT": str(broker.delivery_limit),
        "RETRY_DELAYS": "300",
        "LOG_LEVEL": "warning",
    }

    first = CliRunner().invoke(main, ["admin", "topology", "upgrade"], env=env)
    again = CliRunner().invoke(main, ["admin", "topology", "upgrade"], env=env)

    assert first.exit_code == 0, first.output
    n = broker.names
    lines = first.stdout.splitlines()
    assert len(lines) == 2 * len(QUEUES)  # a work queue and a retry tier each
    replaced = "declared anew with the new arguments"
    assert f"{n.work_queue('autofill')}: {replaced}, 3 message(s) moved" in lines
    assert f"{n.retry_queue('entities', 0)}: {replaced}, 0 message(s) moved" in lines
    nothing = "every queue already has the current arguments: nothing to do\n"
    assert (again.exit_code, again.stdout) == (0, nothing)
    _assert_upgraded(broker)


@pytest.fixture
def old_topology(broker: Broker) -> list[QueueSpec]:
    return declare_old_topology(broker)


@pytest.fixture
def a_worker_consuming(broker: Broker, old_topology: list[QueueSpec]) -> Iterator[str]:
    """A consumer on the time_entries work queue (empty, so it holds no message)."""
    queue = broker.names.work_queue("time_entries")
    connection = pika.BlockingConnection(pika.URLParameters(broker.url))
    channel = connection.channel()
    channel.basic_consume(queue, lambda *_: None)
    try:
        yield queue
    finally:
        connection.close()


def test_queues_in_use_are_refused_and_nothing_changes(
    broker: Broker, old_topology: list[QueueSpec], a_worker_consuming: str
) -> None:
    entities = _commands(broker, "entities")

    with pytest.raises(QueueInUse) as refused:
        upgrade_topology(broker.url, **broker.topology)
    env = {"AMQP_URL": broker.url, "AMQP_PREFIX": broker.prefix, "RETRY_DELAYS": "300", "DELIVERY_LIMIT": "3"}
    result = CliRunner().invoke(main, ["admin", "topology", "upgrade"], env=env)

    message = str(refused.value)
    assert f"{a_worker_consuming} (1 consumer(s))" in message
    assert "stop the workers" in message and "nothing was changed" in message
    assert result.exit_code == 1
    assert result.stderr == f"Error: {message}\n"  # one line
    for spec in dead_lettering(old_topology):
        assert broker.has_arguments(spec.name, old_arguments(spec)), spec.name
        assert not broker.exists(upgrading_name(spec.name))
    assert set(_take_all(broker, broker.names.work_queue("entities"))) == entities


def _crash_on_copy(monkeypatch: pytest.MonkeyPatch, crash_at: int) -> None:
    """Make the ``crash_at``-th message copy of the run fail, as if the process died."""
    calls = itertools.count(1)
    real = upgrade_module.copy_properties

    def copy_or_crash(*args, **kwargs):
        if next(calls) == crash_at:
            raise Interrupted(f"killed at copy {crash_at}")
        return real(*args, **kwargs)

    monkeypatch.setattr(upgrade_module, "copy_properties", copy_or_crash)


def _crash_on_redeclare(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """Make the first declare of ``name`` fail: the old queue is deleted, the new one not yet made."""
    real = QueueSpec.declare
    crashed = []

    def declare_or_crash(self: QueueSpec, channel: BlockingChannel) -> None:
        if self.name == name and not crashed:
            crashed.append(True)
            raise Interrupted("killed between delete and declare")
        real(self, channel)

    monkeypatch.setattr(QueueSpec, "declare", declare_or_crash)


# Only the entities work queue holds messages: copies 1..N empty it, N+1..2N bring them back.
# Each case: how to crash, then the old or new queue's depth (None: absent) and the temporary
# queue's after the crash, the state the next run finds, and how many messages it moves back.
HALF = N // 2
INTERRUPTIONS = {
    "while emptying the old queue": (
        lambda mp, b: _crash_on_copy(mp, HALF),
        (N - HALF + 1, HALF - 1),
        State.OUTDATED,
        N,
    ),
    "after deleting it": (
        lambda mp, b: _crash_on_redeclare(mp, b.names.work_queue("entities")),
        (None, N),
        State.ABSENT,
        N,
    ),
    "while moving the messages back": (
        lambda mp, b: _crash_on_copy(mp, N + HALF),
        (HALF - 1, N - HALF + 1),
        State.CURRENT,
        N - HALF + 1,
    ),
}


@pytest.mark.parametrize("when", list(INTERRUPTIONS))
def test_an_interrupted_run_is_finished_by_the_next_one(
    broker: Broker, monkeypatch: pytest.MonkeyPatch, when: str
) -> None:
    crash, depths_after_crash, found_state, moved_back = INTERRUPTIONS[when]
    declare_old_topology(broker)
    entities = _commands(broker, "entities")
    work, temp = broker.names.work_queue("entities"), upgrading_name(broker.names.work_queue("entities"))

    # Given a run that died part-way through the entities work queue
    crash(monkeypatch, broker)
    with pytest.raises(Interrupted):
        upgrade_topology(broker.url, **broker.topology)
    monkeypatch.undo()

    # (the message in hand when it died goes back to its queue, unacked)
    def depths() -> tuple[int | None, int]:
        return (broker.depth(work) if broker.exists(work) else None, broker.depth(temp))

    wait_until(lambda: depths() == depths_after_crash, what=f"queue depths {depths_after_crash}")

    # When the upgrade runs again
    done = _upgrade(broker)

    # Then it finishes that queue and goes on with the rest; no message is lost or doubled
    assert done[work] == (found_state, True, moved_back)
    assert done[broker.names.work_queue("time_entries")] == (State.OUTDATED, False, 0)
    _assert_upgraded(broker)
    assert sorted(_take_all(broker, work)) == sorted(entities)
    assert _upgrade(broker) == {}


def test_a_moved_message_leaves_its_delivery_count_behind(broker: Broker) -> None:
    source, target = f"{broker.prefix}.move.source", f"{broker.prefix}.move.target"
    try:
        with broker.channel() as ch:
            ch.queue_declare(source, durable=True, arguments={"x-queue-type": "quorum"})
            # A classic queue writes no x-delivery-count of its own: what arrives is the copy's.
            ch.queue_declare(target, durable=True)
        broker.publish("", source, message_id="m", headers={"account_id": 7})
        with broker.channel() as ch:
            method, _properties, _body = ch.basic_get(source)
            ch.basic_reject(method.delivery_tag, requeue=True)  # now x-delivery-count 1
        # The quorum queue takes the requeue on its own time, after the reject has returned.
        wait_until(lambda: broker.depth(source) == 1, what="the rejected message back in its queue")

        with broker.channel() as ch:
            assert move_messages(ch, source, target) == 1

        _method, properties, _body = broker.get(target) or (None, None, None)
        assert (properties.message_id, properties.headers) == ("m", {"account_id": 7})
        assert broker.depth(source) == 0
    finally:
        with broker.channel() as ch:
            ch.queue_delete(source)
            ch.queue_delete(target)


def test_a_worker_meeting_an_old_queue_names_the_upgrade_in_its_log(broker: Broker) -> None:
    declare_old_topology(broker)
    runtime = ConsumerRuntime(
        broker.url, dispatch=lambda d: None, reconnect_max_delay_s=1.0, **broker.topology
    )
    thread = threading.Thread(target=runtime.run, daemon=True)

    with structlog.testing.capture_logs() as logs:
        thread.start()
        try:
            found = wait_until(
                lambda: [e for e in list(logs) if e["event"] == "amqp_queue_arguments_differ"],
                what="the hint in the worker's log",
            )
        finally:
            runtime.stop()
            thread.join(timeout=10)

    assert "`harvest-sync admin topology upgrade`" in found[0]["fix"]
    assert "inequivalent arg 'x-dead-letter-strategy'" in found[0]["error"]
    assert found[0]["log_level"] == "error"
    assert not runtime.connected
