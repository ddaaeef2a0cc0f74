"""What probes and scrapes read from PostgreSQL: SELECT 1, account states, ledger size, sync ages,
the Harvest rates the shared limiter learned.

All of it goes through ``probe_engine``: a pool-less engine on the App's database with short
timeouts. Handlers may hold every connection of the App's pool for minutes; a readiness probe
waiting behind them would fail for the wrong reason, and a dead database must answer within
the probe's timeout (3 s in deploy/base), not the App's 10 s connect timeout.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import sqlalchemy as sa
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy.pool import NullPool

from domain.accounts import KIND_FLAGS
from infra.db import tables as t
from infra.harvest.ratelimit import RECOVERY_S, recovered
from infra.observability.scrape import CachedRead

PROBE_CONNECT_TIMEOUT_S = 2  # libpq's minimum
PROBE_STATEMENT_TIMEOUT_MS = 5000
SCRAPE_CACHE_TTL_S = 15.0


def probe_engine(engine: sa.Engine) -> sa.Engine:
    """An engine on the same database as ``engine``, without a pool, failing fast.

    No pool: a probe every few seconds does not need one, and nothing stale is kept across a
    database restart.
    """
    return sa.create_engine(
        engine.url,
        poolclass=NullPool,
        connect_args={
            "connect_timeout": PROBE_CONNECT_TIMEOUT_S,
            "options": f"-c statement_timeout={PROBE_STATEMENT_TIMEOUT_MS}",
            "application_name": "harvest-sync-probe",
        },
    )


def database_check(engine: sa.Engine) -> Callable[[], str | None]:
    """A readiness check: None when the database answers ``SELECT 1``; raises otherwise."""

    def check() -> str | None:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1")).scalar_one()
        return None

    return check


@dataclass(frozen=True)
class Snapshot:
    """What one scrape-time read of the database found."""

    accounts_by_status: dict[str, int] = field(default_factory=dict)
    ledger_by_reason: dict[str, int] = field(default_factory=dict)
    # (account id, kind, last success as a Unix timestamp)
    last_success: list[tuple[int, str, float]] = field(default_factory=list)
    # account id -> differences the last check against Harvest's reports found
    verify_differences: dict[int, int] = field(default_factory=dict)
    # (account id, bucket, requests per window the shared limiter allows itself now)
    learned_limits: list[tuple[int, str, float]] = field(default_factory=list)


def read_snapshot(
    engine: sa.Engine,
    rate_limits: Mapping[str, int] | None = None,
    *,
    recovery_s: float = RECOVERY_S,
) -> Snapshot:
    """Five aggregate reads in one short transaction (about 50k rows for 10k accounts).

    `rate_limits` (configured limit per bucket) caps the learned rates as the limiter does;
    without it, or for a bucket it lacks (HARVEST_RATE_LIMIT=off), none are reported.
    """
    a, s, led, v = t.accounts, t.account_sync_state, t.import_ledger, t.verification_runs
    with engine.connect() as conn:
        statuses = conn.execute(sa.select(a.c.status, sa.func.count()).group_by(a.c.status)).all()
        reasons = conn.execute(sa.select(led.c.reason, sa.func.count()).group_by(led.c.reason)).all()
        successes = conn.execute(
            sa.select(s.c.account_id, s.c.kind, s.c.last_success_at)
            .join(a, a.c.id == s.c.account_id)
            # A disabled account, or a kind switched off, is not synced on purpose: its growing
            # age is no alert.
            .where(
                s.c.last_success_at.is_not(None),
                a.c.status != "disabled",
                sa.or_(*(sa.and_(s.c.kind == kind, a.c[flag]) for kind, flag in KIND_FLAGS.items())),
            )
        ).all()
        newest = sa.select(v.c.account_id, sa.func.max(v.c.id)).group_by(v.c.account_id)
        verified = conn.execute(
            sa.select(v.c.account_id, v.c.differences).where(sa.tuple_(v.c.account_id, v.c.id).in_(newest))
        ).all()
        rates = _learned_rates(conn, rate_limits or {}, recovery_s)
    return Snapshot(
        accounts_by_status=dict(statuses),
        ledger_by_reason=dict(reasons),
        last_success=[(acc, kind, at.timestamp()) for acc, kind, at in successes],
        verify_differences=dict(verified),
        learned_limits=rates,
    )


def _learned_rates(
    conn: sa.Connection, rate_limits: Mapping[str, int], recovery_s: float
) -> list[tuple[int, str, float]]:
    """Only accounts Harvest ever refused have a row; a deleted account's row is left out."""
    if not rate_limits:
        return []
    r, a = t.harvest_rate_state, t.accounts
    since_s = sa.extract("epoch", sa.func.clock_timestamp() - r.c.changed_at)
    rows = conn.execute(
        sa.select(r.c.account_id, r.c.bucket, r.c.learned_limit, since_s)
        .join(a, a.c.id == r.c.account_id)
        .where(r.c.bucket.in_(list(rate_limits)))
        .order_by(r.c.account_id, r.c.bucket)
    ).all()
    return [
        (acc, bucket, recovered(learned, float(since), rate_limits[bucket], recovery_s))
        for acc, bucket, learned, since in rows
    ]


class DatabaseGauges:
    """A Prometheus collector computing gauges from the database at scrape time.

    The read is cached for ``ttl_s`` (see ``CachedRead``); ages are computed from the cached
    timestamps at each scrape, so they keep growing between reads. Costs nothing between scrapes.
    """

    def __init__(
        self,
        load: Callable[[], Snapshot],
        *,
        ttl_s: float = SCRAPE_CACHE_TTL_S,
        monotonic: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._read = CachedRead(
            load, ttl_s=ttl_s, failure_event="metrics_database_read_failed", monotonic=monotonic
        )
        self._wall_clock = wall_clock

    @classmethod
    def for_engine(
        cls,
        engine: sa.Engine,
        *,
        ttl_s: float = SCRAPE_CACHE_TTL_S,
        rate_limits: Mapping[str, int] | None = None,
        recovery_s: float = RECOVERY_S,
    ) -> DatabaseGauges:
        return cls(lambda: read_snapshot(engine, rate_limits, recovery_s=recovery_s), ttl_s=ttl_s)

    def describe(self) -> list[GaugeMetricFamily]:
        # Names only: registering must not query the database.
        return list(self._families())

    def collect(self) -> Iterator[GaugeMetricFamily]:
        snapshot = self._read.get()
        up, accounts, ledger, ages, drift, learned = self._families()
        up.add_metric([], 1.0 if snapshot is not None else 0.0)
        yield up
        if snapshot is None:
            return  # absent rather than stale or zero: "no data" must not read as "all fine"
        for status, count in sorted(snapshot.accounts_by_status.items()):
            accounts.add_metric([status], count)
        for reason, count in sorted(snapshot.ledger_by_reason.items()):
            ledger.add_metric([reason], count)
        now = self._wall_clock()
        for account_id, kind, at in snapshot.last_success:
            ages.add_metric([str(account_id), kind], max(0.0, now - at))
        for account_id, found in sorted(snapshot.verify_differences.items()):
            drift.add_metric([str(account_id)], found)
        for account_id, bucket, rate in snapshot.learned_limits:
            learned.add_metric([str(account_id), bucket], rate)
        yield from (accounts, ledger, ages, drift, learned)

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, ...]:
        return (
            GaugeMetricFamily(
                "harvest_sync_database_gauges_up",
                "1 if the last scrape-time database read succeeded (the gauges below are absent if not).",
            ),
            GaugeMetricFamily("harvest_sync_accounts", "Accounts by status.", labels=["status"]),
            GaugeMetricFamily(
                "harvest_sync_ledger_entries",
                "Records held in the import ledger (not imported), all accounts, by reason.",
                labels=["reason"],
            ),
            GaugeMetricFamily(
                "harvest_sync_last_success_age_seconds",
                "Seconds since the last successful sync, per account and kind (disabled accounts left out).",
                labels=["account_id", "kind"],
            ),
            GaugeMetricFamily(
                "harvest_sync_verify_differences",
                "Projects and people whose hours differed from Harvest's reports at the last check,"
                " per account.",
                labels=["account_id"],
            ),
            GaugeMetricFamily(
                "harvest_sync_harvest_learned_rate_limit",
                "Requests per window the shared limit allows itself for an account and bucket (api,"
                " reports): lowered when Harvest refused requests it let through, back to the"
                " configured limit step by step; only accounts Harvest ever refused.",
                labels=["account_id", "bucket"],
            ),
        )
