"""The scheduler carries on through a RabbitMQ restart and killed database connections,
without being restarted itself."""

from __future__ import annotations

import shutil
import subprocess
import threading
from datetime import UTC, datetime, timedelta

import pika
import pytest

from producers.scheduler import Scheduler
from tests.integration.helpers import eventually, terminate_connections
from tests.integration.test_scheduler import _drain, _make_accounts


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.mark.skipif(shutil.which("rabbitmqctl") is None, reason="needs the local broker's rabbitmqctl")
def test_scheduler_survives_broker_and_database_outages(app, engine, amqp_url, database_url):
    _make_accounts(app, engine, 3)
    clock = FakeClock(datetime(2026, 11, 24, 12, tzinfo=UTC))
    scheduler = Scheduler(app, clock=clock, catch_up=timedelta(days=1))  # 2 slots per account
    runner = threading.Thread(target=scheduler.run, kwargs={"interval_s": 0.3}, daemon=True)
    runner.start()
    prefix = app.settings.amqp_prefix
    try:
        seen: list = []

        def published(n):
            try:
                seen.extend(_drain(amqp_url, prefix))
            except pika.exceptions.AMQPError:
                return False  # the broker is still coming back, or the queues are not declared yet
            return len(seen) >= n

        eventually(lambda: published(6), timeout=30, what="the first slots")
        before = len(seen)

        subprocess.run(["rabbitmqctl", "-q", "stop_app"], check=True, timeout=60)
        subprocess.run(["rabbitmqctl", "-q", "start_app"], check=True, timeout=120)
        clock.now += timedelta(days=1)  # a new day's slots fall due
        eventually(lambda: published(before + 6), timeout=60, what="slots after the broker restart")
        after_broker = len(seen)

        terminate_connections(database_url)
        clock.now += timedelta(days=1)
        eventually(lambda: published(after_broker + 6), timeout=60, what="slots after the database outage")
        assert len({mid for _, mid in seen}) == len(seen), "a slot was published twice"
    finally:
        scheduler.stop()
        runner.join(timeout=30)
    assert not runner.is_alive()
