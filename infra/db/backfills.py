"""Split first syncs: the plan, which parts are done, and who finishes the whole."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from infra.db import tables as t


class BackfillRepository:
    def __init__(self, conn: sa.Connection, account_id: int) -> None:
        self.conn = conn
        self.account_id = account_id

    def register(self, backfill_id: str, started_at: datetime, ranges: list[tuple[date, date]]) -> None:
        self.conn.execute(
            insert(t.backfills)
            .values(
                account_id=self.account_id, backfill_id=backfill_id, started_at=started_at, parts=len(ranges)
            )
            .on_conflict_do_nothing()
        )
        self.conn.execute(
            insert(t.backfill_parts)
            .values(
                [
                    {
                        "account_id": self.account_id,
                        "backfill_id": backfill_id,
                        "part": i,
                        "start_date": s,
                        "end_date": e,
                    }
                    for i, (s, e) in enumerate(ranges)
                ]
            )
            .on_conflict_do_nothing()
        )

    def parts(self, backfill_id: str, *, pending_only: bool = False) -> list[dict]:
        p = t.backfill_parts
        query = sa.select(p).where(p.c.account_id == self.account_id, p.c.backfill_id == backfill_id)
        if pending_only:
            query = query.where(p.c.done_at.is_(None))
        return [dict(r) for r in self.conn.execute(query.order_by(p.c.part)).mappings()]

    def finish_part(
        self, backfill_id: str, part: int, *, worker: str, counts: dict, at: datetime
    ) -> dict | None:
        """Mark one part done; return the backfill when that was its last part, else None.

        The counter update takes the backfill's row lock, so of two parts finishing at once
        exactly one sees the last increment.
        """
        p, b = t.backfill_parts, t.backfills
        marked = self.conn.execute(
            sa.update(p)
            .where(
                p.c.account_id == self.account_id,
                p.c.backfill_id == backfill_id,
                p.c.part == part,
                p.c.done_at.is_(None),
            )
            .values(done_at=at, worker=worker, counts=counts)
            .returning(p.c.part)
        ).first()
        if marked is None:
            return None
        row = (
            self.conn.execute(
                sa.update(b)
                .where(b.c.account_id == self.account_id, b.c.backfill_id == backfill_id)
                .values(parts_done=b.c.parts_done + 1)
                .returning(b)
            )
            .mappings()
            .one()
        )
        if row["parts_done"] < row["parts"]:
            return None
        self.conn.execute(
            sa.update(b)
            .where(b.c.account_id == self.account_id, b.c.backfill_id == backfill_id)
            .values(finished_at=at)
        )
        return dict(row)

    def total_counts(self, backfill_id: str) -> dict[str, int]:
        totals: dict[str, int] = {}
        for part in self.parts(backfill_id):
            for key, value in (part["counts"] or {}).items():
                totals[key] = totals.get(key, 0) + int(value)
        return totals
