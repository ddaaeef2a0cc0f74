"""Dead letters: why each message failed, and sending them back or dropping them."""

from __future__ import annotations

from dataclasses import dataclass

from domain.errors import MalformedMessage
from infra import messages
from infra.amqp import QUEUES, DeadLetter, dead_letters, purge_dead_letters, replay_dead_letters
from producers.services.errors import NotFound


@dataclass(frozen=True)
class Broker:
    url: str
    prefix: str


def list_dead_letters(broker: Broker, queue: str, *, limit: int = 100) -> list[DeadLetter]:
    return dead_letters(broker.url, broker.prefix, queue, limit=limit)


def all_dead_letters(broker: Broker, *, limit: int = 100) -> dict[str, list[DeadLetter]]:
    """Per queue (entities, time_entries, autofill, backfill), its first `limit` dead letters."""
    return {queue: list_dead_letters(broker, queue, limit=limit) for queue in QUEUES}


def find_dead_letter(broker: Broker, queue: str, message_id: str) -> DeadLetter:
    found = [
        d for d in dead_letters(broker.url, broker.prefix, queue, limit=100_000) if d.message_id == message_id
    ]
    if not found:
        raise NotFound(f"no dead letter {message_id!r} in {queue}")
    return found[0]


def replay(broker: Broker, queue: str, message_ids: list[str] | None = None) -> int:
    """Send them (all when None) back to their queue, after the cause is fixed."""
    return replay_dead_letters(broker.url, broker.prefix, queue, message_ids=message_ids or None)


def purge(broker: Broker, queue: str, message_ids: list[str] | None = None) -> int:
    """Drop them (all when None) for good."""
    return purge_dead_letters(broker.url, broker.prefix, queue, message_ids=message_ids or None)


def account_of(letter: DeadLetter) -> int | None:
    """The account a dead letter's command was for, where its body still decodes."""
    try:
        return messages.decode(letter.body).account_id
    except MalformedMessage:
        return None
