"""What a deletion check reads and writes: our entry counts per spent date, the ids a listing
returned (kept in the database, not in memory: a full listing can hold millions), and the
removal of what the listing no longer holds. Always scoped to one account."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import sqlalchemy as sa

from domain.actuals import Key
from domain.spans import Span
from infra.db import tables as t
from infra.db.bulk import copy_rows, temp_table
from infra.db.prepared import Prepared

# An entry Harvest deleted that we keep (it counts for a sync_off project) is marked, so it is
# neither counted against Harvest's totals nor looked for again.
_IN_HARVEST = "t.harvest_deleted_at IS NULL"
_IN_SPAN = (
    "(CAST(:start AS date) IS NULL OR t.spent_date >= :start)"
    " AND (CAST(:end AS date) IS NULL OR t.spent_date <= :end)"
)


class DeletionRepository:
    def __init__(self, conn: sa.Connection, account_id: int) -> None:
        self.conn = conn
        self.account_id = account_id

    def _params(self, span: Span) -> dict:
        return {"account_id": self.account_id, "start": span.start, "end": span.end}

    def counts_by_day(self, span: Span, *, unless_total: int) -> list[tuple[date, int]] | None:
        """Entries we hold per spent date in `span`, as Harvest would count them (kept by
        triggers on time_entries, migration 0008); None when they add up to `unless_total`
        (Harvest's count), which is all a check whose counts agree needs to know."""
        rows = _DAY_COUNTS.execute(self.conn, {**self._params(span), "theirs": unless_total}).all()
        total, days = rows[0][2], [(d, n) for _, d, n in rows[1:]]
        return None if total == unless_total else days

    def begin_seen(self) -> None:
        """Start collecting the ids one listing returns."""
        temp_table(self.conn, "te_seen", "harvest_id bigint PRIMARY KEY")

    def add_seen(self, harvest_ids: Iterable[int]) -> None:
        temp_table(self.conn, "te_seen_page", "harvest_id bigint")
        copy_rows(self.conn, "te_seen_page", ("harvest_id",), ((i,) for i in harvest_ids))
        # Offset paging can repeat a record across pages while data changes.
        self.conn.exec_driver_sql(
            "INSERT INTO te_seen SELECT DISTINCT harvest_id FROM te_seen_page ON CONFLICT DO NOTHING"
        )

    def delete_missing(self, span: Span) -> tuple[int, list[Key]]:
        """Remove our entries dated in `span` that the listing did not return; give their count
        and the keys they counted under. Entries that count for a sync_off project stay (what
        was imported before the tag is kept as it is), marked as gone from Harvest."""
        self.conn.exec_driver_sql("ANALYZE te_seen")  # joined below; temp tables have no statistics
        # A marked entry is missing too: once its project is no longer sync_off, it goes.
        missing = f"""
            t.account_id = :account_id AND {_IN_SPAN}
            AND (t.harvest_deleted_at IS NOT NULL
                 OR NOT EXISTS (SELECT 1 FROM te_seen s WHERE s.harvest_id = t.harvest_id))
        """
        sync_off = """
            (t.hold_reason IS NOT DISTINCT FROM 'project_sync_off'
             OR EXISTS (SELECT 1 FROM projects p WHERE p.id = t.applied_project_id
                        AND p.account_id = :account_id AND 'sync_off' = ANY(p.tags)))
        """
        params = self._params(span)
        mark = f"UPDATE time_entries AS t SET harvest_deleted_at = now() WHERE {missing} AND {sync_off}"
        self.conn.execute(sa.text(mark + f" AND {_IN_HARVEST}"), params)
        rows = self.conn.execute(
            sa.text(
                f"""
                DELETE FROM time_entries AS t WHERE {missing} AND NOT {sync_off}
                RETURNING t.harvest_id, t.applied_person_id, t.applied_project_id, t.applied_role_id,
                          t.applied_date
                """
            ),
            params,
        ).all()
        gone = [r[0] for r in rows]
        if gone:
            self.conn.execute(
                sa.delete(t.import_ledger).where(
                    t.import_ledger.c.account_id == self.account_id,
                    t.import_ledger.c.record_type == "time_entry",
                    t.import_ledger.c.harvest_id.in_(gone),
                )
            )
        return len(gone), [(r[1], r[2], r[3], r[4]) for r in rows if r[1] is not None]


# Prepared: every daily sync's deletion check starts with it. Our total comes first, and the
# days only where it differs from Harvest's: a daily whose counts agree reads one row, not one
# per day of the account's history (thousands, for an agency of some years).
_DAY_COUNTS = Prepared(
    "hs_entry_day_counts",
    """
    WITH days AS (
        SELECT spent_date, entries FROM entry_day_counts AS t
        WHERE t.account_id = :account_id AND entries > 0
          AND (CAST(:start AS date) IS NULL OR t.spent_date >= :start)
          AND (CAST(:end AS date) IS NULL OR t.spent_date <= :end)
    ), total AS (SELECT COALESCE(sum(entries), 0) AS entries FROM days)
    SELECT 0 AS n, NULL::date AS spent_date, entries FROM total
    UNION ALL
    SELECT 1, days.spent_date, days.entries FROM days, total
    WHERE total.entries <> CAST(:theirs AS bigint)
    ORDER BY n
    """,
    {"account_id": "bigint", "start": "date", "end": "date", "theirs": "bigint"},
)
