"""ConsumerRuntime against a real broker: outcomes, heartbeats, graceful stop, reconnects."""

from __future__ import annotations

import itertools
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from amqp_testkit import Broker, Recorder, running, text, wait_until

from domain.errors import TransientError, UnknownAccount
from infra.amqp import ConsumerRuntime, Delivery, Publisher

pytestmark = pytest.mark.integration


def _runtime(broker: Broker, recorder: Recorder, handler, **overrides) -> ConsumerRuntime:
    def dispatch(delivery: Delivery) -> None:
        recorder.calls.append(delivery)
        handler(delivery)

    options = {
        "queues": broker.queues,
        **broker.topology,
        "shutdown_grace_s": 5.0,
        "requeue_delay_s": 0.2,
        "on_event": recorder.on_event,
        **overrides,
    }
    return ConsumerRuntime(broker.url, dispatch=dispatch, **options)


def _publish(broker: Broker, queue: str = "entities", message_id: str = "m1") -> None:
    with Publisher(broker.url, **broker.topology) as publisher:
        publisher.publish(queue, b'{"account_id": 42}', message_id=message_id, type="SyncIt")


def _dead_letter(broker: Broker, queue: str = "entities"):
    wait_until(lambda: broker.depth(broker.names.dead_queue(queue)) == 1, what="a dead letter")
    got = broker.get(broker.names.dead_queue(queue))
    assert got is not None
    return got


def test_a_handler_that_returns_gets_its_message_acked(broker: Broker, recorder: Recorder) -> None:
    runtime = _runtime(broker, recorder, lambda d: None)

    with running(runtime):
        _publish(broker)
        wait_until(lambda: recorder.event_names() == ["acked"], what="acked")

    (delivery,) = recorder.calls
    assert (delivery.queue, delivery.body, delivery.message_id) == ("entities", b'{"account_id": 42}', "m1")
    assert (delivery.type, delivery.redelivered, delivery.retry_count) == ("SyncIt", False, 0)
    assert broker.depth(broker.names.work_queue("entities")) == 0  # acked, not requeued on close


def test_a_failing_on_event_hook_does_not_stop_the_ack(broker: Broker, recorder: Recorder) -> None:
    def hook(name: str, delivery: Delivery | None, fields: dict) -> None:
        recorder.on_event(name, delivery, fields)
        raise ValueError("metrics backend down")

    runtime = _runtime(broker, recorder, lambda d: None, on_event=hook)
    with running(runtime):
        _publish(broker, message_id="a")
        _publish(broker, message_id="b")
        wait_until(lambda: recorder.event_names() == ["acked", "acked"], what="both acked")
        assert runtime.connected

    assert broker.depth(broker.names.work_queue("entities")) == 0


def test_transient_errors_retry_through_the_delay_tier_until_the_time_bound_then_dead_letter(
    broker: Broker, recorder: Recorder
) -> None:
    seen_at: list[datetime] = []

    def handler(delivery: Delivery) -> None:
        seen_at.append(datetime.now(UTC))
        raise TransientError("Harvest said 429")

    # A 1 s tier, repeating, against a 2.5 s bound: the third or fourth attempt is past it.
    runtime = _runtime(broker, recorder, handler, transient_retry_for_s=2.5)
    with running(runtime):
        _publish(broker, "time_entries")
        _method, properties, body = _dead_letter(broker, "time_entries")

    retries = len(recorder.calls) - 1
    assert retries >= 2
    assert [d.retry_count for d in recorder.calls] == list(range(retries + 1))
    assert all((b - a).total_seconds() >= 0.9 for a, b in itertools.pairwise(seen_at))
    assert recorder.event_names() == ["retry_scheduled"] * retries + ["dead_lettered"]
    assert text(recorder.calls[1].headers["x-last-error"]) == "Harvest said 429"
    # Every retry carries the time of the first failure, unchanged ...
    stamps = {text(d.headers["x-first-failed-at"]) for d in recorder.calls[1:]}
    assert len(stamps) == 1
    first_failed_at = datetime.fromisoformat(stamps.pop())
    assert abs((first_failed_at - seen_at[0]).total_seconds()) < 0.5
    # ... and only the attempt past the bound from it is dead-lettered.
    assert [(t - first_failed_at).total_seconds() >= 2.5 for t in seen_at] == [False] * retries + [True]
    headers = properties.headers
    assert body == b'{"account_id": 42}'
    assert (properties.message_id, properties.type) == ("m1", "SyncIt")
    reason = text(headers["x-error-reason"])
    assert re.fullmatch(rf"gave up after {retries} retries over [34] s: Harvest said 429", reason), reason
    assert text(headers["x-error-type"]) == "TransientError"
    assert text(headers["x-original-queue"]) == "time_entries"
    assert headers["x-retry-count"] == retries
    assert broker.depth(broker.names.work_queue("time_entries")) == 0


def test_a_permanent_error_is_dead_lettered_at_once(broker: Broker, recorder: Recorder) -> None:
    def handler(delivery: Delivery) -> None:
        raise UnknownAccount("account 42 does not exist")

    runtime = _runtime(broker, recorder, handler)
    with running(runtime):
        _publish(broker)
        _method, properties, _body = _dead_letter(broker)

    assert len(recorder.calls) == 1
    assert recorder.event_names() == ["dead_lettered"]
    headers = properties.headers
    assert text(headers["x-error-reason"]) == "account 42 does not exist"
    assert text(headers["x-error-type"]) == "UnknownAccount"
    assert text(headers["x-original-queue"]) == "entities"
    assert datetime.fromisoformat(text(headers["x-failed-at"])).tzinfo is not None
    assert headers["x-retry-count"] == 0
    assert properties.message_id == "m1"
    assert broker.depth(broker.names.work_queue("entities")) == 0


def test_an_unexpected_error_is_requeued_with_backoff_until_the_delivery_limit_then_dead_lettered(
    broker: Broker, recorder: Recorder
) -> None:
    seen_at: list[float] = []

    def handler(delivery: Delivery) -> None:
        seen_at.append(time.monotonic())
        raise RuntimeError("bug in handler")

    runtime = _runtime(broker, recorder, handler)  # delivery_limit=3
    with running(runtime):
        _publish(broker)
        _method, properties, _body = _dead_letter(broker)

    assert [d.delivery_count for d in recorder.calls] == [0, 1, 2]
    assert [d.redelivered for d in recorder.calls] == [False, True, True]
    assert recorder.event_names() == ["requeued", "requeued", "dead_lettered"]
    # Held 0.2 s, then 0.4 s, before each requeue (requeue_delay_s * 2**delivery_count).
    gaps = [b - a for a, b in itertools.pairwise(seen_at)]
    assert gaps[0] >= 0.19 and gaps[1] >= 0.39, gaps
    assert [e[2].get("held_ms", 0) >= 190 for e in recorder.events[:2]] == [True, True]
    assert text(properties.headers["x-error-reason"]) == "delivery limit 3 reached: bug in handler"
    assert text(properties.headers["x-error-type"]) == "RuntimeError"


def test_a_handler_longer_than_the_heartbeat_timeout_keeps_its_connection(
    broker: Broker, recorder: Recorder
) -> None:
    # Inline in pika's callback, 8 s of work with heartbeat=2 loses the connection
    # (measured); the runtime must keep servicing heartbeats on the connection thread.
    runtime = _runtime(broker, recorder, lambda d: time.sleep(8), heartbeat=2)

    with running(runtime):
        _publish(broker)
        wait_until(lambda: recorder.events, timeout=20, what="an outcome")
        assert runtime.connected

    # One call, acked: a lost connection would have meant a redelivery and a stale result.
    assert recorder.event_names() == ["acked"]
    assert len(recorder.calls) == 1
    assert broker.depth(broker.names.work_queue("entities")) == 0


def test_stop_lets_an_inflight_handler_finish_and_acks_it(broker: Broker, recorder: Recorder) -> None:
    started = threading.Event()

    def handler(delivery: Delivery) -> None:
        started.set()
        time.sleep(2)

    runtime = _runtime(broker, recorder, handler)
    thread = threading.Thread(target=runtime.run, daemon=True)
    thread.start()
    wait_until(lambda: runtime.connected, what="connected")
    _publish(broker)
    assert started.wait(10)

    stop_called = time.monotonic()
    runtime.stop()
    thread.join(timeout=10)

    assert not thread.is_alive()
    assert time.monotonic() - stop_called < 5
    assert recorder.event_names() == ["acked"]
    assert not runtime.connected
    assert broker.depth(broker.names.work_queue("entities")) == 0


def test_stop_returns_after_the_grace_period_leaving_a_slow_delivery_for_redelivery(
    broker: Broker, recorder: Recorder
) -> None:
    started, release = threading.Event(), threading.Event()

    def handler(delivery: Delivery) -> None:
        started.set()
        release.wait(30)

    runtime = _runtime(broker, recorder, handler, shutdown_grace_s=1.0)
    thread = threading.Thread(target=runtime.run, daemon=True)
    thread.start()
    wait_until(lambda: runtime.connected, what="connected")
    _publish(broker)
    assert started.wait(10)

    stop_called = time.monotonic()
    runtime.stop()
    thread.join(timeout=10)
    try:
        assert not thread.is_alive()
        assert time.monotonic() - stop_called < 4
        # Unacked on close, so the broker put it back for another pod.
        assert broker.depth(broker.names.work_queue("entities")) == 1
    finally:
        release.set()
    # The handler's late result belongs to a closed connection: dropped, never acked.
    wait_until(lambda: recorder.event_names() == ["stale_dropped"], what="stale_dropped")


def test_a_result_from_a_lost_connection_is_dropped_and_the_redelivery_is_acked(
    broker: Broker, recorder: Recorder, kill_connections: Callable[[str], int]
) -> None:
    first_call, release = threading.Event(), threading.Event()

    def handler(delivery: Delivery) -> None:
        if not first_call.is_set():
            first_call.set()
            release.wait(30)  # still working when its connection dies

    runtime = _runtime(broker, recorder, handler)
    with running(runtime):
        _publish(broker)
        assert first_call.wait(10)

        assert kill_connections(f"harvest-sync/consumer/{broker.prefix}/") == 1

        # The runtime reconnects and gets the message again; this time it is acked.
        wait_until(lambda: "acked" in recorder.event_names(), timeout=15, what="redelivery")
        release.set()
        wait_until(lambda: "stale_dropped" in recorder.event_names(), what="stale result")
        assert runtime.connected

    assert sorted(recorder.event_names()) == ["acked", "stale_dropped"]
    assert [d.redelivered for d in recorder.calls] == [False, True]
    assert broker.depth(broker.names.work_queue("entities")) == 0
    assert broker.depth(broker.names.dead_queue("entities")) == 0


@pytest.mark.broker_restart
def test_the_runtime_keeps_consuming_across_a_broker_restart(
    broker: Broker, recorder: Recorder, restart_broker: Callable[[], None]
) -> None:
    runtime = _runtime(broker, recorder, lambda d: None, reconnect_max_delay_s=2.0)
    with running(runtime):
        _publish(broker, message_id="before")
        wait_until(lambda: recorder.event_names() == ["acked"], what="first ack")

        restart_broker()
        broker.close()  # the helper connection died with the broker too

        wait_until(lambda: runtime.connected, timeout=30, what="reconnect after restart")
        _publish(broker, message_id="after")
        wait_until(lambda: recorder.event_names() == ["acked", "acked"], what="second ack")

    assert [d.message_id for d in recorder.calls] == ["before", "after"]


def test_a_retry_copy_that_reaches_no_queue_gives_the_original_back(
    broker: Broker, recorder: Recorder
) -> None:
    def handler(delivery: Delivery) -> None:
        raise TransientError("Harvest timed out")

    runtime = _runtime(broker, recorder, handler)
    with running(runtime):
        # Given the retry tier vanished under a running consumer
        with broker.channel() as ch:
            ch.queue_delete(broker.names.retry_queue("entities", 0))
        # (a raw publish: the Publisher would declare the tier again)
        broker.publish(broker.names.commands_exchange, "entities", message_id="m1", type="SyncIt")

        # Then the message is never acked away: requeued each time, until the broker's own
        # delivery limit (3, so 4 deliveries) parks it in the dead queue.
        _method, properties, _body = _dead_letter(broker)

    assert recorder.event_names() == ["requeued"] * 4
    assert "retry_scheduled copy not accepted" in recorder.events[0][2]["reason"]
    assert "x-error-reason" not in properties.headers  # parked by the broker, not by us
    assert text(properties.headers["x-first-death-reason"]) == "delivery_limit"
