"""Confirming publisher: persistent, mandatory, confirmed; reconnects a bounded number of times."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

import pika
import pika.exceptions
import structlog
from pika.adapters.blocking_connection import BlockingChannel, ReturnedMessage

from infra.amqp.bulk import (
    DEFAULT_WINDOW,
    BulkNackError,
    BulkUnroutableError,
    publish_window,
)
from infra.amqp.connection import (
    RECOVERABLE_ERRORS,
    backoff_delay,
    connection_parameters,
    mask_url,
    rotated,
)
from infra.amqp.messages import OutgoingMessage, build_properties
from infra.amqp.topology import (
    DEFAULT_DELIVERY_LIMIT,
    DEFAULT_PREFIX,
    DEFAULT_RETRY_DELAYS,
    QUEUES,
    Names,
    declare_topology,
)

__all__ = ["BulkNackError", "BulkUnroutableError", "OutgoingMessage", "Publisher"]

log = structlog.get_logger(__name__)

T = TypeVar("T")

# Retries after the first attempt, each on a fresh connection.
PUBLISH_RETRIES = 3

# Worth a new connection and another try. Deliberately not UnroutableError/NackError (the
# broker answered: retrying cannot route the message) nor ChannelClosedByBroker (a 404/406
# is a topology or configuration error).
RETRYABLE_ERRORS: tuple[type[BaseException], ...] = (
    pika.exceptions.AMQPConnectionError,
    pika.exceptions.ChannelWrongStateError,
    OSError,
)


class Publisher:
    """Publishes commands to ``{prefix}.commands`` with routing key = logical queue name.

    Not thread-safe: use one per thread. Connects lazily and declares the topology once per
    connection (when ``declare``). Idle connections may be closed by the broker for missed
    heartbeats; the next publish then reconnects and retries.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        queues: Sequence[str] = QUEUES,
        delivery_limit: int = DEFAULT_DELIVERY_LIMIT,
        retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
        declare: bool = True,
    ) -> None:
        self._url = url
        self._names = Names(prefix)
        self._queues = tuple(queues)
        self._delivery_limit = delivery_limit
        self._retry_delays = tuple(retry_delays)
        self._declare = declare
        self._params = connection_parameters(url, role="publisher", prefix=prefix)
        self._connection: pika.BlockingConnection | None = None
        self._channel: BlockingChannel | None = None

    def __enter__(self) -> Publisher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def publish(
        self,
        queue: str,
        body: bytes,
        *,
        message_id: str,
        type: str,
        headers: Mapping[str, Any] | None = None,
    ) -> None:
        """Publish one message and wait for the broker's confirm.

        Raises ``pika.exceptions.UnroutableError`` if no queue is bound for ``queue``,
        ``pika.exceptions.NackError`` if the broker refuses it, and the last connection error
        after ``PUBLISH_RETRIES`` reconnects. A retry after a lost confirm may duplicate the
        message; consumers deduplicate by ``message_id``.
        """
        properties = build_properties(message_id=message_id, type=type, headers=headers)

        def attempt() -> None:
            self._ensure_channel().basic_publish(
                self._names.commands_exchange, queue, body, properties, mandatory=True
            )

        self._retrying(attempt, "publish")
        log.debug("published", queue=queue, message_id=message_id, command=type)

    def publish_many(self, items: Iterable[OutgoingMessage], *, window: int = DEFAULT_WINDOW) -> int:
        """Publish many messages with up to ``window`` confirms outstanding; return the count.

        Messages whose confirm never arrived are resent on a new connection (at most
        ``PUBLISH_RETRIES`` times). After the whole batch has been tried, raises
        ``BulkNackError`` / ``BulkUnroutableError`` (subclasses of pika's ``NackError`` /
        ``UnroutableError``) if any message was refused or matched no queue; their
        ``published`` attribute counts the ones that made it.
        """
        pending = list(items)
        if not pending:
            return 0
        self._retrying(self._ensure_channel, "connect")  # topology, once per connection
        started = time.monotonic()
        published = 0
        returned: list[ReturnedMessage] = []
        nacked: list[OutgoingMessage] = []
        for attempt in range(PUBLISH_RETRIES + 1):
            result = publish_window(self._params, self._names.commands_exchange, pending, window=window)
            published += result.confirmed - len(result.returned)
            returned += result.returned
            nacked += result.nacked
            pending = result.unconfirmed
            if not pending:
                break
            error = result.error or RuntimeError("bulk publish ended early")
            if not isinstance(error, (*RETRYABLE_ERRORS, TimeoutError)):
                raise error
            if attempt == PUBLISH_RETRIES:
                raise error
            self._pause(attempt, "publish_many", error, unconfirmed=len(pending))
        elapsed = time.monotonic() - started
        log.info(
            "published_many",
            count=published,
            seconds=round(elapsed, 3),
            per_second=round(published / elapsed) if elapsed > 0 else None,
        )
        if nacked:
            raise BulkNackError(nacked, published=published)
        if returned:
            raise BulkUnroutableError(returned, published=published)
        return published

    def close(self) -> None:
        """Close the connection, if any. The publisher reconnects if used again."""
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and connection.is_open:
            with contextlib.suppress(*RECOVERABLE_ERRORS):
                connection.close()

    # -- internals ----------------------------------------------------------------------

    def _ensure_channel(self) -> BlockingChannel:
        if self._connection is not None and self._channel is not None:
            # Reads anything pending, such as the broker closing an idle connection whose
            # heartbeats we missed, so a dead connection is noticed before publishing.
            self._connection.process_data_events(time_limit=0)
            if self._connection.is_open and self._channel.is_open:
                return self._channel
        self.close()
        connection = pika.BlockingConnection(self._params)
        try:
            channel = connection.channel()
            # Confirms make basic_publish block until the broker has the message, and
            # turn a mandatory return into UnroutableError.
            channel.confirm_delivery()
            if self._declare:
                declare_topology(
                    channel,
                    prefix=self._names.prefix,
                    queues=self._queues,
                    delivery_limit=self._delivery_limit,
                    retry_delays=self._retry_delays,
                )
        except BaseException:
            with contextlib.suppress(*RECOVERABLE_ERRORS):
                connection.close()
            raise
        self._connection, self._channel = connection, channel
        log.info("publisher_connected", url=mask_url(self._url), prefix=self._names.prefix)
        return channel

    def _retrying(self, operation: Callable[[], T], what: str) -> T:
        for attempt in range(PUBLISH_RETRIES + 1):
            try:
                return operation()
            except RETRYABLE_ERRORS as exc:
                self.close()
                # Start the reconnect at the next broker address (pika then tries them all).
                self._params = rotated(self._params, 1)
                if attempt == PUBLISH_RETRIES:
                    raise
                self._pause(attempt, what, exc)
        raise AssertionError("unreachable")

    def _pause(self, attempt: int, what: str, error: BaseException, **fields: Any) -> None:
        delay = backoff_delay(attempt, base=0.2, cap=2.0)
        log.warning(
            f"{what}_retrying",
            error=repr(error),
            attempt=attempt + 1,
            retry_in_s=round(delay, 2),
            **fields,
        )
        time.sleep(delay)
