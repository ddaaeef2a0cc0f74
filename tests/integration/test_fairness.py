"""Fairness: a large first sync in parts never starves the other accounts' daily syncs.

A first sync of ~100k entries is split into 8 parts, and the dailies of 50 other accounts
(already first-synced) are queued at the same moment, behind the parts. Two worker processes
consume time_entries with PREFETCH=4, as deployed, and with it the parts' own queue (backfill),
one part at a time: beside its part each worker runs four dailies, so the last daily is done
long before the backfill. With parts on the dailies' queue, as before, the parts took every
slot of both workers and the dailies waited for them.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from domain.commands import BackfillPart, SyncActuals
from infra.db import tables as t
from tests.integration.actuals_support import plan_first_sync_in_parts, sync_actuals, sync_entities
from tests.integration.chaos.workers import WorkerPool
from tests.integration.helpers import eventually

WORKERS = 2
PREFETCH = 4
PARTS = WORKERS * PREFETCH  # enough to fill every slot of both workers, were they one queue
SMALL_ACCOUNTS = 50
# ~100k entries: 300 people x ~90 working days x 4 per day.
LARGE = {"people": 300, "projects": 40, "clients": 8, "days": 126, "entries_per_day": 4}
# History ends yesterday: a daily then finds a day without change.
SMALL = {"people": 3, "projects": 2, "clients": 1, "days": 7, "entries_per_day": 2}
# Every daily is done within this share of the backfill's time from the common moment (without
# the parts' own queue the last daily came after the backfill).
DAILY_SHARE_OF_BACKFILL = 0.6


@pytest.fixture
def workers(env, tmp_path):
    pool = WorkerPool(
        {**env, "HARVEST_RATE_LIMIT": "off", "METRICS_PORT": "0", "PREFETCH": str(PREFETCH)},
        "time_entries",
        tmp_path,
    )
    yield pool
    pool.stop()


def test_dailies_finish_long_before_a_first_sync_in_parts(app, simulator, new_account, engine, workers):
    large, harvest_id = new_account(**LARGE, seed=11)
    entries = len(simulator.store(harvest_id).list("time_entries"))
    sync_entities(app, large)
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    small = [new_account(**SMALL, seed=100 + i, end_date=yesterday)[0] for i in range(SMALL_ACCOUNTS)]
    for account_id in small:
        sync_entities(app, account_id)
        sync_actuals(app, account_id)
    parts = plan_first_sync_in_parts(app, large, part_entries=-(-entries // PARTS))
    assert len(parts) == PARTS
    workers.start(WORKERS)
    _wait_consumers(app, WORKERS, workers)

    queued_at = datetime.now(UTC)
    dailies = [SyncActuals(a, f"{queued_at.isoformat()}-{uuid.uuid4().hex[:6]}") for a in small]
    app.publish_many([*parts, *dailies])  # the parts first: the dailies queue behind them

    eventually(lambda: _parts_done(engine, large) == PARTS, timeout=300, what="the backfill's parts")
    eventually(lambda: len(_finished(engine, dailies)) == len(dailies), timeout=120, what="every daily")
    part_done = [(d - queued_at).total_seconds() for d in _part_times(engine, large)]
    daily_done = sorted((f - queued_at).total_seconds() for f in _finished(engine, dailies).values())
    backfill_s = max(part_done)
    print(
        f"\nfairness: {entries:,} entries in {backfill_s:.1f} s (parts done at "
        f"{', '.join(f'{d:.1f}' for d in part_done)} s); {len(dailies)} dailies done at "
        f"p50 {daily_done[len(daily_done) // 2]:.1f} s, max {daily_done[-1]:.1f} s"
    )
    assert daily_done[-1] < DAILY_SHARE_OF_BACKFILL * backfill_s, (
        f"the last daily took {daily_done[-1]:.1f} s of a {backfill_s:.1f} s backfill"
    )


def _wait_consumers(app, count: int, pool: WorkerPool) -> None:
    from infra.amqp.connection import blocking_channel
    from infra.amqp.topology import Names, declare_topology

    s = app.settings
    names = Names(s.amqp_prefix)
    queues = {BackfillPart.route.queue, SyncActuals.route.queue}
    with blocking_channel(s.amqp_url, role="test", prefix=s.amqp_prefix) as channel:
        declare_topology(
            channel, prefix=s.amqp_prefix, delivery_limit=s.delivery_limit, retry_delays=s.retry_delays
        )

        def attached() -> bool:
            assert pool.alive(), pool.logs()
            return all(
                channel.queue_declare(names.work_queue(q), passive=True).method.consumer_count >= count
                for q in queues
            )

        eventually(attached, timeout=60, interval=0.2, what=f"{count} consumers on {sorted(queues)}")


def _part_times(engine: sa.Engine, account_id: int) -> list[datetime]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(t.backfill_parts.c.done_at)
                .where(t.backfill_parts.c.account_id == account_id, t.backfill_parts.c.done_at.is_not(None))
                .order_by(t.backfill_parts.c.done_at)
            ).scalars()
        )


def _parts_done(engine: sa.Engine, account_id: int) -> int:
    return len(_part_times(engine, account_id))


def _finished(engine: sa.Engine, dailies: list[SyncActuals]) -> dict[str, datetime]:
    runs = t.sync_runs
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(runs.c.message_id, runs.c.finished_at, runs.c.status).where(
                runs.c.message_id.in_([d.message_id for d in dailies])
            )
        ).all()
    failed = [r for r in rows if r.status == "failed"]
    assert not failed, f"dailies failed: {failed[:3]}"
    return {r.message_id: r.finished_at for r in rows if r.status == "succeeded"}


def test_a_part_an_older_version_queued_on_time_entries_is_still_done(app, new_account, run_worker, engine):
    from infra import messages
    from tests.integration.helpers import run_status

    account_id, _harvest_id = new_account(people=20, projects=6, clients=2, days=30, entries_per_day=2)
    sync_entities(app, account_id)
    first, *rest = plan_first_sync_in_parts(app, account_id, part_entries=300)
    with app.publisher() as publisher:
        type_, body = messages.encode(first)
        publisher.publish("time_entries", body, message_id=first.message_id, type=type_)
    app.publish_many(rest)
    run_worker(("time_entries",))

    eventually(
        lambda: run_status(engine, account_id, first.backfill_id) == "succeeded",
        timeout=120,
        what="the backfill, one part of it from time_entries",
    )
    assert _parts_done(engine, account_id) == 1 + len(rest)
