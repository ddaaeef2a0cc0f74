"""The scheduler's tick for a day of slots of many accounts: claims in PostgreSQL, commands
published to RabbitMQ with confirms. Accounts are rows only (the tick reads no Harvest)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from bench.report import Section
from bench.stack import Stack
from harvest_sync.bootstrap import bootstrap
from infra.amqp.connection import blocking_channel
from infra.amqp.topology import QUEUES, Names
from infra.config import load_settings

TARGET_S = 5.0


def measure(stack: Stack, accounts: int) -> Section:
    section = Section("scheduler", f"{accounts:,} accounts, one day of slots (catch-up 24 h)")
    stack.cli("migrate")
    app = bootstrap(load_settings(stack.cli_env()), engine=stack.engine)
    sealed = app.cipher.seal("bench-token")
    with stack.engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO accounts (name, harvest_account_id, token_sealed)"
            " SELECT 'bench-' || n, 2000000 + n, %(sealed)s FROM generate_series(1, %(count)s) AS n",
            {"sealed": sealed, "count": accounts},
        )
    from producers.scheduler import Scheduler

    with app.publisher() as publisher:
        scheduler = Scheduler(app, catch_up=timedelta(days=1), publisher=publisher)
        started = time.perf_counter()
        published = scheduler.tick(datetime.now(UTC))
        seconds = time.perf_counter() - started
    queued = _queued(stack)
    section.add("commands published (claimed slots)", f"{published:,}")
    section.add("messages in the queues afterwards", f"{queued:,}")
    section.add(
        "tick wall time",
        f"{seconds:.2f} s",
        f"< {TARGET_S:.0f} s",
        seconds < TARGET_S and queued == published,
    )
    return section


def _queued(stack: Stack) -> int:
    names = Names(stack.env.prefix)
    with blocking_channel(stack.env.amqp_url, role="bench", prefix=stack.env.prefix) as channel:
        return sum(
            channel.queue_declare(names.work_queue(q), passive=True).method.message_count for q in QUEUES
        )
