"""Harvest's rate limit, shared by every process that uses the same token.

Harvest allows 100 requests per 15 s per token and answers 429 beyond. Four workers syncing
one account each keeping their own count would together send four times that; so the count
lives in PostgreSQL, which every worker already shares: a log of request times per account,
read and appended under an advisory lock. One round trip to PostgreSQL (one short
transaction, committed without waiting for the disk) takes a lease of up to `lease` slots,
which the process then spends on its next requests without asking again; a lease is good for
half the margin only (see `SharedRateLimit`), and what is left of it then is dropped.

Another app may use the same token and spend part of those 100 requests. Harvest then answers
429 to requests this limit let through; the limit learns from it, AIMD-style as TCP does: a
refusal halves the rate it allows itself for that account, and every `recovery_s` without one
gives a request per window back, up to the configured limit. The learned rate lives in
`harvest_rate_state`, so every process slows down together, and is read in the slot's own
statement.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

import sqlalchemy as sa
import structlog

from domain.commands import Lock
from infra.db.prepared import Prepared

log = structlog.get_logger(__name__)

# One account's request log at a time, and apart from it its log of /reports/* requests.
BUCKET_LOCKS = {"api": Lock.REQUEST_LOG, "reports": Lock.REPORTS_LOG}
# Harvest's documented limits: the API, and /reports/* apart (reference §3).
API_LIMIT = (100, 15.0)
REPORTS_LIMIT = (100, 900.0)
# A refusal halves the learned rate, never below this share of the configured limit (nor 1):
# a token mostly spent elsewhere still leaves this service some progress, and the client's
# patience absorbs the 429s that remain.
DECREASE_FACTOR = 0.5
FLOOR_SHARE = 0.1
# One request per window comes back after this many seconds without a refusal: from half the
# limit back to 100/15 s in 25 minutes.
RECOVERY_S = 30.0


def bucket_limits(api_limit: tuple[int, float] | None) -> dict[str, tuple[int, float]]:
    """(limit, window) per bucket when the shared limit is on (`HARVEST_RATE_LIMIT`), else none."""
    if api_limit is None:
        return {}
    return {"api": api_limit, "reports": REPORTS_LIMIT}


def recovered(learned: float, since_s: float, limit: int, recovery_s: float = RECOVERY_S) -> float:
    """The learned rate `since_s` seconds after it was last lowered: additive increase."""
    steps = math.floor(max(since_s, 0.0) / recovery_s)
    return min(float(limit), learned + steps)


class SharedRateLimit:
    """At most `limit` requests in any `window_s` (+ `margin_s`) for one account, across pods;
    fewer while Harvest is seen refusing requests this limit let through (see `refused`).

    The margin absorbs the time between taking a slot and the request reaching Harvest, whose
    window counts arrivals: 100 per 16 s still uses 94% of what Harvest allows.

    Up to `lease` slots are taken in one round trip and spent by this object's next calls,
    from any thread, for `margin_s / 2` after they were taken: a slot is stamped when it is
    taken but Harvest counts the request when it arrives, and the margin must cover both the
    time a slot waits in the lease and the request's way to Harvest. A slot left unused then
    expires in the log like a used one. So that a caller slower than that (a backfill storing
    a page between requests) does not waste most of every lease, the next lease takes as many
    slots as the last one spent, and twice as many (up to `lease`) when the last one ran out
    while still good.
    """

    def __init__(
        self,
        engine: sa.Engine,
        account_id: int,
        *,
        limit: int = 100,
        window_s: float = 15.0,
        margin_s: float = 1.0,
        bucket: str = "api",
        recovery_s: float = RECOVERY_S,
        lease: int = 1,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        on_wait: Callable[[float], None] | None = None,
    ) -> None:
        if lease < 1:
            raise ValueError("lease must be at least 1 slot")
        if lease > 1 and margin_s <= 0:
            raise ValueError("a lease of several slots needs a margin to spend them in")
        self._engine = engine
        self._bucket = bucket
        self._lock_class = BUCKET_LOCKS[bucket]
        self._account_id = account_id
        self._limit = limit
        self._span_s = window_s + margin_s
        self._recovery_s = recovery_s
        self._floor = max(1.0, limit * FLOOR_SHARE)
        self._sleep = sleep
        self._monotonic = monotonic
        self._on_wait = on_wait or (lambda seconds: None)
        self.waited_s = 0.0
        self._lease = lease
        self._lease_s = margin_s / 2
        # The next lease's size; the current one's slots kept and not yet spent, and when they
        # may no longer be (monotonic).
        self._lease_size = lease
        self._lease_kept = 0
        self._leased = 0
        self._leased_until = 0.0
        self._lease_lock = threading.Lock()

    def __call__(self) -> None:
        """Block until this process may send one request."""
        while True:
            # Held over the round trip too: a second thread that found the lease empty at the
            # same moment would otherwise take a lease of its own and waste most of one.
            with self._lease_lock:
                if self._spend_leased():
                    return
                wait = self._take_lease()
            if wait <= 0:
                return
            self.waited_s += wait
            self._on_wait(wait)
            self._sleep(wait)

    def refused(self) -> float | None:
        """Harvest answered 429 to a request this limit let through: lower the account's rate.

        Returns the new learned rate, or None when it was already lowered less than a window
        ago: the requests refused in one burst (every worker sees its own 429) are one signal.
        """
        # Slots taken before the refusal were counted against a rate Harvest does not grant.
        self._drop_lease()
        with self._engine.begin() as conn:
            self._lock(conn)
            state = self._state(conn)
            if state is not None and float(state[1]) < self._span_s:
                return None
            current = self._learned(state)
            lowered = max(self._floor, current * DECREASE_FACTOR)
            conn.execute(
                sa.text(
                    "INSERT INTO harvest_rate_state (account_id, bucket, learned_limit, changed_at)"
                    " VALUES (:a, :b, :learned, clock_timestamp())"
                    " ON CONFLICT (account_id, bucket) DO UPDATE"
                    " SET learned_limit = EXCLUDED.learned_limit, changed_at = EXCLUDED.changed_at"
                ),
                {**self._params(), "learned": lowered},
            )
        log.warning(
            "harvest_rate_lowered",
            account_id=self._account_id,
            bucket=self._bucket,
            from_limit=round(current, 2),
            learned_limit=round(lowered, 2),
        )
        return lowered

    def learned_limit(self) -> float:
        """The requests per window this limit allows itself now (the configured limit unless
        Harvest refused some lately)."""
        with self._engine.connect() as conn:
            state = self._state(conn)
        return self._learned(state)

    def _state(self, conn: sa.Connection) -> sa.Row | None:
        """The learned rate and its age in seconds, by the database's clock; None: none."""
        return conn.execute(
            sa.text(
                "SELECT learned_limit, EXTRACT(EPOCH FROM clock_timestamp() - changed_at)"
                " FROM harvest_rate_state WHERE account_id = :a AND bucket = :b"
            ),
            self._params(),
        ).one_or_none()

    def _spend_leased(self) -> bool:
        """Spend a slot of the lease if one is left and still good, else end the lease and size
        the next one by how this one went; under the lease lock."""
        good = self._monotonic() < self._leased_until
        if good and self._leased > 0:
            self._leased -= 1
            return True
        if good:
            # Requests come faster than the lease lasts: fewer round trips with a larger one.
            self._lease_size = min(self._lease, 2 * self._lease_size)
        elif self._leased > 0:
            # Requests come slower: a larger lease than this one spent only wastes slots.
            self._lease_size = max(1, self._lease_kept - self._leased)
        self._leased, self._leased_until = 0, 0.0
        return False

    def _take_lease(self) -> float:
        """Take a lease, spend its first slot and return 0, or return the seconds until a slot
        frees; under the lease lock."""
        # Before the round trip: the slots' stamps are later, so the lease ends early, not late.
        taken_at = self._monotonic()
        kept, wait = self._try_take(self._lease_size)
        if kept > 0:
            self._lease_kept, self._leased = kept, kept - 1
            self._leased_until = taken_at + self._lease_s
        return wait

    def _drop_lease(self) -> None:
        with self._lease_lock:
            self._leased, self._leased_until = 0, 0.0

    def _try_take(self, wanted: int) -> tuple[int, float]:
        """Take up to `wanted` slots: how many were kept, and when none was, the seconds until
        one frees (else 0).

        One round trip when the slots are free: the statements below travel in one query
        string, which PostgreSQL runs as one transaction, so the lock taken by the first holds
        for the rest and is released at its end; the slots are inserted before it is known
        that they are free (the count comes in the same statement) and the surplus given back
        at once, so a lease taken in a nearly full window, or a process that waits, costs a
        second round trip, and another process counting meanwhile only waits a little longer.
        The log is committed without waiting for the disk: what a crash of PostgreSQL may lose
        is the last fraction of a second of slots, a few requests Harvest would then refuse
        (and the limit learn from) rather than a wrong count."""
        with self._engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            taken = _TAKE.execute(conn, {**self._params(), "n": wanted}, before=_LOCKED).one()
            used, learned, since_s, ctids = taken
            allowed = max(1, math.floor(self._learned(None if learned is None else (learned, since_s))))
            kept = min(wanted, max(0, allowed - used))
            if kept == wanted:
                return kept, 0.0
            surplus = {**self._params(), "ctids": ctids[kept:]}
            if kept > 0:
                conn.exec_driver_sql(_GIVE_BACK, surplus)
                return kept, 0.0
            # Only a waiting process asks this: the age of the request whose expiry brings the
            # count under the allowed rate (the oldest, unless the rate was lowered).
            age = conn.exec_driver_sql(_GIVE_BACK + _FREEING_AGE, {**surplus, "skip": used - allowed})
            age_s = age.scalar()
        return 0, max(0.01, self._span_s - float(age_s if age_s is not None else self._span_s))

    def _learned(self, state: sa.Row | tuple | None) -> float:
        if state is None:
            return float(self._limit)
        learned, since_s = state
        return recovered(float(learned), float(since_s), self._limit, self._recovery_s)

    def _lock(self, conn: sa.Connection) -> None:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:c, CAST(:a AS integer))"), self._params())

    def _params(self) -> dict[str, object]:
        return {
            "c": int(self._lock_class),
            "a": self._account_id,
            "b": self._bucket,
            "span": self._span_s,
        }


# Take `n` slots: the lock, expired slots deleted, the slots inserted, and in the same statement
# (the same snapshot, so without the new slots) how many were taken in the window and the
# learned rate. The database's clock, so every pod measures the window the same way.
_LOCKED = """
SET LOCAL synchronous_commit = off;
SELECT pg_advisory_xact_lock(%(c)s, CAST(%(a)s AS integer));
"""
_TAKE = Prepared(
    "hs_take_slots",
    """
WITH expired AS (
    DELETE FROM harvest_request_log WHERE account_id = :a AND bucket = :b
    AND at <= clock_timestamp() - make_interval(secs => :span)
), taken AS (
    INSERT INTO harvest_request_log (account_id, bucket, at)
    SELECT :a, :b, clock_timestamp() FROM generate_series(1, :n)
    RETURNING ctid
)
SELECT (SELECT count(*) FROM harvest_request_log WHERE account_id = :a AND bucket = :b
        AND at > clock_timestamp() - make_interval(secs => :span)),
    s.learned_limit, EXTRACT(EPOCH FROM clock_timestamp() - s.changed_at),
    (SELECT array_agg(ctid::text) FROM taken)
FROM (SELECT 1) AS one LEFT JOIN harvest_rate_state AS s ON s.account_id = :a AND s.bucket = :b
""",
    {"a": "bigint", "b": "text", "span": "double precision", "n": "integer"},
)
# Slots that were not free, given back.
_GIVE_BACK = """
DELETE FROM harvest_request_log
WHERE ctid = ANY(CAST(%(ctids)s AS text[])::tid[]) AND account_id = %(a)s AND bucket = %(b)s;
"""
# The age of the slot whose expiry frees one.
_FREEING_AGE = """
SELECT EXTRACT(EPOCH FROM clock_timestamp() - at) FROM harvest_request_log
WHERE account_id = %(a)s AND bucket = %(b)s AND at > clock_timestamp() - make_interval(secs => %(span)s)
ORDER BY at OFFSET %(skip)s LIMIT 1
"""


def parse_rate_limit(text: str) -> tuple[int, float] | None:
    """'100/15' -> (100, 15.0); 'off' or '0' -> None (no shared limit)."""
    if text.strip().lower() in ("off", "0", "none", ""):
        return None
    count, _, seconds = text.partition("/")
    limit, window = int(count), float(seconds or 15)
    if limit < 1 or window <= 0:
        raise ValueError
    return limit, window
