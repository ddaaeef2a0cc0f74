"""The full path of one bench run: migrated database, registered account, workers, and admin
commands that publish to RabbitMQ and wait for the consumers to finish."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench import procs
from bench.env import BenchEnv
from bench.sim import HARVEST_ACCOUNT_ID, Simulator

ACCOUNT = "bench"
# Dailies in flight per worker, as deploy/ runs the time_entries workers (backfill parts are
# taken one at a time whatever it says).
DEPLOYED_PREFETCH = "4"


@dataclass
class Run:
    """A sync_runs row: what a command did and when."""

    message_id: str
    status: str
    counts: dict[str, Any]
    requested_at: datetime
    finished_at: datetime
    error: str | None

    @property
    def seconds(self) -> float:
        """From the admin command's publish to the run's success (both written to the database)."""
        return (self.finished_at - self.requested_at).total_seconds()


@dataclass
class Stack:
    env: BenchEnv
    sim: Simulator | None
    # HARVEST_RATE_LIMIT of the workers: "off" for speed runs, "100/15" when Harvest's limit counts.
    rate_limit: str = "off"
    part_entries: int = 0
    account_id: int = 0
    workers: list[procs.Proc] = field(default_factory=list)
    engine: sa.Engine = field(init=False)

    def __post_init__(self) -> None:
        self.engine = self.env.engine()

    def cli_env(self, **extra: str) -> dict[str, str]:
        if self.sim is not None:
            extra = {"HARVEST_API_URL": self.sim.base_url, **extra}
        return self.env.env(
            HARVEST_RATE_LIMIT=self.rate_limit,
            BACKFILL_PART_ENTRIES=str(self.part_entries),
            **extra,
        )

    def cli(self, *args: str, timeout_s: float = 600, **extra_env: str) -> str:
        return procs.run([procs.CLI, *args], self.cli_env(**extra_env), timeout_s=timeout_s)

    def prepare(self) -> None:
        """Migrate and register the simulator's account with its token."""
        self.cli("migrate")
        out = self.cli(
            "admin",
            "account",
            "add",
            f"--name={ACCOUNT}",
            f"--harvest-account-id={HARVEST_ACCOUNT_ID}",
            HARVEST_TOKEN=self.sim.token if self.sim else "bench-token",
        )
        self.account_id = int(out.strip().splitlines()[-1])

    def start_workers(
        self, queues: str, count: int, *, baseline: Path | None = None, **extra_env: str
    ) -> list[procs.Proc]:
        """`count` workers of `queues`; with `baseline` (a checkout of another revision with its
        own .venv), the last one runs that code instead, beside ours on the same queues."""
        runs = [(procs.CLI, "", self.cli_env(**extra_env))] * count
        if baseline is not None:
            runs[-1] = (
                str(baseline / ".venv" / "bin" / "harvest-sync"),
                "-baseline",
                self.cli_env(**extra_env, PYTHONPATH=str(baseline)),
            )
        started = [
            procs.start(
                f"worker-{queues}-{len(self.workers) + i}{suffix}",
                [cli, "worker", f"--queues={queues}"],
                env,
                self.env.workdir,
            )
            for i, (cli, suffix, env) in enumerate(runs)
        ]
        self.workers.extend(started)
        from domain.commands import consumed_queues

        # A worker of time_entries consumes the parts' queue (backfill) too.
        for queue in consumed_queues(queues.split(",")):
            self.wait_consumers(queue, count, started)
        return started

    def wait_consumers(
        self, queue: str, count: int, started: list[procs.Proc], timeout_s: float = 60
    ) -> None:
        """Until `count` consumers are attached: a run's clock must not include worker start-up."""
        from infra.amqp.connection import blocking_channel
        from infra.amqp.topology import Names, declare_topology

        name = Names(self.env.prefix).work_queue(queue)
        deadline = time.monotonic() + timeout_s
        with blocking_channel(self.env.amqp_url, role="bench", prefix=self.env.prefix) as channel:
            declare_topology(channel, prefix=self.env.prefix)
            while time.monotonic() < deadline:
                for proc in started:
                    if not proc.alive():
                        raise RuntimeError(f"{proc.name} exited:\n{proc.tail()}")
                if channel.queue_declare(name, passive=True).method.consumer_count >= count:
                    return
                time.sleep(0.2)
        raise RuntimeError(f"fewer than {count} consumers on {name} after {timeout_s:.0f}s")

    def stop_workers(self, workers: list[procs.Proc] | None = None) -> None:
        for proc in workers if workers is not None else self.workers:
            proc.stop()

    def admin_sync(self, *args: str, timeout_s: float = 3600) -> Run:
        """`harvest-sync admin sync bench ... --wait`, then the run row of its last command."""
        out = self.cli("admin", "sync", ACCOUNT, *args, "--wait", f"--timeout={int(timeout_s)}")
        ids = [line.split(" ", 1)[1] for line in out.splitlines() if line.startswith("published ")]
        return self.run(ids[-1])

    def sync_entities(self, timeout_s: float = 600) -> Run:
        """Clients, projects and people in one command, as the scheduler publishes them daily."""
        from domain.commands import SyncEntities
        from harvest_sync.bootstrap import bootstrap
        from infra.config import load_settings
        from producers.admin import publish_tracked, wait_for_run

        app = bootstrap(load_settings(self.cli_env()), engine=self.engine)
        cmd = SyncEntities(
            self.account_id, kinds=("clients_projects", "people"), requested_at=datetime.now().isoformat()
        )
        publish_tracked(app, cmd)
        wait_for_run(app, self.account_id, cmd.message_id, timeout_s)
        return self.run(cmd.message_id)

    def run(self, message_id: str) -> Run:
        r = sa.table(
            "sync_runs",
            *(sa.column(c) for c in ("account_id", "message_id", "status", "counts", "requested_at")),
            sa.column("finished_at"),
            sa.column("error"),
        )
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(r.c.status, r.c.counts, r.c.requested_at, r.c.finished_at, r.c.error).where(
                    r.c.account_id == self.account_id, r.c.message_id == message_id
                )
            ).one()
        if row.status != "succeeded":
            raise RuntimeError(f"run {message_id} ended {row.status}: {row.error}")
        return Run(message_id, row.status, row.counts, row.requested_at, row.finished_at, row.error)

    def a_day_later(self) -> None:
        """The database as a daily sync finds it the day after a backfill: autovacuum has been
        through the loaded tables and a checkpoint has passed (so each page a sync edits
        costs a full-page image in the WAL, as in production), instead of racing both."""
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM (ANALYZE) time_entries, actuals")
            conn.exec_driver_sql("CHECKPOINT")

    def scalar(self, sql: str, **params: Any) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(sa.text(sql), {"account_id": self.account_id, **params}).scalar()

    def close(self) -> None:
        self.stop_workers()
        self.engine.dispose()
