"""Dead-letter access and queue depths: peek, replay, purge, and broker-parked letters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from amqp_testkit import Broker, text, wait_until

from infra.amqp import (
    dead_letters,
    declare_topology,
    purge_dead_letters,
    queue_depths,
    replay_dead_letters,
)

pytestmark = pytest.mark.integration


def _park(broker: Broker, *message_ids: str, queue: str = "entities", **headers) -> None:
    """Dead-letter messages the way the runtime does: our headers, on the dead exchange."""
    with broker.channel() as ch:
        declare_topology(ch, **broker.topology)
    for i, message_id in enumerate(message_ids):
        broker.publish(
            broker.names.dead_exchange,
            queue,
            b'{"i": %d}' % i,
            message_id=message_id,
            type="SyncIt",
            headers={
                "x-error-reason": f"boom {message_id}",
                "x-error-type": "UnknownAccount",
                "x-original-queue": queue,
                "x-failed-at": "2026-11-26T01:00:00+00:00",
                "x-retry-count": 3,
                "x-first-failed-at": "2026-11-25T01:00:00.000+00:00",
                "x-dead-letter-count": 1,
                "account_id": 42,
                **headers,
            },
        )


def test_dead_letters_lists_reasons_without_removing_anything(broker: Broker) -> None:
    _park(broker, "a", "b", "c")

    first = dead_letters(broker.url, broker.prefix, "entities", limit=2)
    again = dead_letters(broker.url, broker.prefix, "entities")

    assert [d.message_id for d in first] == ["a", "b"]
    assert [d.message_id for d in again] == ["a", "b", "c"]
    letter = again[0]
    assert (letter.type, letter.reason, letter.error_type) == ("SyncIt", "boom a", "UnknownAccount")
    assert letter.original_queue == "entities"
    assert letter.failed_at == datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
    assert letter.death_count == 1
    assert letter.body == b'{"i": 0}'
    assert letter.headers["account_id"] == 42
    assert broker.depth(broker.names.dead_queue("entities")) == 3


def test_a_letter_parked_by_the_broker_delivery_limit_is_described_from_x_death(
    broker: Broker,
) -> None:
    broker.delivery_limit = 0  # the first requeue already exceeds it
    with broker.channel() as ch:
        declare_topology(ch, **broker.topology)
    broker.publish(broker.names.commands_exchange, "entities", message_id="p", type="SyncIt")
    with broker.channel() as ch:
        method, _properties, _body = ch.basic_get(broker.names.work_queue("entities"))
        ch.basic_reject(method.delivery_tag, requeue=True)

    # The quorum queue dead-letters on its own time, after the reject has returned.
    (letter,) = wait_until(
        lambda: dead_letters(broker.url, broker.prefix, "entities"),
        what="the broker to park the letter past its delivery limit",
    )

    assert letter.message_id == "p"
    assert letter.reason == "broker: delivery_limit"
    assert letter.error_type is None
    assert letter.original_queue == "entities"
    assert letter.failed_at is not None
    assert abs(letter.failed_at - datetime.now(UTC)) < timedelta(minutes=5)
    assert letter.death_count == 1


def test_replay_moves_chosen_letters_back_to_work_with_a_fresh_retry_count(
    broker: Broker,
) -> None:
    _park(broker, "a", "b", "c")

    moved = replay_dead_letters(broker.url, broker.prefix, "entities", message_ids={"a", "c"})

    assert moved == 2
    assert [d.message_id for d in dead_letters(broker.url, broker.prefix, "entities")] == ["b"]
    replayed = [broker.get(broker.names.work_queue("entities")) for _ in range(2)]
    assert [r[1].message_id for r in replayed if r] == ["a", "c"]
    _method, properties, body = replayed[0] or (None, None, None)
    headers = properties.headers
    assert body == b'{"i": 0}'
    assert (properties.type, properties.delivery_mode) == ("SyncIt", 2)
    # x-first-failed-at too: a replayed message gets a fresh day of transient retries.
    for gone in (
        "x-error-reason",
        "x-error-type",
        "x-retry-count",
        "x-failed-at",
        "x-first-failed-at",
        "x-death",
    ):
        assert gone not in headers
    assert headers["x-dead-letter-count"] == 1
    assert headers["account_id"] == 42
    assert text(headers["x-replayed-at"]).startswith(str(datetime.now(UTC).year))


def test_replay_without_ids_moves_everything(broker: Broker) -> None:
    _park(broker, "a", "b")

    assert replay_dead_letters(broker.url, broker.prefix, "entities") == 2

    assert broker.depth(broker.names.dead_queue("entities")) == 0
    assert broker.depth(broker.names.work_queue("entities")) == 2


def test_purge_removes_chosen_letters_or_all(broker: Broker) -> None:
    _park(broker, "a", "b", "c")

    assert purge_dead_letters(broker.url, broker.prefix, "entities", message_ids=["b"]) == 1
    remaining = dead_letters(broker.url, broker.prefix, "entities")
    assert [d.message_id for d in remaining] == ["a", "c"]

    assert purge_dead_letters(broker.url, broker.prefix, "entities") == 2
    assert dead_letters(broker.url, broker.prefix, "entities") == []


def test_queue_depths_counts_every_queue_of_the_topology(broker: Broker) -> None:
    _park(broker, "a", "b", queue="time_entries")
    broker.publish(broker.names.commands_exchange, "entities")

    with broker.channel() as ch:
        from_channel = queue_depths(ch, broker.prefix, broker.queues, retry_delays=broker.retry_delays)
    from_url = queue_depths(broker.url, broker.prefix, broker.queues, retry_delays=(1,))

    n = broker.names
    assert (
        from_channel
        == from_url
        == {
            n.work_queue("entities"): 1,
            n.dead_queue("entities"): 0,
            n.retry_queue("entities", 0): 0,
            n.work_queue("time_entries"): 0,
            n.dead_queue("time_entries"): 2,
            n.retry_queue("time_entries", 0): 0,
        }
    )
