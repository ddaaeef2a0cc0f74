"""Harvest's rate limit is shared by every process using the token: together they stay under it."""

from __future__ import annotations

import threading
import uuid

import pytest
import sqlalchemy as sa

from infra.db import tables as t
from infra.db.engine import make_engine
from infra.harvest.client import HarvestClient
from infra.harvest.ratelimit import SharedRateLimit, parse_rate_limit
from infra.observability.database import DatabaseGauges
from infra.observability.metrics import Metrics
from tests.integration.conftest import replace_settings
from tests.integration.helpers import eventually, statements_sent

LIMIT, WINDOW = 8, 2.0


def _hammer(simulator, harvest_id, token, throttle_for, clients=4, each=6):
    """`clients` threads, each its own client (as separate pods would be), `each` requests."""

    def work(i):
        client = HarvestClient(
            simulator.base_url,
            token=token,
            harvest_account_id=harvest_id,
            user_agent="rate-test (ops@example.com)",
            throttle=throttle_for(i),
            max_attempts=1,  # a 429 surfaces instead of being waited out
        )
        try:
            for _ in range(each):
                client.get("/company")
        except Exception as exc:
            errors.append(exc)
        finally:
            client.close()

    errors: list[Exception] = []
    threads = [threading.Thread(target=work, args=(i,)) for i in range(clients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    return errors


def _rate_limited_account(simulator, account_id: int, token: str) -> None:  # type: ignore[no-untyped-def]
    """An all but empty simulated account behind Harvest's limit scaled down to LIMIT per WINDOW."""
    simulator.configure(rate_limit_enabled=True, rate_limit_requests=LIMIT, rate_limit_window_s=WINDOW)
    simulator.add_account(
        account_id=account_id, token=token, seed=1, people=1, projects=1, clients=1, days=1, entries_per_day=0
    )
    simulator.reset_stats()


def test_four_clients_share_one_limit_and_get_no_429(simulator, engine):
    _rate_limited_account(simulator, 5_550_001, "rl-token")
    errors = _hammer(
        simulator,
        5_550_001,
        "rl-token",
        lambda i: SharedRateLimit(engine, 991_001, limit=LIMIT, window_s=WINDOW, margin_s=0.3),
    )
    stats = simulator.stats()
    assert errors == []
    assert stats["rate_limited"] == 0
    assert stats["by_status"].get("200", stats["by_status"].get(200)) == 24


def test_without_the_shared_limit_the_same_load_is_throttled(simulator):
    # The control: proves the scenario above really exceeds Harvest's limit.
    _rate_limited_account(simulator, 5_550_002, "rl-token-2")
    errors = _hammer(simulator, 5_550_002, "rl-token-2", lambda i: None)
    assert errors
    assert simulator.stats()["rate_limited"] > 0


def test_parse_rate_limit():
    assert parse_rate_limit("100/15") == (100, 15.0)
    assert parse_rate_limit("off") is None


def test_four_workers_sharing_one_account_get_no_429(app, simulator, new_account, run_worker, engine):
    from datetime import UTC, datetime

    from domain.commands import SyncActuals
    from tests.integration.actuals_support import sync_entities
    from tests.integration.conftest import replace_settings
    from tests.integration.helpers import eventually, run_status
    from tests.integration.truth import assert_actuals_match

    # Given Harvest's limit enforced (scaled down: 6 requests per 2 s) and a backfill in parts
    limited = replace_settings(app, harvest_rate_limit=(6, 2.0), backfill_part_entries=400)
    account_id, harvest_id = new_account(people=40, projects=10, clients=3, days=120, entries_per_day=2)
    sync_entities(limited, account_id)
    simulator.configure(rate_limit_enabled=True, rate_limit_requests=6, rate_limit_window_s=2.0)
    simulator.reset_stats()
    for _ in range(4):
        run_worker(("time_entries",), the_app=limited)

    # When four workers share the account's backfill
    cmd = SyncActuals(account_id, datetime.now(UTC).isoformat())
    limited.publish(cmd)

    eventually(
        lambda: run_status(engine, account_id, cmd.message_id) == "succeeded",
        timeout=180,
        what="the rate-limited backfill",
    )

    # Then Harvest never said 429, the shared limit made them wait, and nothing was lost
    stats = simulator.stats()
    assert stats["rate_limited"] == 0
    assert stats["requests"] > 12  # more than two windows' worth: the limit was binding
    waits = limited.metrics.registry.get_sample_value(
        "harvest_sync_harvest_rate_limit_waits_total", {"source": "shared_limit"}
    )
    assert waits and waits > 0
    assert_actuals_match(engine, account_id, simulator.store(harvest_id).list("time_entries"))


# -- learning from 429s the shared limit let through (AIMD) ----------------------------------


def _lone_account_id() -> int:
    """An account id of this test's own: the learned rate outlives the test in the database."""
    return 992_000_000 + uuid.uuid4().int % 1_000_000


def _learned_row(engine: sa.Engine, account_id: int, bucket: str = "api") -> float | None:
    r = t.harvest_rate_state
    with engine.connect() as conn:
        return conn.execute(
            sa.select(r.c.learned_limit).where(r.c.account_id == account_id, r.c.bucket == bucket)
        ).scalar()


def test_a_429_the_limit_let_through_lowers_the_rate_of_every_process(app, simulator, new_account, engine):
    # Given a shared limit of 8 per 2 s, and a Harvest that leaves this service 3 of them
    # (another app spends the rest of the token's requests)
    limited = replace_settings(app, harvest_rate_limit=(LIMIT, WINDOW))
    account_id, _ = new_account(people=1, projects=1, clients=1, days=1, entries_per_day=0)
    with app.uow() as u:
        account = u.accounts.get(account_id)
    simulator.configure(rate_limit_enabled=True, rate_limit_requests=3, rate_limit_window_s=WINDOW)
    simulator.reset_stats()
    heard: list[tuple[str, float]] = []

    # When a worker's client sends more than Harvest allows
    harvest = limited.harvest_for(account, lambda reason, seconds: heard.append((reason, seconds)))
    try:
        for _ in range(5):
            harvest.get("/company")
    finally:
        harvest.close()

    # Then Harvest refused one, the client waited it out, and the limit halved for everyone
    assert simulator.stats()["rate_limited"] >= 1
    assert heard and heard[0][0] == "rate_limited" and heard[0][1] >= 1
    assert _learned_row(engine, account_id) == LIMIT / 2
    another_process = SharedRateLimit(engine, account_id, limit=LIMIT, window_s=WINDOW)
    assert another_process.learned_limit() == LIMIT / 2
    waited = limited.metrics.registry.get_sample_value(
        "harvest_sync_harvest_rate_limit_wait_seconds_total", {"source": "retry_after"}
    )
    assert waited and waited >= 1


def test_a_lowered_rate_holds_requests_back_until_enough_of_the_window_expires(engine):
    account_id = _lone_account_id()
    # Six requests in the last 30 s window, 25 to 1 s old
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO harvest_request_log (account_id, bucket, at)"
                " SELECT :a, 'api', clock_timestamp() - make_interval(secs => age)"
                " FROM unnest(CAST(:ages AS float8[])) AS age"
            ),
            {"a": account_id, "ages": [25, 20, 15, 10, 5, 1]},
        )
    waits: list[float] = []

    class Held(Exception):
        pass

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        raise Held

    limit = SharedRateLimit(engine, account_id, limit=8, window_s=30, margin_s=0, sleep=sleep)
    limit()  # 7 of 8: let through
    assert limit.refused() == 4.0

    # Now 7 in the window and 4 allowed: the 25, 20, 15 and 10 s old ones must expire first
    with pytest.raises(Held):
        limit()
    assert waits and 19 < waits[0] <= 20.1


def test_the_learned_rate_recovers_one_request_per_window_at_a_time(engine):
    account_id = _lone_account_id()
    one = SharedRateLimit(engine, account_id, limit=LIMIT, window_s=0.5, margin_s=0, recovery_s=0.3)
    other = SharedRateLimit(engine, account_id, limit=LIMIT, window_s=0.5, margin_s=0, recovery_s=0.3)
    assert one.learned_limit() == LIMIT  # nothing learned yet

    assert one.refused() == LIMIT / 2
    # Every worker sees its own 429 of the same burst: one signal, not a halving each
    assert other.refused() is None
    assert other.learned_limit() == LIMIT / 2

    seen: list[float] = []

    def recovered() -> bool:
        seen.append(other.learned_limit())
        return seen[-1] == LIMIT

    eventually(recovered, timeout=15, interval=0.02, what="the learned rate back at the limit")
    steps = sorted(set(seen))
    assert steps == [4.0, 5.0, 6.0, 7.0, 8.0]  # +1 at a time, never above the configured limit
    assert seen == sorted(seen)

    # Recovered and refused again after the burst: halved again, from the configured limit
    lowered = eventually(one.refused, timeout=5, interval=0.05, what="a refusal after the hold")
    assert lowered == LIMIT / 2


def _gauge(metrics: Metrics, account_id: int) -> float | None:
    labels = {"account_id": str(account_id), "bucket": "api"}
    return metrics.registry.get_sample_value("harvest_sync_harvest_learned_rate_limit", labels)


def test_the_learned_rate_is_a_gauge(app, new_account, engine):
    account_id, _ = new_account(people=1, projects=1, clients=1, days=1, entries_per_day=0)
    lone_id = _lone_account_id()  # no account: its rate is not reported
    for an_id in (account_id, lone_id):
        assert SharedRateLimit(engine, an_id, limit=100, window_s=15).refused() == 50.0
    metrics = Metrics()
    metrics.watch_database(DatabaseGauges.for_engine(engine, ttl_s=0, rate_limits={"api": 100}))
    assert _gauge(metrics, account_id) == 50
    assert _gauge(metrics, lone_id) is None

    # It recovers in the gauge as in the limiter, up to the configured limit
    recovering = Metrics()
    recovering.watch_database(
        DatabaseGauges.for_engine(engine, ttl_s=0, rate_limits={"api": 100}, recovery_s=0.01)
    )
    eventually(lambda: _gauge(recovering, account_id) == 100, timeout=10, what="the gauge back at the limit")


# -- leases: several slots per round trip, spent locally for half the margin ------------------


class _Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def _slots_in_log(engine: sa.Engine, account_id: int) -> int:
    log = t.harvest_request_log
    with engine.connect() as conn:
        return conn.execute(
            sa.select(sa.func.count()).select_from(log).where(log.c.account_id == account_id)
        ).scalar_one()


def test_a_lease_of_four_takes_eight_slots_in_two_round_trips(engine):
    limit, _, _ = _leasing_limit(engine)
    with statements_sent(engine) as sent:
        for _ in range(8):
            limit()
    assert len(sent) == 2


def _leasing_limit(engine):  # type: ignore[no-untyped-def]
    """A limiter of 100 per 15 s leasing 4 slots for half a 1 s margin, on an account of its
    own, with a clock the test moves: (limit, account id, clock)."""
    clock = _Clock()
    account_id = _lone_account_id()
    limit = SharedRateLimit(
        engine, account_id, limit=100, window_s=15, margin_s=1.0, lease=4, monotonic=clock
    )
    return limit, account_id, clock


def test_a_leased_slot_left_past_half_the_margin_is_not_spent(engine):
    limit, account_id, clock = _leasing_limit(engine)
    limit()  # takes four slots, spends one
    with statements_sent(engine) as sent:
        clock.now += 0.49
        limit()  # still good
        assert sent == []
        clock.now += 0.02  # past half the margin after the lease was taken: too late
        limit()
        assert len(sent) == 1
    # Three left unused expire with the window; the next lease took only what the last spent
    assert _slots_in_log(engine, account_id) == 4 + 2


def test_a_lease_takes_as_many_slots_as_the_requests_come_for(engine):
    limit, account_id, clock = _leasing_limit(engine)
    # A caller slower than the lease lasts (a page stored between requests) wastes one lease
    for _ in range(3):
        limit()
        clock.now += 0.6
    assert _slots_in_log(engine, account_id) == 4 + 1 + 1
    # Then quicker requests grow it back, each lease twice the last that ran out while good
    with statements_sent(engine) as sent:
        for _ in range(1 + 2 + 4 + 4):
            limit()
    assert len(sent) == 4
    assert _slots_in_log(engine, account_id) == 6 + 11


def test_a_refusal_drops_the_lease(engine):
    limit, _, _ = _leasing_limit(engine)
    limit()
    assert limit.refused() == 50.0
    with statements_sent(engine) as sent:
        limit()
    assert len(sent) == 1


def test_a_lease_in_a_nearly_full_window_keeps_what_is_free_and_gives_the_rest_back(engine):
    account_id = _lone_account_id()
    # Six of eight slots taken a second ago
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO harvest_request_log (account_id, bucket, at)"
                " SELECT :a, 'api', clock_timestamp() - interval '1 second' FROM generate_series(1, 6)"
            ),
            {"a": account_id},
        )
    waits: list[float] = []

    class Held(Exception):
        pass

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        raise Held

    clock = _Clock()
    limit = SharedRateLimit(engine, account_id, limit=8, window_s=30, lease=4, sleep=sleep, monotonic=clock)
    with statements_sent(engine) as sent:
        limit()  # two free: both kept, the other two given back
        assert len(sent) == 2
    assert _slots_in_log(engine, account_id) == 8
    limit()  # the second of them, from the lease
    with pytest.raises(Held):
        limit()
    assert waits and 29 < waits[0] <= 30.1  # until the six taken a second ago expire
    assert _slots_in_log(engine, account_id) == 8


def test_leases_across_pods_and_threads_stay_under_the_limit_and_get_no_429(simulator, engine):
    _rate_limited_account(simulator, 5_550_003, "rl-token-3")
    # Two pods, each with two threads on one limiter, each taking three slots at a time
    pods = [
        SharedRateLimit(engine, 991_003, limit=LIMIT, window_s=WINDOW, margin_s=0.3, lease=3)
        for _ in range(2)
    ]
    errors = _hammer(simulator, 5_550_003, "rl-token-3", lambda i: pods[i % 2])
    stats = simulator.stats()
    assert errors == []
    assert stats["rate_limited"] == 0
    assert stats["by_status"].get("200", stats["by_status"].get(200)) == 24


def test_taking_slots_is_planned_once_per_connection(database_url):
    # Planned afresh on every take, the statement cost PostgreSQL more than running it.
    one_connection = make_engine(database_url, pool_size=1)
    try:
        limit = SharedRateLimit(one_connection, _lone_account_id(), limit=100, window_s=15)
        for _ in range(8):
            limit()
        with one_connection.connect() as conn:
            plans = conn.exec_driver_sql(
                "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE name = 'hs_take_slots'"
            ).one()
    finally:
        one_connection.dispose()
    assert plans == (8, 0)
