"""Time entries: Harvest's latest version of each, and what of it counts now (the `applied_*`
columns), written set-based and always scoped to one account."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa

from domain.actuals import Applied, HarvestEntry
from infra.db import tables as t
from infra.db.bulk import copy_rows, temp_table

Key = tuple[int, int, int, date]
RAW_COLUMNS = (
    "harvest_user_id",
    "harvest_project_id",
    "spent_date",
    "hours",
    "billable",
    "is_running",
    "harvest_updated_at",
)
APPLIED_COLUMNS = (
    "applied_person_id",
    "applied_project_id",
    "applied_role_id",
    "applied_date",
    "applied_minutes",
    "applied_billable",
)
WRITE_COLUMNS = ("harvest_id", *RAW_COLUMNS, *APPLIED_COLUMNS, "hold_reason")


@dataclass(frozen=True)
class Stored:
    """An entry as the table holds it."""

    entry: HarvestEntry
    applied: Applied | None
    hold_reason: str | None


@dataclass(frozen=True)
class Write:
    """A version to store and what of it counts (None: nothing)."""

    entry: HarvestEntry
    applied: Applied | None
    hold_reason: str | None


class TimeEntryRepository:
    def __init__(self, conn: sa.Connection, account_id: int) -> None:
        self.conn = conn
        self.account_id = account_id

    def current(self, harvest_ids: Iterable[int]) -> dict[int, Stored]:
        ids = sorted(set(harvest_ids))
        if not ids:
            return {}
        te = t.time_entries
        rows = self.conn.execute(
            sa.select(te).where(te.c.account_id == self.account_id, te.c.harvest_id.in_(ids))
        ).mappings()
        return {r["harvest_id"]: _stored(r) for r in rows}

    def write(self, writes: Sequence[Write], *, versions_changed: bool = True) -> None:
        """Store these versions and their applied parts in one statement.

        With `versions_changed`, an older version never overwrites a newer one (Harvest's
        updated_at decides; an equal timestamp with other values is taken: a running timer that
        grew, or a second edit within the same second). Without it (re-resolving stored
        entries) only the applied parts change.
        """
        if not writes:
            return
        temp_table(
            self.conn,
            "te_write",
            "harvest_id bigint, harvest_user_id bigint, harvest_project_id bigint, spent_date date,"
            " hours numeric(12,6), billable boolean, is_running boolean, harvest_updated_at timestamptz,"
            " applied_person_id bigint, applied_project_id bigint, applied_role_id bigint, applied_date date,"
            " applied_minutes integer, applied_billable boolean, hold_reason text",
        )
        copy_rows(self.conn, "te_write", WRITE_COLUMNS, (_row(w) for w in writes))
        cols = ", ".join(WRITE_COLUMNS)
        updates = ", ".join(f"{c} = excluded.{c}" for c in WRITE_COLUMNS[1:])
        guard = ""
        if versions_changed:
            new = ", ".join(f"excluded.{c}" for c in RAW_COLUMNS)
            old = ", ".join(f"t.{c}" for c in RAW_COLUMNS)
            guard = (
                "WHERE excluded.harvest_updated_at >= t.harvest_updated_at"
                f" AND ({new}) IS DISTINCT FROM ({old})"
            )
        # ORDER BY harvest_id: concurrent writers lock rows in the same order (no deadlocks).
        self.conn.execute(
            sa.text(
                f"""
                INSERT INTO time_entries AS t (account_id, {cols})
                SELECT :account_id, {cols} FROM te_write ORDER BY harvest_id
                ON CONFLICT (account_id, harvest_id) DO UPDATE SET {updates} {guard}
                """
            ),
            {"account_id": self.account_id},
        )
        if any(w.hold_reason for w in writes):
            self._ledger_hold()

    def _ledger_hold(self) -> None:
        self.conn.execute(
            sa.text(
                """
                INSERT INTO import_ledger AS l (account_id, record_type, harvest_id, reason, detail)
                SELECT :account_id, 'time_entry', w.harvest_id, w.hold_reason,
                       jsonb_build_object('harvest_user_id', w.harvest_user_id,
                                          'harvest_project_id', w.harvest_project_id,
                                          'spent_date', w.spent_date, 'hours', w.hours)
                FROM te_write AS w WHERE w.hold_reason IS NOT NULL ORDER BY w.harvest_id
                ON CONFLICT (account_id, record_type, harvest_id) DO UPDATE
                SET reason = excluded.reason, detail = excluded.detail, last_seen_at = now()
                """
            ),
            {"account_id": self.account_id},
        )

    def release(self, harvest_ids: Iterable[int]) -> None:
        """These entries are held no longer: take them off the ledger."""
        ids = sorted(set(harvest_ids))
        if ids:
            led = t.import_ledger
            self.conn.execute(
                sa.delete(led).where(
                    led.c.account_id == self.account_id,
                    led.c.record_type == "time_entry",
                    led.c.harvest_id.in_(ids),
                )
            )

    def held_ids(self) -> list[int]:
        te = t.time_entries
        return list(
            self.conn.execute(
                sa.select(te.c.harvest_id).where(
                    te.c.account_id == self.account_id, te.c.hold_reason.isnot(None)
                )
            ).scalars()
        )

    def ids_of_people(self, person_ids: Iterable[int]) -> list[int]:
        """Entries that count, or would count, for these people (by their Harvest user ids)."""
        ids = sorted(set(person_ids))
        if not ids:
            return []
        te, refs = t.time_entries, t.external_refs
        harvest_users = (
            sa.select(refs.c.harvest_id)
            .where(
                refs.c.account_id == self.account_id,
                refs.c.entity_type == "person",
                refs.c.person_id.in_(ids),
            )
            .scalar_subquery()
        )
        return list(
            self.conn.execute(
                sa.select(te.c.harvest_id).where(
                    te.c.account_id == self.account_id,
                    sa.or_(te.c.applied_person_id.in_(ids), te.c.harvest_user_id.in_(harvest_users)),
                )
            ).scalars()
        )

    def dirty_people(self) -> list[int]:
        d = t.actuals_dirty_people
        return list(
            self.conn.execute(sa.select(d.c.person_id).where(d.c.account_id == self.account_id)).scalars()
        )

    def clear_dirty(self, person_ids: Iterable[int]) -> None:
        ids = list(person_ids)
        if ids:
            d = t.actuals_dirty_people
            self.conn.execute(sa.delete(d).where(d.c.account_id == self.account_id, d.c.person_id.in_(ids)))

    def begin_seen(self) -> None:
        """Start collecting the ids a reconciliation listing returns (kept in the database,
        not in memory: a full listing can hold millions)."""
        temp_table(self.conn, "te_seen", "harvest_id bigint PRIMARY KEY")

    def add_seen(self, harvest_ids: Iterable[int]) -> None:
        temp_table(self.conn, "te_seen_page", "harvest_id bigint")
        copy_rows(self.conn, "te_seen_page", ("harvest_id",), ((i,) for i in harvest_ids))
        # Offset paging can repeat a record across pages while data changes.
        self.conn.exec_driver_sql(
            "INSERT INTO te_seen SELECT DISTINCT harvest_id FROM te_seen_page ON CONFLICT DO NOTHING"
        )

    def delete_missing(self, *, since: date | None) -> tuple[int, list[Key]]:
        """Remove stored entries dated from `since` on (all if None) that the listing did not
        return; give their count and the keys they counted under. Entries that count for a
        sync_off project stay: what was imported before the tag is kept as it is."""
        self.conn.exec_driver_sql("ANALYZE te_seen")  # joined below; temp tables have no statistics
        rows = self.conn.execute(
            sa.text(
                """
                DELETE FROM time_entries AS t
                WHERE t.account_id = :account_id
                  AND (CAST(:since AS date) IS NULL OR t.spent_date >= :since)
                  AND NOT EXISTS (SELECT 1 FROM te_seen s WHERE s.harvest_id = t.harvest_id)
                  AND t.hold_reason IS DISTINCT FROM 'project_sync_off'
                  AND NOT EXISTS (SELECT 1 FROM projects p WHERE p.id = t.applied_project_id
                                  AND p.account_id = :account_id AND 'sync_off' = ANY(p.tags))
                RETURNING t.harvest_id, t.applied_person_id, t.applied_project_id, t.applied_role_id,
                          t.applied_date
                """
            ),
            {"account_id": self.account_id, "since": since},
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


def _stored(r: sa.RowMapping) -> Stored:
    entry = HarvestEntry(
        harvest_id=r["harvest_id"],
        harvest_user_id=r["harvest_user_id"],
        harvest_project_id=r["harvest_project_id"],
        spent_date=r["spent_date"],
        hours=r["hours"],
        billable=r["billable"],
        is_running=r["is_running"],
        updated_at=r["harvest_updated_at"],
    )
    applied = None
    if r["applied_person_id"] is not None:
        applied = Applied(
            person_id=r["applied_person_id"],
            project_id=r["applied_project_id"],
            role_id=r["applied_role_id"],
            date=r["applied_date"],
            minutes=r["applied_minutes"],
            billable=r["applied_billable"],
        )
    return Stored(entry=entry, applied=applied, hold_reason=r["hold_reason"])


def _row(w: Write) -> tuple:
    e, a = w.entry, w.applied
    raw = (
        e.harvest_id,
        e.harvest_user_id,
        e.harvest_project_id,
        e.spent_date,
        e.hours,
        e.billable,
        e.is_running,
        e.updated_at,
    )
    applied = (a.person_id, a.project_id, a.role_id, a.date, a.minutes, a.billable) if a else (None,) * 6
    return (*raw, *applied, w.hold_reason)


def mark_person_dirty(conn: sa.Connection, account_id: int, person_id: int) -> None:
    """The person's role or assignments changed: the next actuals sync re-resolves their entries."""
    from sqlalchemy.dialects.postgresql import insert

    conn.execute(
        insert(t.actuals_dirty_people)
        .values(account_id=account_id, person_id=person_id)
        .on_conflict_do_nothing()
    )
