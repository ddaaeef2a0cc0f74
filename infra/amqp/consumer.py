"""Consumer runtime: owns acks, retries, dead-lettering, heartbeats, reconnects and shutdown.

Threading model (pika 1.4.4 ``BlockingConnection`` is not thread-safe and only does I/O while
you are inside one of its calls):

* the thread that calls :meth:`ConsumerRuntime.run` owns the connection and keeps calling
  ``process_data_events``, so heartbeats are answered however long a handler runs;
* each delivery runs ``dispatch`` on a worker thread of its own (at most ``prefetch`` per
  queue consumed, or that queue's ``prefetch_for``);
* a finished worker hands its result back with ``add_callback_threadsafe``; acks, rejects and
  retry/dead-letter publishes all happen on the connection thread.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Mapping, Sequence

import pika
import pika.exceptions
import structlog
from pika.adapters.blocking_connection import BlockingChannel
from pika.spec import Basic

from infra.amqp.connection import (
    RECOVERABLE_ERRORS,
    backoff_delay,
    connection_parameters,
    mask_url,
    rotated,
)
from infra.amqp.delivery import Delivery, Dispatch, OnEvent
from infra.amqp.outcomes import DEFAULT_TRANSIENT_RETRY_FOR_S, Action
from infra.amqp.reporting import Reporter
from infra.amqp.session import InFlight, Session, settle
from infra.amqp.topology import (
    DEFAULT_DELIVERY_LIMIT,
    DEFAULT_PREFIX,
    DEFAULT_RETRY_DELAYS,
    Names,
    declare_topology,
)
from infra.amqp.worker import Policy, delivery_logging, requeue_hold_s, run_handler

__all__ = ["ConsumerRuntime", "Delivery", "Dispatch", "OnEvent"]

log = structlog.get_logger(__name__)

# How often the connection thread looks up from I/O to check for stop() and a broken channel.
POLL_INTERVAL_S = 0.2


class SessionBroken(Exception):
    """The channel closed or the broker cancelled our consumer; reconnect."""


class ConsumerRuntime:
    """Consume the work queues of ``queues`` and run ``dispatch`` for each delivery.

    Handlers only raise (see ``infra.amqp.outcomes``); this class acks, retries, requeues
    or dead-letters. ``prefetch`` applies per queue consumed (quorum queues refuse the
    channel-global QoS that would cap the total); ``prefetch_for`` sets it for some queues
    (e.g. bulk work one at a time beside several small deliveries).

    Before requeueing after an unexpected error the worker holds the delivery for
    ``requeue_delay_s * 2**delivery_count`` seconds (capped at 30 s): "our side is broken"
    usually stays broken for a while, and holding the prefetch slot pauses this pod instead
    of burning through the delivery limit in milliseconds.

    A ``TransientError`` is retried through the retry tiers, the last one repeating, until
    ``transient_retry_for_s`` have passed since its first failure (the ``x-first-failed-at``
    header the retry copies carry); the failure after that is dead-lettered.

    A handler running past the broker's consumer ack timeout (30 min by default) gets its
    channel closed; the runtime reconnects and the message is redelivered.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        queues: Sequence[str],
        dispatch: Dispatch,
        prefetch: int = 1,
        prefetch_for: Mapping[str, int] | None = None,
        delivery_limit: int = DEFAULT_DELIVERY_LIMIT,
        retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
        transient_retry_for_s: float = DEFAULT_TRANSIENT_RETRY_FOR_S,
        heartbeat: int = 30,
        shutdown_grace_s: float = 25.0,
        reconnect_max_delay_s: float = 30.0,
        on_event: OnEvent | None = None,
        requeue_delay_s: float = 1.0,
    ) -> None:
        if not queues:
            raise ValueError("queues must not be empty")
        if not retry_delays:
            raise ValueError("retry_delays needs at least one tier")
        if prefetch < 1 or min((prefetch_for or {}).values(), default=1) < 1:
            raise ValueError("prefetch must be at least 1")
        if transient_retry_for_s < 0:
            raise ValueError("transient_retry_for_s must not be negative")
        self._url = url
        self._names = Names(prefix)
        self._queues = tuple(queues)
        self._dispatch = dispatch
        self._prefetch = prefetch
        self._prefetch_for = dict(prefetch_for or {})
        self._delivery_limit = delivery_limit
        self._retry_delays = tuple(retry_delays)
        self._policy = Policy(transient_retry_for_s, delivery_limit, len(retry_delays), requeue_delay_s)
        self._grace_s = shutdown_grace_s
        self._max_delay_s = reconnect_max_delay_s
        self._reporter = Reporter(on_event, self._retry_delays)
        self._params = connection_parameters(url, role="consumer", prefix=prefix, heartbeat=heartbeat)
        self._stopping = False
        self._stop_at: float | None = None
        self._connected = False
        self._generation = 0
        self._workers: set[threading.Thread] = set()
        self._workers_lock = threading.Lock()

    @property
    def connected(self) -> bool:
        """True while consuming on a live connection (for readiness probes)."""
        return self._connected

    def stop(self) -> None:
        """Begin graceful shutdown; returns at once. Thread-safe and signal-safe.

        Only plain attribute writes: a signal handler may interrupt the connection thread
        inside pika or inside a lock, so taking a lock or touching the connection here could
        deadlock. The loops poll the flag every ``POLL_INTERVAL_S``.
        """
        if self._stop_at is None:
            self._stop_at = time.monotonic()
        self._stopping = True

    def run(self) -> None:
        """Consume until :meth:`stop` is called, reconnecting on its own; then return."""
        log.info(
            "consumer_starting",
            url=mask_url(self._url),
            prefix=self._names.prefix,
            queues=list(self._queues),
            prefetch=self._prefetch,
            prefetch_for=self._prefetch_for,
        )
        attempt = 0
        while not self._stopping:
            consuming = threading.Event()
            try:
                self._run_session(consuming)
            except (*RECOVERABLE_ERRORS, pika.exceptions.AMQPError, SessionBroken) as exc:
                if self._stopping:
                    break
                # The next connect starts at the next broker address (pika tries them all in
                # order), so a node that hangs rather than refuses is not tried first again.
                self._params = rotated(self._params, 1)
                attempt = 0 if consuming.is_set() else attempt + 1
                delay = backoff_delay(attempt, base=1.0, cap=self._max_delay_s)
                # A channel the broker closed on us (e.g. 406 on declare: our queue
                # arguments differ from the broker's) is a configuration error, not weather.
                level = "error" if isinstance(exc, pika.exceptions.ChannelClosedByBroker) else "warning"
                getattr(log, level)(
                    "amqp_connection_lost",
                    error=repr(exc),
                    retry_in_s=round(delay, 2),
                    attempt=attempt,
                )
                self._sleep(delay)
        self._join_workers()
        log.info("consumer_stopped")

    # -- one connection ---------------------------------------------------------------

    def _run_session(self, consuming: threading.Event) -> None:
        connection = pika.BlockingConnection(self._params)
        session: Session | None = None
        try:
            channel = connection.channel()
            # Retry and dead-letter copies must be confirmed before the original is acked.
            channel.confirm_delivery()
            self._declare(channel)
            self._generation += 1
            session = Session(self._generation, connection, channel)
            channel.add_on_cancel_callback(
                functools.partial(_mark_broken, session, "consumer cancelled by broker")
            )
            # Consumers last: deliveries may start the moment basic_consume returns.
            for q in self._queues:
                # Per consumer (not global): applies to the consumers created after it.
                channel.basic_qos(prefetch_count=self._prefetch_for.get(q, self._prefetch))
                on_message = functools.partial(self._on_message, session, q)
                tag = channel.basic_consume(self._names.work_queue(q), on_message)
                session.consumer_tags.append(tag)
            self._connected = True
            consuming.set()
            log.info("consumer_connected", generation=session.generation)
            self._pump(session)
            self._drain(session)
        finally:
            self._connected = False
            if session is not None:
                for record in session.close():
                    self._reporter.stale(record, "session closed before the result was settled")
            if connection.is_open:
                with contextlib.suppress(*RECOVERABLE_ERRORS):
                    connection.close()

    def _declare(self, channel: BlockingChannel) -> None:
        declare_topology(
            channel,
            prefix=self._names.prefix,
            queues=self._queues,
            delivery_limit=self._delivery_limit,
            retry_delays=self._retry_delays,
        )

    def _pump(self, session: Session) -> None:
        while not self._stopping:
            session.connection.process_data_events(time_limit=POLL_INTERVAL_S)
            if session.broken:
                raise SessionBroken(session.broken)
            if session.channel.is_closed:
                raise SessionBroken("channel closed")

    def _drain(self, session: Session) -> None:
        """Stop new deliveries, give in-flight handlers until the grace deadline, settle them."""
        self._connected = False  # not ready for new work while shutting down
        log.info("consumer_stopping", inflight=len(session.inflight))
        for tag in session.consumer_tags:
            # With manual acks pika rejects (requeue) deliveries that arrived but were not
            # yet dispatched to us; they go back to the queue for another pod.
            session.channel.basic_cancel(tag)
        deadline = self._grace_deadline()
        while session.inflight and (remaining := deadline - time.monotonic()) > 0:
            session.connection.process_data_events(time_limit=min(POLL_INTERVAL_S, remaining))
        if session.inflight:
            # Closing the connection returns these to the queue (counted as a delivery).
            log.warning(
                "shutdown_grace_expired",
                left_unacked=len(session.inflight),
                delivery_tags=sorted(session.inflight),
            )

    # -- deliveries ---------------------------------------------------------------------

    def _on_message(
        self,
        session: Session,
        queue: str,
        _channel: BlockingChannel,
        method: Basic.Deliver,
        properties: pika.BasicProperties,
        body: bytes,
    ) -> None:
        record = InFlight(
            tag=method.delivery_tag,
            delivery=Delivery.from_pika(queue, method, properties, body),
            properties=properties,
        )
        session.add(record)
        worker = threading.Thread(
            target=self._work,
            args=(session, record),
            name=f"amqp-{queue}-{record.tag}",
            # A handler stuck past the grace period must not keep the process alive.
            daemon=True,
        )
        with self._workers_lock:
            self._workers.add(worker)
        worker.start()

    def _work(self, session: Session, record: InFlight) -> None:
        try:
            with delivery_logging(record):
                record.outcome = run_handler(self._dispatch, record, self._policy)
                if record.outcome.action is Action.REQUEUE:
                    record.held_ms = self._hold(record.delivery.delivery_count)
                if not session.hand_back(functools.partial(self._settle, session, record)):
                    self._reporter.stale(record, "connection gone before the handler finished")
        finally:
            with self._workers_lock:
                self._workers.discard(threading.current_thread())

    def _settle(self, session: Session, record: InFlight) -> None:
        # Runs on the connection thread, from process_data_events.
        if session.take(record.tag) is None:
            return  # already reported by session.close()
        if session.generation != self._generation or not session.channel.is_open:
            # Never ack a tag on a channel other than the one that delivered it.
            self._reporter.stale(record, "channel closed before the result was settled")
            return
        outcome = settle(session.channel, self._names, record)
        self._reporter.outcome(outcome, record)

    # -- helpers ------------------------------------------------------------------------

    def _hold(self, delivery_count: int) -> int:
        """Back off in the worker thread before a requeue (cut short by stop()); return ms."""
        started = time.monotonic()
        self._sleep(requeue_hold_s(delivery_count, self._policy.requeue_delay_s))
        return int((time.monotonic() - started) * 1000)

    def _grace_deadline(self) -> float:
        return (self._stop_at or time.monotonic()) + self._grace_s

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self._stopping and (remaining := deadline - time.monotonic()) > 0:
            time.sleep(min(POLL_INTERVAL_S, remaining))

    def _join_workers(self) -> None:
        """Give handlers orphaned by a lost connection until the grace deadline to finish."""
        deadline = self._grace_deadline()
        with self._workers_lock:
            workers = list(self._workers)
        for worker in workers:
            worker.join(timeout=max(0.0, deadline - time.monotonic()))


def _mark_broken(session: Session, reason: str, *_args: object) -> None:
    session.broken = reason
