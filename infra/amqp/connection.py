"""Connection parameters, URL masking, reconnect backoff and the errors worth reconnecting for."""

from __future__ import annotations

import contextlib
import os
import random
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel

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
    """Return the URL with its password replaced by ``***``, for logs."""
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


def connection_parameters(
    url: str, *, role: str, prefix: str, heartbeat: int | None = None
) -> pika.URLParameters:
    """Parameters from an ``amqp://`` URL, with a connection name visible in ``rabbitmqctl``.

    ``heartbeat`` overrides the URL's (pika's default accepts the server's 60 s).
    """
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
