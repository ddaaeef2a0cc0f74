"""Harvest's rate limit, shared by every process that uses the same token.

Harvest allows 100 requests per 15 s per token and answers 429 beyond. Four workers syncing
one account each keeping their own count would together send four times that; so the count
lives in PostgreSQL, which every worker already shares: a log of request times per account,
read and appended under an advisory lock. A slot is one short transaction (about a millisecond
here) per Harvest request, which returns up to 2,000 entries.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import sqlalchemy as sa

from domain.commands import Lock

# One account's request log at a time, and apart from it its log of /reports/* requests.
BUCKET_LOCKS = {"api": Lock.REQUEST_LOG, "reports": Lock.REPORTS_LOG}
# Harvest's documented limits: the API, and /reports/* apart (reference §3).
API_LIMIT = (100, 15.0)
REPORTS_LIMIT = (100, 900.0)


class SharedRateLimit:
    """At most `limit` requests in any `window_s` (+ `margin_s`) for one account, across pods.

    The margin absorbs the time between taking a slot and the request reaching Harvest, whose
    window counts arrivals: 100 per 16 s still uses 94% of what Harvest allows.
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
        sleep: Callable[[float], None] = time.sleep,
        on_wait: Callable[[float], None] | None = None,
    ) -> None:
        self._engine = engine
        self._bucket = bucket
        self._lock_class = BUCKET_LOCKS[bucket]
        self._account_id = account_id
        self._limit = limit
        self._span_s = window_s + margin_s
        self._sleep = sleep
        self._on_wait = on_wait or (lambda seconds: None)
        self.waited_s = 0.0

    def __call__(self) -> None:
        """Block until this process may send one request."""
        while True:
            wait = self._try_take()
            if wait <= 0:
                return
            self.waited_s += wait
            self._on_wait(wait)
            self._sleep(wait)

    def _try_take(self) -> float:
        """Take a slot and return 0, or return the seconds until the oldest one frees."""
        params = {
            "c": int(self._lock_class),
            "a": self._account_id,
            "b": self._bucket,
            "span": self._span_s,
            "limit": self._limit,
        }
        with self._engine.begin() as conn:
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:c, CAST(:a AS integer))"), params)
            # The database's clock, so every pod measures the window the same way.
            conn.execute(
                sa.text(
                    "DELETE FROM harvest_request_log WHERE account_id = :a AND bucket = :b"
                    " AND at <= clock_timestamp() - make_interval(secs => :span)"
                ),
                params,
            )
            used, oldest_age = conn.execute(
                sa.text(
                    "SELECT count(*), EXTRACT(EPOCH FROM clock_timestamp() - min(at))"
                    " FROM harvest_request_log WHERE account_id = :a AND bucket = :b"
                ),
                params,
            ).one()
            if used < self._limit:
                conn.execute(
                    sa.text(
                        "INSERT INTO harvest_request_log (account_id, bucket, at)"
                        " VALUES (:a, :b, clock_timestamp())"
                    ),
                    params,
                )
                return 0.0
        return max(0.01, self._span_s - float(oldest_age))


def parse_rate_limit(text: str) -> tuple[int, float] | None:
    """'100/15' -> (100, 15.0); 'off' or '0' -> None (no shared limit)."""
    if text.strip().lower() in ("off", "0", "none", ""):
        return None
    count, _, seconds = text.partition("/")
    limit, window = int(count), float(seconds or 15)
    if limit < 1 or window <= 0:
        raise ValueError
    return limit, window
