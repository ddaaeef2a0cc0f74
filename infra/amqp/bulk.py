"""Bulk publishing with a window of outstanding publisher confirms.

``BlockingChannel.basic_publish`` in confirm mode waits for each message's confirm before it
returns: one broker round trip plus a quorum-queue log write per message, about 1.7k msg/s on
the project's 2-core machine. pika's blocking API has no public way to keep several confirms
outstanding, so bulk publishing runs on the asynchronous ``SelectConnection`` instead: keep up
to ``window`` unconfirmed messages in flight and count confirms as they stream back (RabbitMQ
batches them with ``multiple=True``).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import pika
import pika.connection
import pika.exceptions
from pika.adapters.blocking_connection import ReturnedMessage
from pika.channel import Channel
from pika.spec import Basic

from infra.amqp.messages import OutgoingMessage, build_properties

DEFAULT_WINDOW = 1000
# Give up on a connection when no confirm arrived for this long while messages are
# outstanding (e.g. the broker is blocked by a resource alarm).
STALL_TIMEOUT_S = 30.0


class BulkUnroutableError(pika.exceptions.UnroutableError):
    """Some messages of a bulk publish matched no queue; ``published`` others did."""

    def __init__(self, messages: Sequence[ReturnedMessage], *, published: int) -> None:
        super().__init__(messages)
        self.published = published


class BulkNackError(pika.exceptions.NackError):
    """The broker refused (nacked) some messages of a bulk publish."""

    def __init__(self, nacked: Sequence[OutgoingMessage], *, published: int) -> None:
        super().__init__([])
        self.nacked = list(nacked)
        self.published = published

    def __str__(self) -> str:
        return f"{len(self.nacked)} message(s) NACKed"


@dataclass
class WindowResult:
    """What one connection achieved. ``unconfirmed`` messages are safe to send again."""

    confirmed: int = 0  # acked by the broker, unroutable ones included
    returned: list[ReturnedMessage] = field(default_factory=list)
    nacked: list[OutgoingMessage] = field(default_factory=list)
    unconfirmed: list[OutgoingMessage] = field(default_factory=list)
    error: BaseException | None = None


def publish_window(
    params: pika.ConnectionParameters | Sequence[pika.ConnectionParameters],
    exchange: str,
    messages: Sequence[OutgoingMessage],
    *,
    window: int = DEFAULT_WINDOW,
) -> WindowResult:
    """Publish ``messages`` (routing key = ``message.queue``) on one new connection.

    ``params`` may list several broker addresses (see ``connection_parameters``): they are
    tried in order until one opens a connection, as ``pika.BlockingConnection`` does.
    Never raises for broker or connection trouble: the result says what was confirmed and
    what was not, and ``error`` holds the reason a run ended early.
    """
    addresses = [params] if isinstance(params, pika.connection.Parameters) else list(params)
    if not addresses:
        raise ValueError("publish_window needs at least one ConnectionParameters")
    for address in addresses[:-1]:
        run = _WindowRun(address, exchange, messages, window)
        result = run.run()
        if run.opened:  # nothing is sent before the connection opens
            return result
    return _WindowRun(addresses[-1], exchange, messages, window).run()


class _WindowRun:
    """Callback state machine, single-threaded on the SelectConnection's ioloop."""

    def __init__(
        self,
        params: pika.ConnectionParameters,
        exchange: str,
        messages: Sequence[OutgoingMessage],
        window: int,
    ) -> None:
        self._params = params
        self._exchange = exchange
        self._pending: deque[OutgoingMessage] = deque(messages)
        self._window = max(1, window)
        # Delivery tag -> message; insertion order is tag order, which `multiple` acks need.
        self._outstanding: dict[int, OutgoingMessage] = {}
        self._next_tag = 1
        self._last_progress = time.monotonic()
        self._result = WindowResult()
        self._done = False
        self._connection: pika.SelectConnection | None = None
        self._channel: Channel | None = None
        # Whether the connection opened; until then nothing was sent (another address may be tried).
        self.opened = False

    def run(self) -> WindowResult:
        if not self._pending:
            return self._result
        self._connection = pika.SelectConnection(
            self._params,
            on_open_callback=self._on_connection_open,
            on_open_error_callback=self._on_open_error,
            on_close_callback=self._on_connection_closed,
        )
        self._connection.ioloop.call_later(1.0, self._watchdog)
        self._connection.ioloop.start()
        self._result.unconfirmed = [*self._outstanding.values(), *self._pending]
        return self._result

    # -- connection and channel lifecycle ----------------------------------------------

    def _on_connection_open(self, connection: pika.SelectConnection) -> None:
        self.opened = True
        connection.channel(on_open_callback=self._on_channel_open)

    def _on_open_error(self, connection: pika.SelectConnection, error: object) -> None:
        self._fail(
            error if isinstance(error, BaseException) else pika.exceptions.AMQPConnectionError(str(error))
        )
        connection.ioloop.stop()

    def _on_connection_closed(self, connection: pika.SelectConnection, reason: BaseException) -> None:
        if not self._done:
            self._fail(reason)
        connection.ioloop.stop()

    def _on_channel_open(self, channel: Channel) -> None:
        self._channel = channel
        channel.add_on_close_callback(self._on_channel_closed)
        # Returns arrive before the ack of the same message (mandatory needs confirms).
        channel.add_on_return_callback(self._on_return)
        channel.confirm_delivery(ack_nack_callback=self._on_confirm, callback=lambda _frame: self._fill())

    def _on_channel_closed(self, _channel: Channel, reason: BaseException) -> None:
        if not self._done:
            self._fail(reason)
            self._close()

    # -- publishing and confirms --------------------------------------------------------

    def _fill(self) -> None:
        assert self._channel is not None
        while self._pending and len(self._outstanding) < self._window:
            message = self._pending.popleft()
            properties = build_properties(
                message_id=message.message_id, type=message.type, headers=message.headers
            )
            self._channel.basic_publish(
                self._exchange, message.queue, message.body, properties, mandatory=True
            )
            self._outstanding[self._next_tag] = message
            self._next_tag += 1
        if not self._pending and not self._outstanding:
            self._done = True
            self._close()

    def _on_confirm(self, frame: pika.frame.Method) -> None:
        method = frame.method
        acked = isinstance(method, Basic.Ack)
        tags = self._confirmed_tags(method.delivery_tag, method.multiple)
        for tag in tags:
            message = self._outstanding.pop(tag)
            if acked:
                self._result.confirmed += 1
            else:
                self._result.nacked.append(message)
        self._last_progress = time.monotonic()
        self._fill()

    def _confirmed_tags(self, delivery_tag: int, multiple: bool) -> list[int]:
        if not multiple:
            return [delivery_tag] if delivery_tag in self._outstanding else []
        tags = []
        for tag in self._outstanding:
            if tag > delivery_tag:
                break
            tags.append(tag)
        return tags

    def _on_return(
        self,
        _channel: Channel,
        method: Basic.Return,
        properties: pika.BasicProperties,
        body: bytes,
    ) -> None:
        self._result.returned.append(ReturnedMessage(method, properties, body))

    # -- endings ------------------------------------------------------------------------

    def _watchdog(self) -> None:
        if self._done or self._connection is None or self._connection.is_closed:
            return
        if self._outstanding and time.monotonic() - self._last_progress > STALL_TIMEOUT_S:
            self._fail(TimeoutError(f"no publisher confirm for {STALL_TIMEOUT_S:.0f} s"))
            self._close()
            return
        self._connection.ioloop.call_later(1.0, self._watchdog)

    def _fail(self, error: BaseException) -> None:
        if self._result.error is None:
            self._result.error = error

    def _close(self) -> None:
        connection = self._connection
        if connection is not None and not (connection.is_closing or connection.is_closed):
            connection.close()
