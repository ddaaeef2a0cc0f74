"""A RabbitMQ node lost mid-sync: a 100,000-entry first sync through three workers on a
three-node cluster of the test's own (``amqp/cluster.py``), each worker on a different node.
Once the sync is under way the node leading ``<prefix>.time_entries`` is killed with SIGKILL,
and started again once every worker consumes again. Nothing may be lost, doubled or wrong
against the simulator's ground truth, and the workers must be back within seconds.

Each worker's AMQP_URL lists all three nodes, its own first, and its first connect follows
that order (``WorkerPool(first_address_first=True)``; a process otherwise starts at a random
address); ``rabbitmqctl list_connections`` shows that they are spread before the kill. The
reconnect time is read from the workers' JSON logs (``amqp_connection_lost``, then
``consumer_connected``). With AMQP_URL naming only a worker's own node, the test fails.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from infra.db import tables as t
from tests.integration.chaos.scenario import Running, run_scenario
from tests.integration.chaos.workers import WorkerPool
from tests.integration.conftest import replace_settings
from tests.integration.helpers import all_dead_letters

# cluster.py and private_node.py are imported as the amqp tests import them (top level).
sys.path.insert(0, str(Path(__file__).parents[1] / "amqp"))
from cluster import RabbitCluster
from private_node import PrivateNode, installed

pytestmark = pytest.mark.integration

WORKERS = 3
AGENCY_MIN_ENTRIES = 100_000
# The kill comes once the first entries are stored: early, so that at `make chaos-report`'s
# size the node is back before the sync ends (at this suite's size it mostly is not).
KILL_AFTER_ENTRIES = 1
RECONNECT_LIMIT_S = 15.0  # "within seconds", with room for a loaded test machine


@pytest.fixture(scope="module")
def cluster() -> Iterator[RabbitCluster]:
    if not installed():
        message = "rabbitmq-server and rabbitmqctl are needed for a three-node RabbitMQ cluster"
        if os.getenv("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    with RabbitCluster("hs") as c:
        yield c


@pytest.fixture(scope="module")
def amqp_url(cluster: RabbitCluster) -> str:
    """This module's broker is the cluster (every fixture built on ``amqp_url`` uses it)."""
    return cluster.amqp_url


@pytest.fixture
def cluster_app(app):
    # As in test_chaos: parts of 10,000 entries share the backfill among the workers; a
    # higher delivery limit, since deliveries held on the lost connection count as failed.
    return replace_settings(
        app, backfill_part_entries=10_000, harvest_rate_limit=None, delivery_limit=10, retry_delays=(1, 2, 4)
    )


@pytest.fixture
def pool(cluster_app, cluster: RabbitCluster, env, tmp_path) -> Iterator[WorkerPool]:
    s = cluster_app.settings
    workers = WorkerPool(
        {
            **env,
            "BACKFILL_PART_ENTRIES": str(s.backfill_part_entries),
            "HARVEST_RATE_LIMIT": "off",
            "DELIVERY_LIMIT": str(s.delivery_limit),
            "RETRY_DELAYS": ",".join(map(str, s.retry_delays)),
            "HARVEST_TIMEOUT_S": "2",
            # consumer_connected / amqp_connection_lost with timestamps, to time the reconnects
            "LOG_LEVEL": "info",
            "LOG_FORMAT": "json",
            "METRICS_PORT": "0",
        },
        "entities,time_entries",
        tmp_path,
        first_address_first=True,
    )
    for node in cluster.nodes:
        workers.start(1, AMQP_URL=cluster.url_from(node))
    yield workers
    exits = workers.stop()
    assert all(code == 0 and seconds < 30 for code, seconds in exits.values()), exits


def test_the_node_leading_time_entries_killed_mid_sync(cluster_app, cluster, simulator, pool):
    prefix = cluster_app.settings.amqp_prefix
    queue = f"{prefix}.time_entries"
    # Before the sync: one worker consuming on each node, and who leads which queue.
    homes = _wait_for_homes(cluster, pool, cluster.nodes[0])
    assert sorted(n.node for n in homes.values()) == sorted(cluster.names()), homes
    leaders = _work_queue_leaders(cluster, prefix)
    leader = cluster.node_named(leaders["time_entries"])
    assert cluster.members_of(queue, leader) == (cluster.names(), cluster.names()), "a member on every node"
    seen: dict = {}

    def lose_the_leader(stop, running: Running) -> None:
        try:
            _until(
                lambda: stop.is_set() or _stored(cluster_app, running) >= KILL_AFTER_ENTRIES, 300, "entries"
            )
            if stop.is_set():
                return
            seen["stored_at_kill"] = _stored(cluster_app, running)
            seen["killed_at"] = time.time()
            leader.kill()
            seen["mid_sync"] = not stop.is_set()
            survivor = next(n for n in cluster.nodes if n is not leader)
            on_leader = {pid for pid, node in homes.items() if node is leader}
            _until(
                lambda: _all_consuming(pool, seen["killed_at"], on_leader),
                RECONNECT_LIMIT_S * 2,
                "workers consuming",
            )
            seen["back_in"] = _reconnect_seconds(pool, seen["killed_at"])
            seen["homes_after"] = _wait_for_homes(cluster, pool, survivor)
            cluster.wait_for(lambda: cluster.leader_of(queue, survivor) is not leader, 30, "a new leader")
            seen["new_leader"] = cluster.leader_of(queue, survivor)
            t0 = time.monotonic()
            cluster.rejoin(leader)
            seen["rejoined_in"] = time.monotonic() - t0
            seen["rejoined_mid_sync"] = not stop.is_set()
            cluster.wait_for(
                lambda: cluster.members_of(queue, leader) == (cluster.names(), cluster.names()),
                60,
                f"{queue} with a member online on every node",
            )
            seen["members"] = cluster.members_of(queue, leader)
        except BaseException as exc:  # a thread's failure would otherwise go unseen
            seen["error"] = exc

    outcome = run_scenario(
        "cluster node kill -9", app=cluster_app, simulator=simulator, pool=pool, chaos=lose_the_leader
    )
    assert "error" not in seen, f"{seen['error']!r}\n{pool.logs()}"
    assert "members" in seen, f"the chaos did not finish: {seen}"
    led = ", ".join(
        ["time_entries", *sorted(q for q, n in leaders.items() if n == leader.node and q != "time_entries")]
    )
    outcome.notes = (
        f"{_stem(leader)} (leader of {led}) killed at {seen['stored_at_kill']} entries; "
        f"workers consuming again {seen['back_in']:.1f} s later; new leader {_stem(seen['new_leader'])}; "
        f"{_stem(leader)} back in {seen['rejoined_in']:.0f} s"
        f"{' (mid-sync)' if seen['rejoined_mid_sync'] else ' (after the sync)'}, "
        f"{len(seen['members'][1])}/3 members online"
    )
    print(outcome)
    assert seen["mid_sync"] and seen["stored_at_kill"] < outcome.entries, "the node was lost mid-sync"
    # Every worker ends on a surviving node, each back within the limit.
    assert sorted(seen["homes_after"]) == sorted(homes), seen["homes_after"]
    assert leader not in seen["homes_after"].values(), seen["homes_after"]
    assert seen["back_in"] <= RECONNECT_LIMIT_S, outcome.notes
    assert seen["new_leader"] is not leader
    assert seen["members"] == (cluster.names(), cluster.names())
    assert outcome.entries >= AGENCY_MIN_ENTRIES
    assert outcome.clean, outcome
    assert all_dead_letters(cluster.amqp_url, prefix) == {}
    assert len(pool.alive()) == WORKERS, "a worker died instead of reconnecting"


def _work_queue_leaders(cluster: RabbitCluster, prefix: str) -> dict[str, str]:
    """Each work queue under ``prefix`` (``time_entries``, not its retry or dead queues) -> its leader."""
    leaders = {}
    for name, q in cluster.queues(cluster.nodes[0]).items():
        short = name.removeprefix(f"{prefix}.")
        if short != name and "." not in short:
            leaders[short] = q["leader"]
    return leaders


def _stored(app, running: Running) -> int:  # type: ignore[no-untyped-def]
    with app.engine.connect() as conn:
        return conn.execute(
            sa.select(sa.func.count()).where(t.time_entries.c.account_id == running.account_id)
        ).scalar_one()


def _wait_for_homes(cluster: RabbitCluster, pool: WorkerPool, asked: PrivateNode) -> dict[int, PrivateNode]:
    """Each worker's pid -> the node its consumer connection is on, once every worker has one."""
    homes: dict[int, PrivateNode] = {}

    def every_worker_has_one() -> bool:
        homes.clear()
        homes.update(_consumer_homes(cluster, pool, asked))
        return len(homes) == len(pool.procs)

    _until(every_worker_has_one, 30, "a consumer connection from every worker")
    return homes


def _consumer_homes(cluster: RabbitCluster, pool: WorkerPool, asked: PrivateNode) -> dict[int, PrivateNode]:
    """Each worker's pid -> the node its consumer connection is on."""
    pids = {p.pid for p in pool.procs}
    homes = {}
    for node, name in cluster.connections(asked):
        parts = name.split("/")  # harvest-sync/<role>/<prefix>/<host>/<pid>
        if len(parts) == 5 and parts[1] == "consumer" and parts[4].isdigit() and int(parts[4]) in pids:
            homes[int(parts[4])] = node
    return homes


def _events(pool: WorkerPool, since: float) -> dict[int, list[tuple[float, str]]]:
    """Per worker pid, its (time, event) log lines from ``since`` (epoch seconds) on."""
    out = {}
    for pid, log in pool.log_paths.items():
        events = []
        for line in log.read_text().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a library's plain line, or one still being written
            if not isinstance(record, dict) or "timestamp" not in record:
                continue
            at = datetime.fromisoformat(record["timestamp"].replace("Z", "+00:00")).timestamp()
            if at >= since:
                events.append((at, record.get("event", "")))
        out[pid] = events
    return out


def _all_consuming(pool: WorkerPool, since: float, must_reconnect: set[int]) -> bool:
    """Every worker that lost its connection since ``since`` connected again, and those in
    ``must_reconnect`` (their node is the one lost) did lose it: a worker that has not yet
    noticed the loss is not back."""
    for pid, events in _events(pool, since).items():
        lost = [at for at, event in events if event == "amqp_connection_lost"]
        if pid in must_reconnect and not lost:
            return False
        if lost and not any(at > lost[-1] for at, event in events if event == "consumer_connected"):
            return False
    return True


def _reconnect_seconds(pool: WorkerPool, since: float) -> float:
    """Seconds from ``since`` until the last worker that lost its connection consumed again."""
    back = []
    for events in _events(pool, since).values():
        lost = [at for at, event in events if event == "amqp_connection_lost"]
        if lost:
            back.append(min(at for at, event in events if event == "consumer_connected" and at > lost[-1]))
    return max(back, default=since) - since


def _stem(node: PrivateNode) -> str:
    return node.node.split("-")[0]


def _until(check, deadline_s: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + deadline_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)
