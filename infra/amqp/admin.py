"""Queue depths and dead-letter access (list, replay, purge) for admin commands."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pika
import pika.exceptions
import structlog
from pika.adapters.blocking_connection import BlockingChannel

from infra.amqp.connection import blocking_channel, connection_parameters
from infra.amqp.messages import (
    X_DEAD_LETTER_COUNT,
    X_DEATH,
    X_ERROR_REASON,
    X_ERROR_TYPE,
    X_FAILED_AT,
    X_FIRST_FAILED_AT,
    X_LAST_ERROR,
    X_ORIGINAL_QUEUE,
    X_REPLAYED_AT,
    X_RETRY_COUNT,
    clean_headers,
    copy_properties,
    header_int,
    utc_now_iso,
)
from infra.amqp.topology import DEFAULT_RETRY_DELAYS, Names, all_queue_names

log = structlog.get_logger(__name__)

# x-death reasons that mean "this message failed" (not "its retry delay expired").
_FAILURE_REASONS = ("delivery_limit", "rejected", "maxlen")
# Dropped on replay; a replayed message's transient-retry clock starts again with it.
_ERROR_HEADERS = (
    X_FIRST_FAILED_AT,
    X_ERROR_REASON,
    X_ERROR_TYPE,
    X_ORIGINAL_QUEUE,
    X_FAILED_AT,
    X_RETRY_COUNT,
    X_LAST_ERROR,
)


@dataclass(frozen=True)
class DeadLetter:
    """A message parked in a dead queue, with why and when it failed."""

    message_id: str | None
    type: str | None
    reason: str | None
    error_type: str | None  # None when the broker dead-lettered it (delivery limit)
    original_queue: str | None  # logical queue name
    failed_at: datetime | None
    death_count: int
    body: bytes = field(repr=False)
    headers: dict[str, Any] = field(repr=False)

    @classmethod
    def from_message(cls, names: Names, properties: pika.BasicProperties, body: bytes) -> DeadLetter:
        """Parse our own dead-letter headers, or the broker's ``x-death`` when it parked it."""
        headers = dict(properties.headers or {})
        deaths = [d for d in headers.get(X_DEATH) or [] if isinstance(d, Mapping)]
        failures = [d for d in deaths if _text(d.get("reason")) in _FAILURE_REASONS]
        if X_ERROR_REASON in headers:
            reason = _text(headers.get(X_ERROR_REASON))
            error_type = _text(headers.get(X_ERROR_TYPE)) or None
            original_queue = _text(headers.get(X_ORIGINAL_QUEUE))
            failed_at = _parse_time(headers.get(X_FAILED_AT))
        else:
            latest = failures[0] if failures else {}  # x-death is most recent first
            reason = f"broker: {_text(latest.get('reason')) or 'unknown'}"
            error_type = None
            original_queue = names.logical_queue(_text(latest.get("queue")) or "")
            failed_at = _parse_time(latest.get("time"))
        broker_deaths = sum(header_int(d, "count") for d in failures)
        return cls(
            message_id=properties.message_id,
            type=properties.type,
            reason=reason,
            error_type=error_type,
            original_queue=original_queue,
            failed_at=failed_at,
            death_count=max(1, header_int(headers, X_DEAD_LETTER_COUNT) + broker_deaths),
            body=body,
            headers=headers,
        )


def queue_depths(
    source: BlockingChannel | str,
    prefix: str,
    queues: Sequence[str],
    *,
    retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
) -> dict[str, int]:
    """Ready-message count of every work, dead and retry queue, keyed by queue name.

    ``source`` is a channel or an AMQP URL. Unacked (in-flight) messages are not counted.
    A missing queue raises ``ChannelClosedByBroker`` (404), which closes the channel.
    """
    names = all_queue_names(prefix, queues, len(retry_delays))
    if isinstance(source, str):
        with blocking_channel(source, role="admin", prefix=prefix) as channel:
            return _depths(channel, names)
    return _depths(source, names)


def _depths(channel: BlockingChannel, names: list[str]) -> dict[str, int]:
    # A passive declare only reads the queue; it fails if the queue does not exist.
    return {n: channel.queue_declare(n, passive=True).method.message_count for n in names}


def dead_letter_counts(
    url: str, prefix: str, queues: Sequence[str], *, timeout_s: float = 3.0
) -> dict[str, int]:
    """Messages parked in each logical queue's dead queue (for metrics); a queue never declared
    is left out. One short connection, a channel per queue: a missing queue closes its channel.
    """
    names = Names(prefix)
    params = connection_parameters(url, role="metrics", prefix=prefix)
    for address in params:
        address.connection_attempts = 1
        address.socket_timeout = timeout_s
    connection = pika.BlockingConnection(params)
    counts: dict[str, int] = {}
    try:
        for queue in queues:
            channel = connection.channel()
            try:
                declared = channel.queue_declare(names.dead_queue(queue), passive=True)
            except pika.exceptions.ChannelClosedByBroker as exc:
                if exc.reply_code != 404:
                    raise
                continue
            counts[queue] = declared.method.message_count
            channel.close()
    finally:
        if connection.is_open:
            connection.close()
    return counts


def dead_letters(url: str, prefix: str, queue: str, limit: int = 100) -> list[DeadLetter]:
    """Peek at the first ``limit`` dead letters of logical ``queue``; nothing is removed.

    Messages are fetched unacked and then returned with one requeue, which bumps their
    delivery count (harmless: dead queues have no delivery limit). RabbitMQ 3.x quorum
    queues put returned messages at the *tail*, so reading only the first ``limit`` would
    rotate the queue; this walks the whole queue once so its order is kept, at the cost of
    transferring every dead letter.
    """
    names = Names(prefix)
    dead_queue = names.dead_queue(queue)
    found: list[DeadLetter] = []
    with blocking_channel(url, role="admin", prefix=prefix) as channel:
        budget = channel.queue_declare(dead_queue, passive=True).method.message_count
        last_tag = None
        for _ in range(budget):
            method, properties, body = channel.basic_get(dead_queue)
            if method is None:
                break
            if len(found) < limit:
                found.append(DeadLetter.from_message(names, properties, body))
            last_tag = method.delivery_tag
        if last_tag is not None:
            channel.basic_nack(last_tag, multiple=True, requeue=True)
    return found


def replay_dead_letters(
    url: str,
    prefix: str,
    queue: str,
    message_ids: Collection[str] | None = None,
) -> int:
    """Move dead letters of ``queue`` (all, or those in ``message_ids``) back to its work queue.

    Each copy is published with a confirm before its dead letter is acked; replayed copies
    start with a fresh retry count. Returns the number moved.
    """
    names = Names(prefix)

    def replay(channel: BlockingChannel, properties: pika.BasicProperties, body: bytes) -> None:
        letter = DeadLetter.from_message(names, properties, body)
        headers = {k: v for k, v in clean_headers(properties.headers).items() if k not in _ERROR_HEADERS}
        # Keep the failure history across replays; drop the broker's x-death (see
        # clean_headers) and the reasons of the last failure.
        headers[X_DEAD_LETTER_COUNT] = letter.death_count
        headers[X_REPLAYED_AT] = utc_now_iso()
        channel.basic_publish(
            names.commands_exchange,
            queue,
            body,
            copy_properties(properties, headers),
            mandatory=True,
        )
        log.info("dead_letter_replayed", message_id=letter.message_id, queue=queue)

    return _sweep(url, names, queue, message_ids, replay)


def purge_dead_letters(
    url: str,
    prefix: str,
    queue: str,
    message_ids: Collection[str] | None = None,
) -> int:
    """Delete dead letters of ``queue`` (all, or those in ``message_ids``); return how many."""
    names = Names(prefix)
    if message_ids is None:
        with blocking_channel(url, role="admin", prefix=prefix) as channel:
            purged = channel.queue_purge(names.dead_queue(queue)).method.message_count
        log.info("dead_letters_purged", queue=queue, count=purged)
        return purged

    def drop(_channel: BlockingChannel, properties: pika.BasicProperties, _body: bytes) -> None:
        log.info("dead_letter_purged", message_id=properties.message_id, queue=queue)

    return _sweep(url, names, queue, message_ids, drop)


def _sweep(
    url: str,
    names: Names,
    queue: str,
    message_ids: Collection[str] | None,
    action: Callable[[BlockingChannel, pika.BasicProperties, bytes], None],
) -> int:
    """Apply ``action`` then ack, for each selected dead letter; return the others untouched.

    Unselected messages are held unacked until the end so ``basic_get`` does not return
    them again, then requeued together. If ``action`` raises, closing the connection
    requeues every message still unacked, so nothing is lost.
    """
    wanted = set(message_ids) if message_ids is not None else None
    done = 0
    with blocking_channel(url, role="admin", prefix=names.prefix) as channel:
        dead_queue = names.dead_queue(queue)
        # Bound the sweep by the depth at the start, in case letters keep arriving.
        budget = channel.queue_declare(dead_queue, passive=True).method.message_count
        skipped_tag = None
        for _ in range(budget):
            method, properties, body = channel.basic_get(dead_queue)
            if method is None:
                break
            if wanted is not None and properties.message_id not in wanted:
                skipped_tag = method.delivery_tag
                continue
            action(channel, properties, body)
            channel.basic_ack(method.delivery_tag)
            done += 1
        if skipped_tag is not None:
            # multiple=True covers every still-unacked tag up to this one: just the skipped.
            channel.basic_nack(skipped_tag, multiple=True, requeue=True)
    return done


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str) else None


def _parse_time(value: Any) -> datetime | None:
    """An aware UTC datetime from an ISO string or pika's (naive, UTC) AMQP timestamp."""
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(_text(value) or "")
        except ValueError:
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
