"""Faults during a 100,000-entry backfill with three worker processes: kill -9, a broker
restart, killed database connections, a flaky Harvest, duplicate publishing. After each, once
the queues drain, the database equals the simulator's ground truth: nothing lost, nothing
doubled, no actual off by a minute."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest

from consumers.backfill import part_commands
from infra.db.backfills import BackfillRepository
from tests.integration.chaos.scenario import run_scenario
from tests.integration.chaos.workers import WorkerPool
from tests.integration.conftest import replace_settings
from tests.integration.helpers import all_dead_letters, terminate_connections

WORKERS = 3
AGENCY_MIN_ENTRIES = 100_000


@pytest.fixture
def chaos_app(app):
    # Parts of 10,000 entries: a 100,000-entry backfill is shared by all three workers.
    # A higher delivery limit: every kill -9 counts as a failed delivery of all the victim held,
    # prefetched messages included; on a loaded machine a kill a second most likely passed 10.
    return replace_settings(
        app, backfill_part_entries=10_000, harvest_rate_limit=None, delivery_limit=30, retry_delays=(1, 2, 4)
    )


@pytest.fixture
def pool(chaos_app, env, tmp_path):
    s = chaos_app.settings
    workers = WorkerPool(
        {
            **env,
            "BACKFILL_PART_ENTRIES": str(s.backfill_part_entries),
            "HARVEST_RATE_LIMIT": "off",
            "DELIVERY_LIMIT": str(s.delivery_limit),
            "RETRY_DELAYS": ",".join(map(str, s.retry_delays)),
            "HARVEST_TIMEOUT_S": "2",
            "LOG_LEVEL": "warning",
            "METRICS_PORT": "0",
        },
        "entities,time_entries",
        tmp_path,
    )
    workers.start(WORKERS)
    yield workers
    exits = workers.stop()
    assert all(code == 0 and seconds < 30 for code, seconds in exits.values()), exits


def _assert_clean(outcome, chaos_app, amqp_url):
    print(outcome)
    assert outcome.entries >= AGENCY_MIN_ENTRIES
    assert outcome.clean, outcome
    assert all_dead_letters(amqp_url, chaos_app.settings.amqp_prefix) == {}


def test_kill_9_a_random_worker_every_few_seconds(chaos_app, simulator, pool, amqp_url):
    def chaos(stop, _run):
        # Every second: the faster backfill must still see several kills.
        while not stop.wait(1.0):
            pool.kill9_random()
            pool.start(1)

    outcome = run_scenario("kill -9", app=chaos_app, simulator=simulator, pool=pool, chaos=chaos)
    assert pool.killed >= 2
    _assert_clean(outcome, chaos_app, amqp_url)


@pytest.mark.skipif(shutil.which("rabbitmqctl") is None, reason="needs the local broker's rabbitmqctl")
def test_rabbitmq_restart(chaos_app, simulator, pool, amqp_url):
    def chaos(stop, _run):
        if stop.wait(1.0):
            return
        try:
            subprocess.run(["rabbitmqctl", "-q", "stop_app"], check=True, timeout=60)
        finally:
            subprocess.run(["rabbitmqctl", "-q", "start_app"], check=True, timeout=120)

    outcome = run_scenario("rabbitmq restart", app=chaos_app, simulator=simulator, pool=pool, chaos=chaos)
    _assert_clean(outcome, chaos_app, amqp_url)
    assert len(pool.alive()) == WORKERS, "a worker died instead of reconnecting"


def test_database_connections_terminated(chaos_app, simulator, pool, amqp_url, database_url):
    def chaos(stop, _run):
        if stop.wait(1.0):
            return
        terminate_connections(database_url)

    outcome = run_scenario(
        "postgres connections killed", app=chaos_app, simulator=simulator, pool=pool, chaos=chaos
    )
    _assert_clean(outcome, chaos_app, amqp_url)
    assert len(pool.alive()) == WORKERS, "a worker died instead of reconnecting"


def test_ten_percent_of_harvest_responses_fail(chaos_app, simulator, pool, amqp_url):
    simulator.configure(error_rate=0.05, rate_limit_fault_rate=0.03, timeout_rate=0.02, slow_seconds=3.0)
    try:
        outcome = run_scenario("10% Harvest faults", app=chaos_app, simulator=simulator, pool=pool)
    finally:
        simulator.configure(error_rate=0.0, rate_limit_fault_rate=0.0, timeout_rate=0.0)
    assert simulator.stats()["faults_injected"] > 0
    _assert_clean(outcome, chaos_app, amqp_url)


def test_every_message_published_twice(chaos_app, simulator, pool, amqp_url):
    def twice(account_id, cmd):
        chaos_app.publish(cmd)
        # Once the parts are out, publish each of them a second time.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with chaos_app.uow() as u:
                repo = BackfillRepository(u.conn, account_id)
                parts = repo.parts(cmd.message_id)
            if parts:
                chaos_app.publish_many(part_commands(account_id, cmd.message_id, parts))
                return
            time.sleep(0.2)
        raise AssertionError("the backfill was never planned")

    outcome = run_scenario(
        "published twice", app=chaos_app, simulator=simulator, pool=pool, before_publish=twice
    )
    _assert_clean(outcome, chaos_app, amqp_url)


def test_sigterm_mid_work_exits_within_30_s_and_loses_nothing(chaos_app, simulator, pool, amqp_url):
    exits = []

    def chaos(stop, _run):
        while not stop.wait(1.0):
            victim = pool.alive()[0]
            t0 = time.monotonic()
            victim.terminate()  # SIGTERM, as Kubernetes sends
            exits.append((victim.wait(timeout=35), time.monotonic() - t0))
            pool.start(1)

    outcome = run_scenario("SIGTERM mid-work", app=chaos_app, simulator=simulator, pool=pool, chaos=chaos)
    assert exits, "no worker was stopped during the run"
    assert all(code == 0 and seconds < 30 for code, seconds in exits), exits
    _assert_clean(outcome, chaos_app, amqp_url)
