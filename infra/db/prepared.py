"""Statements PostgreSQL parses and plans once per connection instead of on every run.

A no-change daily sync sends a handful of small statements, and PostgreSQL spent more of its
CPU parsing, analysing and planning them than running them (perf at 1,000 accounts' dailies:
about 55% of its time; issue 16). psycopg2 has no server-side prepared statements of its
own, so this is SQL's PREPARE, once per database session (in the round trip of the first
run), then EXECUTE.

PREPARE outlives the transaction it ran in (a rollback does not undo it), so a statement is
prepared once per pooled connection, whatever became of that transaction.

Left to choose, PostgreSQL plans a prepared statement afresh on each of its first five runs,
and after them whenever the plan it would keep looks costlier than those it made for the
values given: so it did on every run of the rate limit's slot statement (its
generate_series), and planning was still a sixth of its CPU in a day of dailies (perf).
Every statement here reaches one account's rows through an index that leads with
account_id, whatever the values; a session of an engine made by infra.db.engine keeps one
plan per statement (plan_generically).

Behind a pooler whose server sessions change under the client from one transaction to the
next (PgBouncer's transaction pooling) a prepared statement is lost: an engine set up with
never_prepare() (DATABASE_PREPARED_STATEMENTS=off) sends each statement whole instead.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

# :name, but not the second colon of a ::cast.
_PARAM = re.compile(r"(?<![:\w]):(\w+)")
# The connection's statement names: (logical name) -> the name it is prepared under.
_INFO_KEY = "harvest_sync.prepared"
# Set on every connection of an engine that never prepares.
_PLAIN_KEY = "harvest_sync.never_prepare"
_GONE = ""
_renamed = itertools.count(1)


class Prepared:
    """One statement, written with :name parameters like sa.text; `types` gives each
    parameter's PostgreSQL type, which PREPARE declares."""

    def __init__(self, name: str, sql: str, types: Mapping[str, str]) -> None:
        used = set(_PARAM.findall(sql))
        if used != set(types):
            raise ValueError(f"{name}: parameters {sorted(used)} but types for {sorted(types)}")
        order = list(types)
        self.name = name
        # Sent with parameters bound by the driver (%(name)s): a literal % is written %%.
        self._body = _PARAM.sub(lambda m: f"${order.index(m[1]) + 1}", sql).replace("%", "%%")
        self._types = f" ({', '.join(types.values())})" if types else ""
        self._arguments = f" ({', '.join(f'%({p})s' for p in order)})" if types else ""
        # The same statement sent whole: each parameter cast as PREPARE would declare it.
        self._plain = _PARAM.sub(lambda m: f"CAST(%({m[1]})s AS {types[m[1]]})", sql.replace("%", "%%"))

    def execute(
        self, conn: sa.Connection, params: Mapping[str, object], *, before: str = ""
    ) -> sa.CursorResult:
        """Run it on `conn`, preparing it first (in the same round trip) if this database
        session has not. `before`: statements sent ahead of it in the same round trip (same
        parameters, %(name)s style)."""
        with forgotten_on_failure(conn, (self,)):
            return conn.exec_driver_sql(f"{before}{self.text_for(conn)}", dict(params))

    def text_for(self, conn: sa.Connection) -> str:
        """What runs it on `conn`, with %(name)s parameters: its EXECUTE, after its PREPARE
        where this session has none; the statement itself on an engine that never prepares.
        A caller that sends it itself does so under forgotten_on_failure()."""
        info = conn.connection.info
        if info.get(_PLAIN_KEY):
            return self._plain
        names: dict[str, str] = info.setdefault(_INFO_KEY, {})
        prepared = names.get(self.name)
        if prepared is not None and prepared != _GONE:
            return f"EXECUTE {prepared}{self._arguments}"
        # A fresh name when the last one went stale: that one may still exist.
        fresh = names[self.name] = self.name if prepared is None else f"{self.name}_{next(_renamed)}"
        return f"PREPARE {fresh}{self._types} AS {self._body};\nEXECUTE {fresh}{self._arguments}"

    def forget(self, conn: sa.Connection) -> None:
        """The next run on `conn` prepares it afresh, under another name."""
        names: dict[str, str] = conn.connection.info.get(_INFO_KEY, {})
        if self.name in names:
            names[self.name] = _GONE


@contextmanager
def forgotten_on_failure(conn: sa.Connection, statements: Iterable[Prepared]) -> Iterator[None]:
    """Around a round trip carrying `statements`: if it fails, whether it left each of them
    prepared is not known (a PREPARE it held may not have run; a schema change may have made
    one stale, or a pooler lost it), so each is prepared afresh, under a new name, by the next
    run on `conn` (this transaction is aborted; the retry that follows finds them fresh)."""
    try:
        yield
    except sa.exc.DBAPIError:
        for statement in statements:
            statement.forget(conn)
        raise


def never_prepare(engine: sa.Engine) -> None:
    """Every Prepared statement run on `engine` is sent whole, never prepared."""

    def connected(_dbapi_conn: object, record: sa.pool.ConnectionPoolEntry) -> None:
        record.info[_PLAIN_KEY] = True

    sa.event.listen(engine.pool, "connect", connected)


def plan_generically(engine: sa.Engine) -> None:
    """Each session of `engine` plans a prepared statement once and keeps that plan."""

    def connected(dbapi_conn: Any, _record: sa.pool.ConnectionPoolEntry) -> None:
        # In a transaction of its own: the pool hands the connection out with none open.
        was = dbapi_conn.autocommit
        dbapi_conn.autocommit = True
        with dbapi_conn.cursor() as cursor:
            cursor.execute("SET plan_cache_mode = force_generic_plan")
        dbapi_conn.autocommit = was

    sa.event.listen(engine.pool, "connect", connected)
