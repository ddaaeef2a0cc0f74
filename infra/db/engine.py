"""Engine factory. A connection idle for a while is pinged before use, so one a database
restart has killed is replaced instead of failing the next statement."""

from __future__ import annotations

from time import monotonic
from typing import Any

import sqlalchemy as sa

from infra.db.prepared import never_prepare, plan_generically

# A connection checked in this recently is used without a ping. Under load a worker's
# connections go back and forth every few milliseconds, and a ping on each checkout cost a
# round trip per transaction (five a daily sync); a restart that lands within this time is
# met by the first statement instead, which the pool then invalidates and the runtime retries
# like any other transient database error.
PING_AFTER_IDLE_S = 1.0
_LAST_USED = "harvest_sync.last_used"


def make_engine(
    database_url: str,
    *,
    pool_size: int = 5,
    ping_after_idle_s: float = PING_AFTER_IDLE_S,
    prepared_statements: bool = True,
) -> sa.Engine:
    engine = sa.create_engine(
        database_url,
        pool_size=pool_size,
        max_overflow=pool_size,
        connect_args={"connect_timeout": 10, "application_name": "harvest-sync"},
    )
    _ping_when_idle(engine, ping_after_idle_s)
    if prepared_statements:
        plan_generically(engine)
    else:
        # Behind a pooler in transaction mode a session's settings would reach other clients.
        never_prepare(engine)
    return engine


def _ping_when_idle(engine: sa.Engine, idle_s: float) -> None:
    def used(_dbapi_conn: Any, record: Any, *_: Any) -> None:
        record.info[_LAST_USED] = monotonic()

    def checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        if monotonic() - record.info.get(_LAST_USED, 0.0) < idle_s:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except engine.dialect.loaded_dbapi.Error as exc:
            # The server went away: every pooled connection is suspect, not just this one.
            raise sa.exc.InvalidatePoolError(str(exc)) from exc

    sa.event.listen(engine.pool, "connect", used)
    sa.event.listen(engine.pool, "checkin", used)
    sa.event.listen(engine.pool, "checkout", checkout)
