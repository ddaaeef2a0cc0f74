"""Thousands of tenants (issue 16): N small agencies in one simulator, their first syncs, then
one day of scheduled daily actuals syncs through the scheduler with the workers of
`--workers`, Harvest's limit on as in production.

Accounts are registered as rows, each with its own sealed token and Harvest account id (the
admin CLI per account would take longer than the syncs). The first syncs (entities, then
actuals) are published directly and only timed. The measured part is the day: one
`Scheduler.tick()` with a day of catch-up publishes every account's actuals slot at once, and
the workers work through them; every figure comes from the database, /proc and the simulator.
"""

from __future__ import annotations

import argparse
import re
import statistics
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from bench import procs
from bench.env import bench_env
from bench.report import Section
from bench.sim import Agency, Simulator
from bench.stack import DEPLOYED_PREFETCH, Stack
from domain.commands import Command, SyncActuals, SyncEntities
from harvest_sync.bootstrap import bootstrap
from infra.app import App
from infra.config import load_settings

TARGET_PER_S = 150.0  # no-change daily syncs per second on 2 cores
RATE_LIMIT = "100/15"  # Harvest's, shared through PostgreSQL as in production
# A small agency: about 20 people and 60 days.
SMALL = {"people": 20, "projects": 8, "clients": 3, "days": 60, "entries_per_day": 2.0}
FINAL = ("succeeded", "failed", "skipped")
# The runtime's line per acked message, JSON with or without blanks (older revisions had them).
_ACKED = re.compile(r'"event": ?"acked"')
DAY_S = 86_400


def run(args: argparse.Namespace) -> Iterator[Section]:
    baseline = getattr(args, "baseline", None)
    if baseline is not None and args.workers < 2:
        raise SystemExit("python -m bench tenants: --baseline needs --workers 2 or more (ours beside it)")
    agency = _agency(args)
    accounts = args.accounts
    with bench_env(args.database_url, args.amqp_url) as env:
        started = time.monotonic()
        sim = Simulator(env, agency, rate_limit=True, accounts=accounts, ready_timeout_s=1800)
        generated_s = time.monotonic() - started
        stack = Stack(env, sim, rate_limit=RATE_LIMIT)
        try:
            yield measure(stack, agency, accounts, args.workers, generated_s, baseline)
        finally:
            stack.close()
            sim.stop()


def _agency(args: argparse.Namespace) -> Agency:
    given = {k: getattr(args, k, None) for k in SMALL}
    return Agency(**{k: v if v is not None else SMALL[k] for k, v in given.items()})


def measure(
    stack: Stack,
    agency: Agency,
    accounts: int,
    workers: int,
    generated_s: float,
    baseline: Path | None = None,
) -> Section:
    section = Section(
        "tenants",
        f"{accounts:,} accounts of {agency.people} people x {agency.days} days"
        f" ({agency.entries_per_day} entries/person/working day), {workers} worker(s),"
        f" PREFETCH={DEPLOYED_PREFETCH}, HARVEST_RATE_LIMIT={RATE_LIMIT}",
    )
    stack.cli("migrate")
    app = bootstrap(load_settings(stack.cli_env()), engine=stack.engine)
    ids = _register(app, stack, accounts)
    section.add("simulator start (generating the accounts)", f"{generated_s:.0f} s")

    first = stack.start_workers("entities,time_entries", workers)
    first_s = _first_syncs(app, stack, ids)
    stack.stop_workers(first)
    section.add("first syncs (entities, then actuals), not measured", f"{first_s:.0f} s")

    # The day's slots are the daily actuals syncs alone: entity syncs and autofill are other
    # costs, measured by their own benches.
    with stack.engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE accounts SET import_clients_projects = false, import_people = false, autofill = false"
        )
    _a_day_later(stack)
    pool = stack.start_workers("time_entries", workers, baseline=baseline, PREFETCH=DEPLOYED_PREFETCH)
    pool_cpu0 = [procs.cpu_seconds(p.pid) for p in pool]
    stack.sim.reset_stats()
    cpu = _CpuMeter(stack, [p.pid for p in pool])
    sim_cpu0 = procs.cpu_seconds(stack.sim.proc.pid)
    broker = procs.broker_pid()
    broker_cpu0 = procs.cpu_seconds(broker) if broker else 0.0
    busy0, all0 = procs.machine_busy_seconds()
    stolen0 = procs.stolen_seconds()
    with cpu:
        tick_s, day_started = _tick(app)
        runs = _wait_for_day(stack, accounts, day_started)
    busy1, all1 = procs.machine_busy_seconds()
    broker_s = procs.cpu_seconds(broker) - broker_cpu0 if broker else None
    stolen_s = procs.stolen_seconds() - stolen0
    sim_cpu = procs.cpu_seconds(stack.sim.proc.pid) - sim_cpu0
    stats = stack.sim.stats()
    _report_day(section, runs, tick_s, day_started, stats, cpu, sim_cpu, accounts)
    if broker_s is not None:
        _report_capacity(section, cpu, broker_s, accounts)
    section.add(
        "CPU s: simulator / machine busy of available",
        f"{sim_cpu:.1f} / {busy1 - busy0:.1f} of {all1 - all0:.1f}",
    )
    # The machine's speed swings by more than half within an hour; steal is one visible cause.
    section.add("CPU s stolen by the hypervisor (in busy above)", f"{stolen_s:.1f}")
    section.add("database bytes per account", _bytes_per_account(stack, accounts))
    if baseline is not None:
        section.add(f"worker CPU per daily: ours / {baseline}", _side_by_side(pool, pool_cpu0))
    return section


def _side_by_side(pool: list[procs.Proc], cpu0: list[float]) -> str:
    """Each worker's own CPU per daily it acked, ours first, the baseline's last: both ran
    through the same day on the same machine, so the comparison holds however fast it was."""
    shown = []
    for proc, before in zip(pool, cpu0, strict=True):
        acked = len(_ACKED.findall(proc.log.read_text(errors="replace")))
        per = (procs.cpu_seconds(proc.pid) - before) / max(1, acked) * 1000
        shown.append(f"{per:.2f} ms ({acked:,} dailies)")
    return " / ".join([", ".join(shown[:-1]), shown[-1]])


def _register(app: App, stack: Stack, accounts: int) -> list[int]:
    """The simulator's accounts as rows, each with its own Harvest account id and sealed token."""
    rows = []
    for index in range(accounts):
        harvest_id, token = stack.sim.tenant(index)
        rows.append(
            {"name": f"tenant-{index}", "harvest_account_id": harvest_id, "sealed": app.cipher.seal(token)}
        )
    with stack.engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO accounts (name, harvest_account_id, token_sealed)"
                " VALUES (:name, :harvest_account_id, :sealed)"
            ),
            rows,
        )
        return list(conn.exec_driver_sql("SELECT id FROM accounts ORDER BY id").scalars())


def _first_syncs(app: App, stack: Stack, ids: Sequence[int]) -> float:
    """Entities of every account, then their first actuals syncs; seconds for both."""
    started = time.monotonic()
    at = datetime.now(UTC).replace(microsecond=0).isoformat()
    entities = [SyncEntities(i, kinds=("clients_projects", "people"), requested_at=at) for i in ids]
    _publish_and_wait(app, stack, entities)
    _publish_and_wait(app, stack, [SyncActuals(i, requested_at=at) for i in ids])
    return time.monotonic() - started


def _publish_and_wait(app: App, stack: Stack, commands: Sequence[Command], timeout_s: float = 3600) -> None:
    app.publish_many(commands)
    wanted = [c.run_id for c in commands]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with stack.engine.connect() as conn:
            done = dict(
                conn.execute(
                    sa.text(
                        "SELECT status, count(*) FROM sync_runs WHERE message_id = ANY(:ids)"
                        " AND status = ANY(:final) GROUP BY status"
                    ),
                    {"ids": wanted, "final": list(FINAL)},
                ).all()
            )
        if sum(done.values()) >= len(wanted):
            if set(done) != {"succeeded"}:
                raise RuntimeError(f"first syncs ended {done}; logs in {stack.env.workdir}")
            return
        for proc in stack.workers:
            if not proc.alive() and not proc._stopped:
                raise RuntimeError(f"{proc.name} exited:\n{proc.tail()}")
        time.sleep(0.5)
    raise RuntimeError(f"first syncs not done after {timeout_s:.0f} s")


def _a_day_later(stack: Stack) -> None:
    """The next day as the daily syncs find it: Harvest's clock a day on, so the changes they
    ask for (since their cursor, less its overlap) are a quiet day's, none, rather than the
    first syncs' of a few minutes before; autovacuum has been through the freshly loaded
    tables, and a checkpoint has passed (so pages a daily sync edits cost full-page images)."""
    stack.sim.advance_clock(DAY_S)
    with stack.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM (ANALYZE)")
        conn.exec_driver_sql("CHECKPOINT")


def _tick(app: App) -> tuple[float, datetime]:
    """One scheduler tick with a day of catch-up: every account's daily actuals slot at once."""
    from producers.scheduler import Scheduler

    with app.publisher() as publisher:
        scheduler = Scheduler(app, catch_up=timedelta(days=1), publisher=publisher)
        day_started = datetime.now(UTC)
        started = time.perf_counter()
        published = scheduler.tick(day_started)
        seconds = time.perf_counter() - started
    if published == 0:
        raise RuntimeError("the tick published no slot")
    return seconds, day_started


def _wait_for_day(stack: Stack, accounts: int, since: datetime, timeout_s: float = 3600) -> list[sa.Row]:
    """Each daily run of the day, once all are final: (status, published_at, finished_at, counts)."""
    day = (
        " FROM scheduler_slots s"
        " LEFT JOIN sync_runs r ON r.account_id = s.account_id AND r.message_id = s.message_id"
        " WHERE s.kind = 'actuals' AND s.published_at >= :since"
    )
    query = sa.text("SELECT r.status, s.published_at, r.finished_at, r.counts, r.error" + day)
    # Polled by count, the rows read once at the end: reading every run's row and counts four
    # times a second was itself a load on the machine being measured (PostgreSQL's and ours).
    pending = sa.text(
        "SELECT count(*), count(*) FILTER (WHERE r.status IS NULL OR r.status <> ALL(:final))" + day
    )
    params = {"since": since - timedelta(seconds=5), "final": list(FINAL)}
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with stack.engine.connect() as conn:
            slots, unfinished = conn.execute(pending, params).one()
            if slots and not unfinished:
                return conn.execute(query, params).all()
        for proc in stack.workers:
            if not proc.alive() and not proc._stopped:
                raise RuntimeError(f"{proc.name} exited:\n{proc.tail()}")
        time.sleep(0.25)
    raise RuntimeError(f"the day's syncs not done after {timeout_s:.0f} s")


def _report_day(
    section: Section,
    runs: list[sa.Row],
    tick_s: float,
    day_started: datetime,
    stats: dict,
    cpu: _CpuMeter,
    sim_cpu: float,
    accounts: int,
) -> None:
    statuses: dict[str, int] = {}
    for r in runs:
        statuses[r.status] = statuses.get(r.status, 0) + 1
    ok = [r for r in runs if r.status == "succeeded"]
    last = max(r.finished_at for r in runs)
    day_s = (last - day_started).total_seconds()
    per_s = len(runs) / day_s
    latencies = sorted((r.finished_at - r.published_at).total_seconds() for r in ok)
    section.add("daily syncs (runs by status)", ", ".join(f"{n:,} {s}" for s, n in sorted(statuses.items())))
    section.add("scheduler tick (claim + publish)", f"{tick_s:.2f} s")
    section.add("wall, tick -> last daily done", f"{day_s:.1f} s")
    section.add(
        "daily syncs per second",
        f"{per_s:.1f}",
        f">= {TARGET_PER_S:.0f}",
        per_s >= TARGET_PER_S and len(ok) == len(runs),
    )
    if latencies:
        p95 = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))]
        section.add(
            "slot -> done p50 / p95 / max",
            f"{statistics.median(latencies):.1f} / {p95:.1f} / {latencies[-1]:.1f} s",
        )
    section.add(
        "CPU s per account-day: workers + PostgreSQL",
        f"{(cpu.workers_s + cpu.postgres_s) / accounts * 1000:.1f} ms"
        f" ({cpu.workers_s:.1f} + {cpu.postgres_s:.1f} s in all)",
    )
    verified = sum(1 for r in ok if "verify.differences" in (r.counts or {}))
    section.add(
        "Harvest requests per account-day",
        f"{stats['requests'] / accounts:.2f} ({stats['requests']:,}; {stats['rate_limited']} 429s;"
        f" {verified} weekly verifications)",
    )
    paths = sorted(stats["by_path"].items(), key=lambda kv: -kv[1])
    section.notes.append("requests by path: " + ", ".join(f"{p} {n:,}" for p, n in paths))
    errors = {r.error for r in runs if r.error}
    if errors:
        section.notes.append("errors: " + "; ".join(sorted(e[:200] for e in errors)[:5]))


def _report_capacity(section: Section, cpu: _CpuMeter, broker_s: float, accounts: int) -> None:
    """What 2 cores would carry with Harvest elsewhere: here the simulator, Harvest's stand-in,
    runs on the same 2 cores as the system under test, and takes a share of them no
    deployment gives it. Derived from CPU per daily, so it assumes the day stays CPU-bound."""
    per_day_ms = broker_s / accounts * 1000
    section.add("CPU s per account-day: RabbitMQ", f"{per_day_ms:.1f} ms ({broker_s:.1f} s in all)")
    system_s = cpu.workers_s + cpu.postgres_s + broker_s
    if system_s > 0:
        section.add(
            "dailies/s 2 cores carry at that CPU (workers, PostgreSQL, RabbitMQ; no simulator)",
            f"{2 * accounts / system_s:.1f}",
        )


def _bytes_per_account(stack: Stack, accounts: int) -> str:
    with stack.engine.connect() as conn:
        total = conn.exec_driver_sql("SELECT pg_database_size(current_database())").scalar_one()
        entries = conn.exec_driver_sql(
            "SELECT pg_total_relation_size('time_entries') + pg_total_relation_size('actuals')"
        ).scalar_one()
    return (
        f"{total / accounts / 1024:,.0f} KiB (time entries and actuals {entries / accounts / 1024:,.0f} KiB)"
    )


class _CpuMeter:
    """CPU of the workers and of the PostgreSQL backends serving this bench's database while
    running: backends are sampled every half second (a connection closed in between keeps
    its last sample), the machine's other databases and the shared background processes are
    left out."""

    def __init__(self, stack: Stack, worker_pids: list[int], interval_s: float = 0.5) -> None:
        self._stack = stack
        self._worker_pids = worker_pids
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cpu-meter", daemon=True)
        self._first: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self.workers_s = 0.0
        self.postgres_s = 0.0

    def __enter__(self) -> _CpuMeter:
        self._workers0 = sum(procs.cpu_seconds(p) for p in self._worker_pids)
        self._conn = self._stack.engine.connect()
        self._own = self._conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        self._sample(first=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sample()
        self._conn.close()
        self.workers_s = sum(procs.cpu_seconds(p) for p in self._worker_pids) - self._workers0
        self.postgres_s = sum(self._last[p] - self._first.get(p, 0.0) for p in self._last)

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self._sample()

    def _sample(self, *, first: bool = False) -> None:
        pids = self._conn.exec_driver_sql(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> %(own)s",
            {"own": self._own},
        ).scalars()
        for pid in pids:
            if not Path(f"/proc/{pid}").exists():
                continue
            seconds = procs.cpu_seconds(pid)
            if first:
                self._first[pid] = seconds
            self._last[pid] = max(self._last.get(pid, 0.0), seconds)
        self._conn.commit()
