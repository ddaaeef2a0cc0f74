"""Harvest's rate limit is shared by every process using the token: together they stay under it."""

from __future__ import annotations

import threading

from infra.harvest.client import HarvestClient
from infra.harvest.ratelimit import SharedRateLimit, parse_rate_limit

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


def test_four_clients_share_one_limit_and_get_no_429(simulator, engine):
    simulator.configure(rate_limit_enabled=True, rate_limit_requests=LIMIT, rate_limit_window_s=WINDOW)
    simulator.add_account(
        account_id=5_550_001,
        token="rl-token",
        seed=1,
        people=1,
        projects=1,
        clients=1,
        days=1,
        entries_per_day=0,
    )
    simulator.reset_stats()
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
    simulator.configure(rate_limit_enabled=True, rate_limit_requests=LIMIT, rate_limit_window_s=WINDOW)
    simulator.add_account(
        account_id=5_550_002,
        token="rl-token-2",
        seed=1,
        people=1,
        projects=1,
        clients=1,
        days=1,
        entries_per_day=0,
    )
    simulator.reset_stats()
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
