"""One chaos scenario: a backfill of 100,000+ entries through real worker processes while
something breaks, then a comparison of the database with the simulator's ground truth."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from domain.commands import SyncActuals
from infra.amqp import QUEUES, queue_depths
from infra.db import tables as t
from tests.integration.actuals_support import sync_entities
from tests.integration.helpers import all_dead_letters, register_account, run_status
from tests.integration.truth import actual_rows, expected_actuals

# 220 people over a year: about 106,000 entries. `make chaos-report` runs it larger.
AGENCY = {
    "seed": 11,
    "people": int(os.environ.get("CHAOS_PEOPLE", "220")),
    "projects": 40,
    "clients": 10,
    "days": 365,
    "entries_per_day": 2,
}


@dataclass
class Outcome:
    scenario: str
    entries: int
    lost: int
    doubled: int
    wrong: int
    seconds: float
    requests: int = 0  # made to Harvest for the account (entities included)
    notes: str = ""  # the scenario's own figures, for the report

    @property
    def clean(self) -> bool:
        return self.lost == self.doubled == self.wrong == 0


OUTCOMES: list[Outcome] = []  # every scenario's figures, for the report table


@dataclass(frozen=True)
class Running:
    """The sync a scenario's chaos acts on."""

    account_id: int
    harvest_id: int
    cmd: SyncActuals

    def progress(self, engine: sa.Engine) -> dict:
        """The run's progress as the workers last wrote it ({} before it starts)."""
        with engine.connect() as conn:
            row = conn.execute(
                sa.select(t.sync_runs.c.progress).where(
                    t.sync_runs.c.account_id == self.account_id, t.sync_runs.c.message_id == self.cmd.run_id
                )
            ).first()
        return dict(row[0] or {}) if row else {}

    def share_done(self, engine: sa.Engine) -> float:
        p = self.progress(engine)
        return (p.get("entries") or 0) / p["total_entries"] if p.get("total_entries") else 0.0


def run_scenario(
    name: str,
    *,
    app,  # type: ignore[no-untyped-def]
    simulator,  # type: ignore[no-untyped-def]
    pool,  # type: ignore[no-untyped-def]
    chaos: Callable[[threading.Event, Running], None] | None = None,
    before_publish: Callable[[int, SyncActuals], None] | None = None,
    agency: dict | None = None,
    deadline_s: float = 240.0,  # under pytest's 300 s, so a stall reports the worker logs
) -> Outcome:
    harvest_id = 7_000_000 + uuid.uuid4().int % 1_000_000
    token = f"chaos-{uuid.uuid4().hex}"
    simulator.add_account(account_id=harvest_id, token=token, **(agency or AGENCY))
    account_id = register_account(
        app, harvest_account_id=harvest_id, token=token, name=f"chaos-{name}-{harvest_id}"
    )
    sync_entities(app, account_id)
    cmd = SyncActuals(account_id, datetime.now(UTC).isoformat())
    stop = threading.Event()
    running = Running(account_id, harvest_id, cmd)
    breaker = threading.Thread(target=chaos, args=(stop, running), daemon=True) if chaos else None
    t0 = time.monotonic()
    app.publish(cmd)
    if before_publish:
        before_publish(account_id, cmd)
    if breaker:
        breaker.start()
    try:
        _wait(
            lambda: _run_status(app.engine, account_id, cmd.message_id) == "succeeded",
            deadline_s,
            name,
            pool,
            parked=lambda: _parked(app),
        )
    finally:
        stop.set()
        if breaker:
            breaker.join(timeout=120)
    _wait(lambda: _drained(app), 120, f"{name}: queues drained", pool)
    seconds = time.monotonic() - t0
    outcome = _compare(name, app, simulator, account_id, harvest_id, seconds)
    OUTCOMES.append(outcome)
    return outcome


def _compare(name, app, simulator, account_id, harvest_id, seconds) -> Outcome:  # type: ignore[no-untyped-def]
    truth = simulator.store(harvest_id).list("time_entries")
    requests = simulator.stats()["by_account"].get(str(harvest_id), 0)
    with app.engine.connect() as conn:
        stored = conn.execute(
            sa.select(t.time_entries.c.harvest_id, sa.func.count())
            .where(t.time_entries.c.account_id == account_id)
            .group_by(t.time_entries.c.harvest_id)
        ).all()
    stored_ids = {hid for hid, _ in stored}
    truth_ids = {e["id"] for e in truth}
    expected = expected_actuals(app.engine, account_id, truth)
    actual = actual_rows(app.engine, account_id)
    wrong = sum(1 for k in expected.keys() | actual.keys() if expected.get(k) != actual.get(k))
    return Outcome(
        scenario=name,
        entries=len(truth),
        lost=len(truth_ids - stored_ids),
        doubled=len(stored_ids - truth_ids) + sum(n - 1 for _, n in stored if n > 1),
        wrong=wrong,
        seconds=round(seconds, 1),
        requests=requests,
    )


def _run_status(engine: sa.Engine, account_id: int, message_id: str) -> str | None:
    try:
        return run_status(engine, account_id, message_id)
    except sa.exc.OperationalError:
        return None  # the chaos terminated our connection too; ask again


def _drained(app) -> bool:  # type: ignore[no-untyped-def]
    s = app.settings
    try:
        depths = queue_depths(s.amqp_url, s.amqp_prefix, QUEUES, retry_delays=s.retry_delays)
    except Exception:
        return False
    return all(n == 0 for name, n in depths.items() if not name.endswith(".dead"))


def _parked(app) -> dict:  # type: ignore[no-untyped-def]
    """Dead letters by queue, read only once a dead queue's depth says there are some: the
    depths take one connection, the letters one per queue, and this is asked twice a second."""
    s = app.settings
    try:
        depths = queue_depths(s.amqp_url, s.amqp_prefix, QUEUES, retry_delays=s.retry_delays)
        if not any(n for name, n in depths.items() if name.endswith(".dead")):
            return {}
        return all_dead_letters(s.amqp_url, s.amqp_prefix)
    except Exception:  # the broker may be the fault under test: then nothing is known parked
        return {}


def _wait(check: Callable[[], bool], deadline_s: float, what: str, pool, parked=None) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + deadline_s
    while not check():
        # A parked message means the sync cannot finish: say so now rather than at the deadline.
        if parked and (letters := parked()):
            raise AssertionError(f"dead-lettered while waiting for {what}: {letters}\n{pool.logs()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n--- worker logs ---\n{pool.logs()}")
        if len(pool.alive()) == 0:
            raise AssertionError(f"every worker died while waiting for {what}\n{pool.logs()}")
        time.sleep(0.5)
