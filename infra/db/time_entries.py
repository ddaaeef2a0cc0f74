"""Time entries and actuals: set-based writes, always scoped to one account.

time_entries keeps Harvest's latest version of each entry and what of it counts now (the
`applied_*` columns). Actuals are the sums of applied entries per (person, project, role, day),
rebuilt for exactly the keys a change touched.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

import sqlalchemy as sa

from domain.actuals import (
    SYNC_OFF_TAG,
    Applied,
    AssignmentSpan,
    HarvestEntry,
    HoldReason,
    PersonFacts,
    ProjectFacts,
)
from infra.db import tables as t
from infra.db.autofill import AUTOFILL_ELIGIBLE
from infra.db.bulk import copy_rows, temp_table

Key = tuple[int, int, int, date]
RAW_COLUMNS = (
    "harvest_id",
    "harvest_user_id",
    "harvest_project_id",
    "spent_date",
    "hours",
    "billable",
    "is_running",
    "harvest_updated_at",
)


class TimeEntryRepository:
    def __init__(self, conn: sa.Connection, account_id: int) -> None:
        self.conn = conn
        self.account_id = account_id

    # --- Harvest's versions -------------------------------------------------------------

    def upsert(self, entries: Sequence[HarvestEntry]) -> list[int]:
        """Store each entry's latest version; return the ids whose stored version changed.

        An older version never overwrites a newer one (Harvest's updated_at decides). An equal
        timestamp with other values is taken: a running timer that grew, or a second edit
        within the same second (Harvest's timestamps have second precision).
        """
        temp_table(
            self.conn,
            "te_incoming",
            "harvest_id bigint, harvest_user_id bigint, harvest_project_id bigint, spent_date date,"
            " hours numeric(12,6), billable boolean, is_running boolean, harvest_updated_at timestamptz",
        )
        copy_rows(
            self.conn,
            "te_incoming",
            RAW_COLUMNS,
            (
                (
                    e.harvest_id,
                    e.harvest_user_id,
                    e.harvest_project_id,
                    e.spent_date,
                    e.hours,
                    e.billable,
                    e.is_running,
                    e.updated_at,
                )
                for e in entries
            ),
        )
        cols = ", ".join(RAW_COLUMNS)
        updates = ", ".join(f"{c} = excluded.{c}" for c in RAW_COLUMNS[1:])
        excluded = ", ".join(f"excluded.{c}" for c in RAW_COLUMNS[1:])
        current = ", ".join(f"t.{c}" for c in RAW_COLUMNS[1:])
        # DISTINCT ON: one statement may not touch a row twice; keep each id's newest version.
        # ORDER BY harvest_id: concurrent writers lock rows in the same order (no deadlocks).
        rows = self.conn.execute(
            sa.text(
                f"""
                INSERT INTO time_entries AS t (account_id, {cols})
                SELECT :account_id, {cols} FROM (
                    SELECT DISTINCT ON (harvest_id) * FROM te_incoming
                    ORDER BY harvest_id, harvest_updated_at DESC
                ) AS incoming
                ORDER BY harvest_id
                ON CONFLICT (account_id, harvest_id) DO UPDATE SET {updates}
                WHERE excluded.harvest_updated_at >= t.harvest_updated_at
                  AND ({excluded}) IS DISTINCT FROM ({current})
                RETURNING harvest_id
                """
            ),
            {"account_id": self.account_id},
        )
        return [r[0] for r in rows]

    def load(self, harvest_ids: Iterable[int]) -> list[tuple[HarvestEntry, Key | None]]:
        """Entries with the key they count under now (None when they count nowhere)."""
        ids = sorted(set(harvest_ids))
        if not ids:
            return []
        te = t.time_entries
        rows = self.conn.execute(
            sa.select(te).where(te.c.account_id == self.account_id, te.c.harvest_id.in_(ids))
        ).mappings()
        out = []
        for r in rows:
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
            key = None
            if r["applied_person_id"] is not None:
                key = (
                    r["applied_person_id"],
                    r["applied_project_id"],
                    r["applied_role_id"],
                    r["applied_date"],
                )
            out.append((entry, key))
        return out

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

    # --- what resolution needs -----------------------------------------------------------

    def people(self, harvest_user_ids: Iterable[int]) -> dict[int, PersonFacts]:
        ids = sorted(set(harvest_user_ids))
        if not ids:
            return {}
        refs, p, r = t.external_refs, t.people, t.roles
        rows = self.conn.execute(
            sa.select(refs.c.harvest_id, p.c.id, p.c.role_id, r.c.match_key)
            .join(p, p.c.id == refs.c.person_id)
            .join(r, r.c.id == p.c.role_id)
            .where(
                refs.c.account_id == self.account_id,
                refs.c.entity_type == "person",
                refs.c.harvest_id.in_(ids),
            )
        )
        return {
            hid: PersonFacts(person_id=pid, role_id=rid, role_is_unknown=key == "unknown")
            for hid, pid, rid, key in rows
        }

    def projects(self, harvest_project_ids: Iterable[int]) -> dict[int, ProjectFacts]:
        ids = sorted(set(harvest_project_ids))
        if not ids:
            return {}
        refs, pr = t.external_refs, t.projects
        rows = self.conn.execute(
            sa.select(refs.c.harvest_id, pr.c.id, pr.c.tags)
            .join(pr, pr.c.id == refs.c.project_id)
            .where(
                refs.c.account_id == self.account_id,
                refs.c.entity_type == "project",
                refs.c.harvest_id.in_(ids),
            )
        )
        return {
            hid: ProjectFacts(project_id=pid, sync_off=SYNC_OFF_TAG in (tags or []))
            for hid, pid, tags in rows
        }

    def assignments(self, person_ids: Iterable[int]) -> dict[tuple[int, int], list[AssignmentSpan]]:
        ids = sorted(set(person_ids))
        if not ids:
            return {}
        a = t.assignments
        rows = self.conn.execute(
            sa.select(a.c.id, a.c.person_id, a.c.project_id, a.c.role_id, a.c.start_date, a.c.end_date).where(
                a.c.account_id == self.account_id, a.c.person_id.in_(ids)
            )
        )
        spans: dict[tuple[int, int], list[AssignmentSpan]] = {}
        for aid, person_id, project_id, role_id, start, end in rows:
            spans.setdefault((person_id, project_id), []).append(AssignmentSpan(aid, role_id, start, end))
        return spans

    # --- what counts ---------------------------------------------------------------------

    def write_outcomes(self, applied: dict[int, Applied | None], held: dict[int, HoldReason]) -> None:
        """Set each entry's applied version (None: counts nowhere) and hold reason, and keep the
        import ledger in step: held entries are listed with their reason, the others are not."""
        temp_table(
            self.conn,
            "te_outcome",
            "harvest_id bigint, person_id bigint, project_id bigint, role_id bigint, day date,"
            " minutes integer, billable boolean, keep_applied boolean, hold_reason text",
        )
        rows = []
        for hid, a in applied.items():
            reason = held.get(hid)
            if a is None:
                rows.append((hid, None, None, None, None, None, None, False, reason))
            else:
                rows.append(
                    (hid, a.person_id, a.project_id, a.role_id, a.date, a.minutes, a.billable, False, reason)
                )
        rows.extend(
            (hid, None, None, None, None, None, None, True, reason)
            for hid, reason in held.items()
            if hid not in applied
        )
        copy_rows(
            self.conn,
            "te_outcome",
            (
                "harvest_id",
                "person_id",
                "project_id",
                "role_id",
                "day",
                "minutes",
                "billable",
                "keep_applied",
                "hold_reason",
            ),
            rows,
        )
        params = {"account_id": self.account_id}
        self.conn.execute(
            sa.text(
                """
                UPDATE time_entries AS t SET
                    applied_person_id = o.person_id, applied_project_id = o.project_id,
                    applied_role_id = o.role_id, applied_date = o.day,
                    applied_minutes = o.minutes, applied_billable = o.billable,
                    hold_reason = o.hold_reason
                FROM te_outcome AS o
                WHERE t.account_id = :account_id AND t.harvest_id = o.harvest_id AND NOT o.keep_applied
                """
            ),
            params,
        )
        self.conn.execute(
            sa.text(
                """
                UPDATE time_entries AS t SET hold_reason = o.hold_reason
                FROM te_outcome AS o
                WHERE t.account_id = :account_id AND t.harvest_id = o.harvest_id AND o.keep_applied
                """
            ),
            params,
        )
        self.conn.execute(
            sa.text(
                """
                INSERT INTO import_ledger AS l (account_id, record_type, harvest_id, reason, detail)
                SELECT :account_id, 'time_entry', o.harvest_id, o.hold_reason,
                       jsonb_build_object('harvest_user_id', t.harvest_user_id,
                                          'harvest_project_id', t.harvest_project_id,
                                          'spent_date', t.spent_date, 'hours', t.hours)
                FROM te_outcome AS o
                JOIN time_entries AS t ON t.account_id = :account_id AND t.harvest_id = o.harvest_id
                WHERE o.hold_reason IS NOT NULL
                ORDER BY o.harvest_id
                ON CONFLICT (account_id, record_type, harvest_id) DO UPDATE
                SET reason = excluded.reason, detail = excluded.detail, last_seen_at = now()
                """
            ),
            params,
        )
        self.conn.execute(
            sa.text(
                """
                DELETE FROM import_ledger AS l USING te_outcome AS o
                WHERE l.account_id = :account_id AND l.record_type = 'time_entry'
                  AND l.harvest_id = o.harvest_id AND o.hold_reason IS NULL
                """
            ),
            params,
        )

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

    def rebuild_actuals(self, keys: Iterable[Key]) -> int:
        """Recompute the actuals of exactly these keys from the entries that count under them."""
        unique = sorted(set(keys))
        if not unique:
            return 0
        temp_table(self.conn, "te_keys", "person_id bigint, project_id bigint, role_id bigint, day date")
        copy_rows(self.conn, "te_keys", ("person_id", "project_id", "role_id", "day"), unique)
        params = {"account_id": self.account_id}
        self.conn.execute(
            sa.text(
                """
                INSERT INTO actuals AS a (account_id, person_id, project_id, role_id, date,
                                          billable_minutes, nonbillable_minutes, autofilled, updated_at)
                SELECT :account_id, k.person_id, k.project_id, k.role_id, k.day,
                       COALESCE(SUM(e.applied_minutes) FILTER (WHERE e.applied_billable), 0),
                       COALESCE(SUM(e.applied_minutes) FILTER (WHERE NOT e.applied_billable), 0),
                       false, now()
                FROM te_keys AS k
                JOIN time_entries AS e
                  ON e.account_id = :account_id AND e.applied_person_id = k.person_id
                 AND e.applied_project_id = k.project_id AND e.applied_role_id = k.role_id
                 AND e.applied_date = k.day
                GROUP BY k.person_id, k.project_id, k.role_id, k.day
                ORDER BY k.person_id, k.project_id, k.role_id, k.day
                ON CONFLICT (account_id, person_id, project_id, role_id, date) DO UPDATE
                SET billable_minutes = excluded.billable_minutes,
                    nonbillable_minutes = excluded.nonbillable_minutes,
                    autofilled = false, updated_at = now()
                """
            ),
            params,
        )
        # Keys no entry counts under any more lose their actual, or go back to an autofilled
        # zero where autofill had put one (the hours that replaced it were deleted).
        temp_table(self.conn, "te_orphans", "person_id bigint, project_id bigint, role_id bigint, day date")
        self.conn.execute(
            sa.text(
                """
                INSERT INTO te_orphans
                SELECT k.* FROM te_keys AS k
                WHERE NOT EXISTS (
                    SELECT 1 FROM time_entries e
                    WHERE e.account_id = :account_id AND e.applied_person_id = k.person_id
                      AND e.applied_project_id = k.project_id AND e.applied_role_id = k.role_id
                      AND e.applied_date = k.day)
                """
            ),
            params,
        )
        self.conn.execute(
            sa.text(
                f"""
                UPDATE actuals AS a SET billable_minutes = 0, nonbillable_minutes = 0,
                       autofilled = true, updated_at = now()
                FROM te_orphans AS o
                WHERE a.account_id = :account_id AND a.person_id = o.person_id
                  AND a.project_id = o.project_id AND a.role_id = o.role_id AND a.date = o.day
                  AND {AUTOFILL_ELIGIBLE}
                """
            ),
            params,
        )
        self.conn.execute(
            sa.text(
                """
                DELETE FROM actuals AS a USING te_orphans AS o
                WHERE a.account_id = :account_id AND a.person_id = o.person_id
                  AND a.project_id = o.project_id AND a.role_id = o.role_id AND a.date = o.day
                  AND NOT a.autofilled
                """
            ),
            params,
        )
        return len(unique)

    # --- people whose role or assignments changed ------------------------------------------

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


def mark_person_dirty(conn: sa.Connection, account_id: int, person_id: int) -> None:
    """The person's role or assignments changed: the next actuals sync re-resolves their entries."""
    from sqlalchemy.dialects.postgresql import insert

    conn.execute(
        insert(t.actuals_dirty_people)
        .values(account_id=account_id, person_id=person_id)
        .on_conflict_do_nothing()
    )
