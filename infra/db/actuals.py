"""Actuals are the sums of applied time entries per (person, project, role, day), rebuilt for
exactly the keys a change touched."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import sqlalchemy as sa

from infra.db.autofill import AUTOFILL_ELIGIBLE
from infra.db.bulk import copy_rows, temp_table

Key = tuple[int, int, int, date]
KEY_DDL = "person_id bigint, project_id bigint, role_id bigint, day date"
KEY_COLUMNS = ("person_id", "project_id", "role_id", "day")


def rebuild_actuals(
    conn: sa.Connection, account_id: int, keys: Iterable[Key], *, emptied: Iterable[Key] = ()
) -> int:
    """Recompute the actuals of `keys` from the entries that count under them. `emptied` are
    keys that may have lost their last entry: they lose their actual, or go back to an
    autofilled zero where autofill had put one (the hours that replaced it were deleted)."""
    unique = sorted(set(keys) | set(emptied))
    if not unique:
        return 0
    params = {"account_id": account_id}
    temp_table(conn, "te_keys", KEY_DDL)
    copy_rows(conn, "te_keys", KEY_COLUMNS, unique, analyze=True)
    conn.execute(
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
            WHERE (a.billable_minutes, a.nonbillable_minutes, a.autofilled)
                  IS DISTINCT FROM (excluded.billable_minutes, excluded.nonbillable_minutes, false)
            """
        ),
        params,
    )
    gone = sorted(set(emptied))
    if gone:
        _settle_emptied(conn, params, gone)
    return len(unique)


def _settle_emptied(conn: sa.Connection, params: dict, keys: list[Key]) -> None:
    temp_table(conn, "te_orphans", KEY_DDL)
    copy_rows(conn, "te_orphans", KEY_COLUMNS, keys, analyze=True)
    conn.execute(
        sa.text(
            """
            DELETE FROM te_orphans AS k WHERE EXISTS (
                SELECT 1 FROM time_entries e
                WHERE e.account_id = :account_id AND e.applied_person_id = k.person_id
                  AND e.applied_project_id = k.project_id AND e.applied_role_id = k.role_id
                  AND e.applied_date = k.day)
            """
        ),
        params,
    )
    conn.execute(
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
    conn.execute(
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
