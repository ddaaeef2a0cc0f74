"""The scheduler publishes each slot once, with several replicas and after downtime."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pika
import sqlalchemy as sa

from infra.amqp import Names
from infra.db import tables as t
from producers.scheduler import Scheduler


def _drain(amqp_url: str, prefix: str) -> list[tuple[str, str]]:
    """Every message waiting in the work queues: (queue, message_id)."""
    names = Names(prefix)
    out = []
    conn = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        ch = conn.channel()
        for q in ("entities", "time_entries", "autofill"):
            while True:
                method, props, _body = ch.basic_get(names.work_queue(q), auto_ack=True)
                if method is None:
                    break
                out.append((q, props.message_id))
    finally:
        conn.close()
    return out


def _make_accounts(app, engine, n):
    with engine.begin() as conn:
        # Other tests' accounts share the database; park them so only ours are scheduled.
        conn.execute(sa.update(t.accounts).values(status="disabled"))
    ids = []
    with app.uow() as u:
        for i in range(n):
            ids.append(
                u.accounts.add(
                    name=f"sched-{i}-{datetime.now(UTC).timestamp()}",
                    harvest_account_id=10 + i,
                    token_sealed=app.cipher.seal("t"),
                    timezone="Europe/Berlin" if i % 2 else "America/New_York",
                )
            )
        u.commit()
    return ids


def test_two_schedulers_at_once_publish_each_slot_once(app, engine, amqp_url):
    ids = _make_accounts(app, engine, 40)
    now = datetime(2026, 11, 23, 12, tzinfo=UTC)  # a Monday: autofill slots are due too
    replicas = [Scheduler(app, catch_up=timedelta(days=1)) for _ in range(2)]
    counts = []
    barrier = threading.Barrier(2)

    def run(s):
        barrier.wait()
        counts.append(s.tick(now))

    threads = [threading.Thread(target=run, args=(s,)) for s in replicas]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    for s in replicas:
        s.stop()
        s._close_publisher()

    messages = _drain(amqp_url, app.settings.amqp_prefix)
    ids_seen = Counter(mid for _, mid in messages)
    assert all(n == 1 for n in ids_seen.values()), "a slot was published twice"
    assert sum(counts) == len(messages)
    kinds = Counter(q for q, _ in messages)
    # Every account: one entity and one actuals slot per day in the window (one day),
    # and the Monday autofill for the accounts whose local Monday morning has passed.
    assert kinds["entities"] == kinds["time_entries"] == len(ids)
    assert 0 < kinds["autofill"] <= len(ids)
    assert sum(counts) == sum(kinds.values())


def test_catch_up_after_downtime_publishes_missed_slots_once(app, engine, amqp_url):
    ids = _make_accounts(app, engine, 5)
    scheduler = Scheduler(app, catch_up=timedelta(days=3))
    t0 = datetime(2026, 11, 24, 12, tzinfo=UTC)
    first = scheduler.tick(t0)
    assert first == len(_drain(amqp_url, app.settings.amqp_prefix)) > 0
    # Down for two days: on restart every missed slot goes out once, then nothing more.
    later = t0 + timedelta(days=2)
    missed = scheduler.tick(later)
    messages = _drain(amqp_url, app.settings.amqp_prefix)
    assert missed == len(messages)
    assert Counter(q for q, _ in messages)["entities"] == 2 * len(ids)
    assert scheduler.tick(later) == 0
    assert _drain(amqp_url, app.settings.amqp_prefix) == []
    scheduler._close_publisher()
