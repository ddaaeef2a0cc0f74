"""Connection parameters (one per broker address), URL masking, reconnect backoff and the
errors worth reconnecting for."""

from __future__ import annotations

import contextlib
import os
import random
import socket
from collections.abc import Iterator, Sequence
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel

from infra.config import amqp_addresses

T = TypeVar("T")

# A lost or refused connection, a broker-closed connection (node stopping, operator action),
# a channel the broker closed under us, or a socket error. All are cured by reconnecting.
# Channel errors from a bad declare (406/404) land here too; callers back off so a
# configuration error costs a log line per backoff period, not a tight loop.
RECOVERABLE_ERRORS: tuple[type[BaseException], ...] = (
    pika.exceptions.AMQPConnectionError,
    pika.exceptions.ChannelClosed,
    pika.exceptions.ChannelWrongStateError,
    pika.exceptions.ConsumerCancelled,
    OSError,
)

# Without this a publish during a broker resource alarm blocks forever; with it pika
# raises ConnectionBlockedTimeout and the connection is torn down (and retried).
BLOCKED_CONNECTION_TIMEOUT_S = 60.0


def mask_url(url: str) -> str:
    """Return the URL with its password replaced by ``***``, for logs.

    An ``AMQP_URL`` of several comma-separated addresses gets every password masked.
    """
    return ",".join(_mask_one(address) for address in amqp_addresses(url))


def _mask_one(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username or ''}:***@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _start(count: int) -> int:
    """Where a list of ``count`` addresses starts: a random one (tests pin it)."""
    return random.randrange(count)


def connection_parameters(
    url: str, *, role: str, prefix: str, heartbeat: int | None = None
) -> list[pika.URLParameters]:
    """Parameters for each address of an ``AMQP_URL``, for ``pika.BlockingConnection``.

    ``url`` holds one or more comma-separated ``amqp://`` URLs; pika tries the returned
    list in order and connects to the first address that answers. Each gets a connection
    name visible in ``rabbitmqctl``. ``heartbeat`` overrides the URLs' (pika's default
    accepts the server's 60 s).

    The list is rotated to start at a random address, keeping the configured order after
    it (h2, h3, h1 for h1,h2,h3). Rotating rather than always starting at the first spreads
    pods evenly over the nodes, so the first node listed does not get every connection;
    rotating rather than shuffling keeps the fallback order the operator wrote, and every
    address is still tried once per connect.
    """
    params = [
        _parameters(address, role=role, prefix=prefix, heartbeat=heartbeat) for address in amqp_addresses(url)
    ]
    return rotated(params, _start(len(params)))


def rotated(items: Sequence[T], start: int) -> list[T]:
    """``items`` starting at index ``start`` (modulo their count), then wrapping around."""
    if not items:
        return []
    start %= len(items)
    return [*items[start:], *items[:start]]


def _parameters(url: str, *, role: str, prefix: str, heartbeat: int | None) -> pika.URLParameters:
    params = pika.URLParameters(url)
    if heartbeat is not None:
        params.heartbeat = heartbeat
    if params.blocked_connection_timeout is None:
        params.blocked_connection_timeout = BLOCKED_CONNECTION_TIMEOUT_S
    params.client_properties = {
        "connection_name": f"harvest-sync/{role}/{prefix}/{socket.gethostname()}/{os.getpid()}"
    }
    return params


def backoff_delay(attempt: int, *, base: float, cap: float) -> float:
    """Exponential backoff with jitter: ``base * 2**attempt`` capped at ``cap``, times 0.5-1.0.

    The jitter keeps many pods from reconnecting in lockstep after a broker restart.
    """
    return min(cap, base * (2 ** min(attempt, 30))) * random.uniform(0.5, 1.0)


@contextlib.contextmanager
def blocking_channel(url: str, *, role: str, prefix: str) -> Iterator[BlockingChannel]:
    """A short-lived connection and channel with publisher confirms on (admin helpers)."""
    connection = pika.BlockingConnection(connection_parameters(url, role=role, prefix=prefix))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        yield channel
    finally:
        with contextlib.suppress(*RECOVERABLE_ERRORS):
            if connection.is_open:
                connection.close()
