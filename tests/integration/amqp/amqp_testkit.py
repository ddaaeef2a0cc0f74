"""Helpers for the RabbitMQ layer's integration tests (imported by the test modules).

Kept out of conftest.py so tests can import the types; the fixtures live in conftest.py.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pika
import pika.exceptions
import pytest
from pika.adapters.blocking_connection import BlockingChannel

from infra.amqp import ConsumerRuntime, Delivery, Names
from infra.amqp.topology import QueueSpec, declare_exchanges, queue_specs


def wait_until(predicate: Callable[[], Any], *, timeout: float = 10.0, what: str = "") -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what or predicate}")
        time.sleep(0.05)


@dataclass
class Broker:
    """One test's view of the broker: its prefix, settings, and a helper connection."""

    url: str
    prefix: str
    queues: tuple[str, ...] = ("entities", "time_entries")
    delivery_limit: int = 3
    retry_delays: tuple[float, ...] = (1,)
    _connection: pika.BlockingConnection | None = field(default=None, repr=False)

    @property
    def names(self) -> Names:
        return Names(self.prefix)

    @property
    def topology(self) -> dict[str, Any]:
        """Keyword arguments shared by declare_topology, Publisher and ConsumerRuntime."""
        return {
            "prefix": self.prefix,
            "queues": self.queues,
            "delivery_limit": self.delivery_limit,
            "retry_delays": self.retry_delays,
        }

    @contextlib.contextmanager
    def channel(self) -> Iterator[BlockingChannel]:
        """A fresh confirm-mode channel on the helper connection (closed after use)."""
        if self._connection is None or not self._connection.is_open:
            self._connection = pika.BlockingConnection(pika.URLParameters(self.url))
        channel = self._connection.channel()
        channel.confirm_delivery()
        try:
            yield channel
        finally:
            if channel.is_open:
                channel.close()

    def publish(self, exchange: str, routing_key: str, body: bytes = b"{}", **props: Any) -> None:
        """A raw confirmed, mandatory publish (for setting up state without the Publisher)."""
        properties = pika.BasicProperties(delivery_mode=2, **props)
        with self.channel() as ch:
            ch.basic_publish(exchange, routing_key, body, properties, mandatory=True)

    def depth(self, queue_name: str) -> int:
        """Ready messages in a queue (unacked ones are not counted)."""
        with self.channel() as ch:
            return ch.queue_declare(queue_name, passive=True).method.message_count

    def get(self, queue_name: str) -> tuple[Any, pika.BasicProperties, bytes] | None:
        """Take one message (acked), or None if the queue is empty."""
        with self.channel() as ch:
            method, properties, body = ch.basic_get(queue_name, auto_ack=True)
            return None if method is None else (method, properties, body)

    def exists(self, queue_name: str) -> bool:
        """Whether the queue exists (a passive declare; its 404 closes only that channel)."""
        try:
            with self.channel() as ch:
                ch.queue_declare(queue_name, passive=True)
        except pika.exceptions.ChannelClosedByBroker as exc:
            if exc.reply_code == 404:
                return False
            raise
        return True

    def has_arguments(self, queue_name: str, arguments: dict[str, Any]) -> bool:
        """Whether an existing queue has these arguments: an equal declare is accepted."""
        try:
            with self.channel() as ch:
                ch.queue_declare(queue_name, durable=True, arguments=arguments)
        except pika.exceptions.ChannelClosedByBroker as exc:
            if exc.reply_code == 406:
                return False
            raise
        return True

    def held_argument(self, queue_name: str, arguments: dict[str, Any], key: str) -> str | None:
        """The value the broker holds for one argument of an existing queue, or None.

        Read back without the management plugin: a declare with ``arguments`` minus ``key``
        is refused with a 406 naming the value the queue has; accepted, the queue has none.
        ``arguments`` must otherwise match the queue's, or the 406 names another argument.
        """
        without = {k: v for k, v in arguments.items() if k != key}
        try:
            with self.channel() as ch:
                ch.queue_declare(queue_name, durable=True, arguments=without)
        except pika.exceptions.ChannelClosedByBroker as exc:
            assert exc.reply_code == 406 and f"inequivalent arg '{key}'" in exc.reply_text, exc
            found = re.search(r"current is the value '([^']*)'", exc.reply_text)
            assert found, exc.reply_text
            return found.group(1)
        return None

    def close(self) -> None:
        if self._connection is not None and self._connection.is_open:
            self._connection.close()


# The arguments this version adds to every queue with a dead-letter exchange.
AT_LEAST_ONCE = {"x-dead-letter-strategy": "at-least-once", "x-overflow": "reject-publish"}


def old_arguments(spec: QueueSpec) -> dict[str, Any]:
    """A queue's arguments as the previous version declared them."""
    return {k: v for k, v in spec.arguments.items() if k not in AT_LEAST_ONCE}


def declare_old_topology(broker: Broker) -> list[QueueSpec]:
    """The topology as the previous version declared it: no at-least-once dead-lettering."""
    specs = queue_specs(**broker.topology)
    with broker.channel() as ch:
        declare_exchanges(ch, broker.names)
        for spec in specs:
            ch.queue_declare(spec.name, durable=True, arguments=old_arguments(spec))
            ch.queue_bind(spec.name, spec.exchange, routing_key=spec.routing_key)
    return specs


def dead_lettering(specs: list[QueueSpec]) -> list[QueueSpec]:
    return [s for s in specs if "x-dead-letter-exchange" in s.arguments]


@dataclass
class Recorder:
    """Collects handler calls and runtime events across threads."""

    calls: list[Delivery] = field(default_factory=list)
    events: list[tuple[str, Delivery | None, dict]] = field(default_factory=list)

    def on_event(self, name: str, delivery: Delivery | None, fields: dict) -> None:
        self.events.append((name, delivery, fields))

    def event_names(self) -> list[str]:
        return [e[0] for e in list(self.events)]


@contextlib.contextmanager
def running(runtime: ConsumerRuntime, *, stop_within: float = 35.0) -> Iterator[threading.Thread]:
    """Run ``runtime`` on a thread for the block; then stop it and require that run() returns."""
    thread = threading.Thread(target=runtime.run, name="consumer-runtime", daemon=True)
    thread.start()
    try:
        wait_until(lambda: runtime.connected, timeout=10, what="runtime to connect")
        yield thread
    finally:
        runtime.stop()
        thread.join(timeout=stop_within)
        assert not thread.is_alive(), "run() did not return after stop()"


def text(value: Any) -> Any:
    """Header values may come back as bytes; compare them as str."""
    return value.decode() if isinstance(value, bytes) else value
