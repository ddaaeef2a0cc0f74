"""Fairness (issue 16): a ~750k-entry first sync in parts never starves the small accounts.

One account of the generated agency (default 1,000 people x 365 days) is first-synced in parts,
one per worker; `--accounts` small accounts, first-synced beforehand (not measured), have their
daily syncs queued the moment the parts are: right behind them. The workers consume
time_entries, and with it the parts' own queue (backfill), one delivery of each at a time, so a
worker busy with a part still takes dailies. Figures: each daily's seconds from queued to done,
the backfill's rate and duration, and when each part finished.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime

import requests
import sqlalchemy as sa

from bench import procs
from bench.env import bench_env
from bench.report import Section
from bench.scenarios import backfill
from bench.sim import Agency, Simulator
from bench.stack import DEPLOYED_PREFETCH, Stack
from domain.commands import Command, SyncActuals, SyncEntities
from harvest_sync.bootstrap import bootstrap
from infra.app import App
from infra.config import load_settings

TARGET_DAILY_MAX_S = 60.0
TARGET_PART_SPREAD = 0.15  # the last part done within 15% of the first's time
# A small account: a handful of people over a month, first-synced before the measured moment.
SMALL = {"people": 5, "projects": 3, "clients": 2, "days": 30, "entries_per_day": 2.0}
SMALL_HARVEST_IDS = 5_000_000  # the small accounts' Harvest ids start after this
FINAL = ("succeeded", "failed", "skipped")


def run(args: argparse.Namespace) -> Iterator[Section]:
    agency = Agency(
        **{
            k: getattr(args, k)
            for k in ("people", "projects", "clients", "days", "entries_per_day")
            if getattr(args, k, None) is not None
        }
    )
    with bench_env(args.database_url, args.amqp_url) as env:
        sim = Simulator(env, agency, rate_limit=False)
        stack = Stack(env, sim, rate_limit="off")
        try:
            total = sim.counts()["time_entries"]
            stack.part_entries = (
                args.part_entries
                if args.part_entries is not None
                else backfill.auto_part_entries(total, args.workers)
            )
            yield measure(stack, agency, args.accounts, args.workers, total)
        finally:
            stack.close()
            sim.stop()


def measure(stack: Stack, agency: Agency, accounts: int, workers: int, total: int) -> Section:
    section = Section(
        "fairness",
        f"{backfill.params(agency, workers, stack.part_entries, stack.rate_limit)};"
        f" {accounts:,} small accounts of {SMALL['people']} people x {SMALL['days']} days;"
        f" PREFETCH={DEPLOYED_PREFETCH}",
    )
    stack.prepare()  # the large account, "bench"
    app = bootstrap(load_settings(stack.cli_env()), engine=stack.engine)
    small = _small_accounts(app, stack, accounts, agency.end_date)

    setup = stack.start_workers("entities,time_entries", workers, PREFETCH=DEPLOYED_PREFETCH)
    started = time.monotonic()
    at = datetime.now(UTC).isoformat()
    entities = [SyncEntities(a, ("clients_projects", "people"), at) for a in [stack.account_id, *small]]
    _publish_and_wait(app, stack, entities)
    _publish_and_wait(app, stack, [SyncActuals(a, at) for a in small])
    stack.stop_workers(setup)
    section.add("small accounts' first syncs (not measured)", f"{time.monotonic() - started:.0f} s")
    stack.a_day_later()

    pool = stack.start_workers("time_entries", workers, PREFETCH=DEPLOYED_PREFETCH)
    busy0, all0 = procs.machine_busy_seconds()
    sim_cpu0 = procs.cpu_seconds(stack.sim.proc.pid)
    first_sync = SyncActuals(stack.account_id, datetime.now(UTC).isoformat())
    from producers.services.syncs import publish_tracked

    publish_tracked(app, first_sync)
    _wait_for_parts(stack)
    queued_at = datetime.now(UTC)
    dailies = [SyncActuals(a, queued_at.isoformat()) for a in small]
    app.publish_many(dailies)
    daily_done = _wait_for_runs(stack, dailies)
    finished = _wait_for_runs(stack, [first_sync], timeout_s=3600)[first_sync.run_id]
    busy1, all1 = procs.machine_busy_seconds()
    sim_cpu = procs.cpu_seconds(stack.sim.proc.pid) - sim_cpu0
    for proc in pool:
        proc.sample()

    _report_dailies(section, [(done - queued_at).total_seconds() for done in daily_done.values()])
    published = stack.run(first_sync.message_id).requested_at
    backfill_s = (finished - published).total_seconds()
    section.add("time entries of the large account", f"{total:,}")
    section.add("backfill, publish -> run succeeded", f"{backfill_s:.1f} s")
    section.add("backfill entries/s end to end", f"{total / backfill_s:,.0f}")
    _report_parts(section, stack, published)
    section.add("check: stored = Harvest's, actual minutes = applied minutes", backfill._check(stack, total))
    section.add(
        "CPU s: workers / simulator / machine busy of available",
        f"{sum(p.cpu_s for p in pool):.1f} / {sim_cpu:.1f} / {busy1 - busy0:.1f} of {all1 - all0:.1f}",
    )
    return section


def _small_accounts(app: App, stack: Stack, count: int, end_date: date) -> list[int]:
    """`count` small accounts in the simulator (its control API), each with a token of its
    own, registered here as rows: our ids."""
    http = requests.Session()
    rows = []
    # History ends yesterday, as the agency's: a day without change is what a daily then finds.
    end = end_date.isoformat()
    try:
        for index in range(count):
            harvest_id, token = SMALL_HARVEST_IDS + index, secrets.token_urlsafe(12)
            body = {"account_id": harvest_id, "token": token, "seed": 1000 + index, **SMALL, "end_date": end}
            http.post(f"{stack.sim.control_url}/accounts", json=body, timeout=60).raise_for_status()
            rows.append({"name": f"small-{index}", "harvest": harvest_id, "sealed": app.cipher.seal(token)})
    finally:
        http.close()
    with stack.engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO accounts (name, harvest_account_id, token_sealed)"
                " VALUES (:name, :harvest, :sealed)"
            ),
            rows,
        )
        return list(
            conn.exec_driver_sql("SELECT id FROM accounts WHERE name LIKE 'small-%%' ORDER BY id").scalars()
        )


def _publish_and_wait(app: App, stack: Stack, commands: Sequence[Command]) -> None:
    app.publish_many(commands)
    _wait_for_runs(stack, commands)


def _wait_for_runs(stack: Stack, commands: Sequence[Command], timeout_s: float = 1800) -> dict[str, datetime]:
    """Until every command's run is final: each one's finished_at; any but success raises."""
    ids = [c.run_id for c in commands]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with stack.engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT message_id, status, finished_at, error FROM sync_runs"
                    " WHERE message_id = ANY(:ids) AND status = ANY(:final)"
                ),
                {"ids": ids, "final": list(FINAL)},
            ).all()
        failed = [r for r in rows if r.status != "succeeded"]
        if failed:
            raise RuntimeError(f"{len(failed)} run(s) ended {failed[0].status}: {failed[0].error}")
        if len(rows) >= len(ids):
            return {r.message_id: r.finished_at for r in rows}
        for proc in stack.workers:
            if not proc.alive() and not proc._stopped:
                raise RuntimeError(f"{proc.name} exited:\n{proc.tail()}")
        time.sleep(0.2)
    raise RuntimeError(f"runs not done after {timeout_s:.0f} s; logs in {stack.env.workdir}")


def _wait_for_parts(stack: Stack, timeout_s: float = 300) -> None:
    """Until the first sync has planned and recorded its parts (published right after)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if stack.scalar("SELECT count(*) FROM backfill_parts WHERE account_id = :account_id"):
            return
        time.sleep(0.02)
    raise RuntimeError(f"no backfill parts after {timeout_s:.0f} s; is the history split?")


def _report_dailies(section: Section, seconds: list[float]) -> None:
    seconds.sort()
    p95 = seconds[min(len(seconds) - 1, int(0.95 * len(seconds)))]
    section.add("dailies done", f"{len(seconds):,}")
    section.add(
        "dailies queued -> done p50 / p95 / max",
        f"{statistics.median(seconds):.1f} / {p95:.1f} / {seconds[-1]:.1f} s",
        f"max <= {TARGET_DAILY_MAX_S:.0f} s",
        seconds[-1] <= TARGET_DAILY_MAX_S,
    )


def _report_parts(section: Section, stack: Stack, published: datetime) -> None:
    with stack.engine.connect() as conn:
        done = [
            (d - published).total_seconds()
            for d in conn.execute(
                sa.text("SELECT done_at FROM backfill_parts WHERE account_id = :a ORDER BY done_at"),
                {"a": stack.account_id},
            ).scalars()
        ]
    spread = (done[-1] - done[0]) / done[0]
    section.add(
        "parts done (s after publish): first, last, spread",
        f"{len(done)} parts: {done[0]:.1f}, {done[-1]:.1f}, {spread:.1%}",
        f"last within {TARGET_PART_SPREAD:.0%} of first",
        spread <= TARGET_PART_SPREAD,
    )
