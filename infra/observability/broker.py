"""What scrapes read from RabbitMQ: how many messages each dead-letter queue holds.

A dead letter waits for a person (``admin dlq``), so the count is a state, not a rate: read at
scrape time over a short connection of its own, cached like the database gauges.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence

from prometheus_client.core import GaugeMetricFamily

from infra.observability.scrape import CachedRead


class BrokerGauges:
    """A Prometheus collector: ``harvest_sync_dead_letters{queue}`` and whether it could be read."""

    def __init__(
        self,
        load: Callable[[], dict[str, int]],
        *,
        ttl_s: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read = CachedRead(
            load, ttl_s=ttl_s, failure_event="metrics_broker_read_failed", monotonic=monotonic
        )

    @classmethod
    def for_broker(cls, amqp_url: str, prefix: str, queues: Sequence[str], *, ttl_s: float) -> BrokerGauges:
        from infra.amqp import dead_letter_counts

        return cls(lambda: dead_letter_counts(amqp_url, prefix, queues), ttl_s=ttl_s)

    def describe(self) -> list[GaugeMetricFamily]:
        return list(self._families())  # names only: registering must not connect

    def collect(self) -> Iterator[GaugeMetricFamily]:
        counts = self._read.get()
        up, dead = self._families()
        up.add_metric([], 1.0 if counts is not None else 0.0)
        yield up
        if counts is None:
            return  # absent, not zero: an unreadable broker must not read as "no dead letters"
        for queue, count in sorted(counts.items()):
            dead.add_metric([queue], count)
        yield dead

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
        return (
            GaugeMetricFamily(
                "harvest_sync_broker_gauges_up",
                "1 if the last scrape-time broker read succeeded (the gauges below are absent if not).",
            ),
            GaugeMetricFamily(
                "harvest_sync_dead_letters",
                "Messages waiting in each queue's dead-letter queue (admin dlq list/replay/purge).",
                labels=["queue"],
            ),
        )
