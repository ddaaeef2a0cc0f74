"""The local ceiling: a plain COPY of the same rows into a table of the same shape.

The rows are the ones the backfill just wrote (read back with COPY TO into memory, not timed),
so the ceiling and the pipeline handle identical data in the same run. Two tables: the same
shape as time_entries (columns, primary key and secondary indexes: `LIKE ... INCLUDING ALL`),
which is the ceiling the target is measured against, and a bare heap without any index, for
reference.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass

import sqlalchemy as sa


@dataclass(frozen=True)
class Ceiling:
    rows: int
    seconds: float  # same shape as time_entries
    bare_seconds: float  # no index at all

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0

    @property
    def bare_rows_per_s(self) -> float:
        return self.rows / self.bare_seconds if self.bare_seconds else 0.0


def copy_ceiling(engine: sa.Engine, account_id: int) -> Ceiling:
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        data = io.BytesIO()
        cur.copy_expert(
            f"COPY (SELECT * FROM time_entries WHERE account_id = {int(account_id)}) TO STDOUT", data
        )
        rows = data.getvalue().count(b"\n")
        raw.commit()
        seconds = _timed_copy(raw, data, "bench_copy_shape", "(LIKE time_entries INCLUDING ALL)")
        bare = _timed_copy(raw, data, "bench_copy_bare", "(LIKE time_entries)")
        return Ceiling(rows, seconds, bare)
    finally:
        raw.close()


def _timed_copy(raw, data: io.BytesIO, table: str, shape: str) -> float:  # type: ignore[no-untyped-def]
    cur = raw.cursor()
    cur.execute(f"DROP TABLE IF EXISTS {table}")
    cur.execute(f"CREATE TABLE {table} {shape}")
    raw.commit()
    data.seek(0)
    started = time.perf_counter()
    cur.copy_expert(f"COPY {table} FROM STDIN", data)
    raw.commit()  # the commit counts: the pipeline's numbers include theirs
    seconds = time.perf_counter() - started
    cur.execute(f"DROP TABLE {table}")
    raw.commit()
    return seconds
