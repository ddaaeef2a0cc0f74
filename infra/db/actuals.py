"""Actuals are the sums of applied time entries per (person, project, role, day), rebuilt for
exactly the keys a change touched."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from domain.actuals import Key
from infra.db.autofill import AUTOFILL_ELIGIBLE
from infra.db.bulk import pg_int_array


def _keys(alias: str) -> str:
    """Keys passed as four array parameters (see _key_arrays), as rows named `alias`."""
    return (
        "unnest(CAST(:person_ids AS bigint[]), CAST(:project_ids AS bigint[]), CAST(:role_ids AS bigint[]),"
        f" CAST(:days AS date[])) AS {alias}(person_id, project_id, role_id, day)"
    )


# The account as a row the planner cannot look into (OFFSET 0 keeps the subquery from being
# pulled up), so a probe's `e.account_id = acct.id` is estimated from the number of accounts,
# not from the statistics of the constant. An account the statistics have not seen yet (one
# in its first sync, after the others were analysed) is otherwise estimated at no rows; every
# index leading with account_id then looks as cheap as the key's, and the planner took the
# smaller spent-date index and filtered the account's rows once per key: 9 s instead of 3 ms
# for 200 keys of a 100k-entry account beside 50 others of 20k (test_actuals_plans.py).
_ACCOUNT = "(SELECT CAST(:account_id AS bigint) AS id OFFSET 0) AS acct"

# One key's entries, through time_entries_applied_key (the probe of rebuild and settle).
_KEY_ENTRIES = """
    FROM time_entries AS e
    WHERE e.account_id = acct.id AND e.applied_person_id = k.person_id
      AND e.applied_project_id = k.project_id AND e.applied_role_id = k.role_id
      AND e.applied_date = k.day"""


# A key's person, project and role must still exist: actuals have no foreign keys (a check
# per row was a quarter of a first sync's database CPU, migration 0012), and entries keep the
# key they last counted under after someone deletes its person or project in the planning
# database (the delete takes the actuals, not the entries' applied columns). Probes without
# row locks: the deletes lock the account row against the sync's hold instead.
_KEY_EXISTS = """EXISTS (SELECT 1 FROM people WHERE account_id = acct.id AND id = k.person_id)
              AND EXISTS (SELECT 1 FROM projects WHERE account_id = acct.id AND id = k.project_id)
              AND EXISTS (SELECT 1 FROM roles WHERE account_id = acct.id AND id = k.role_id)"""


def rebuild_actuals(
    conn: sa.Connection, account_id: int, keys: Iterable[Key], *, emptied: Iterable[Key] = ()
) -> int:
    """Recompute the actuals of `keys` from the entries that count under them. `emptied` are
    keys that may have lost their last entry: they lose their actual, or go back to an
    autofilled zero where autofill had put one (the hours that replaced it were deleted)."""
    unique = sorted(set(keys) | set(emptied))
    if not unique:
        return 0
    params = {"account_id": account_id, **_key_arrays(unique)}
    # Per key, an aggregate over its entries through time_entries_applied_key. The aggregate
    # subquery cannot be flattened, so this stays one index probe per key whatever the
    # planner believes about the table's size (its statistics lag a large first sync).
    conn.execute(
        sa.text(
            f"""
            INSERT INTO actuals AS a (account_id, person_id, project_id, role_id, date,
                                      billable_minutes, nonbillable_minutes, autofilled, updated_at)
            SELECT :account_id, k.person_id, k.project_id, k.role_id, k.day, s.billable, s.nonbillable,
                   false, now()
            FROM {_ACCOUNT} CROSS JOIN {_keys("k")} CROSS JOIN LATERAL (
                SELECT count(*) AS entries,
                       COALESCE(SUM(e.applied_minutes) FILTER (WHERE e.applied_billable), 0) AS billable,
                       COALESCE(SUM(e.applied_minutes) FILTER (WHERE NOT e.applied_billable), 0)
                           AS nonbillable
                {_KEY_ENTRIES}
            ) AS s
            WHERE s.entries > 0 AND {_KEY_EXISTS}
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
        _settle_emptied(conn, account_id, gone)
    return len(unique)


def add_to_actuals(conn: sa.Connection, account_id: int, minutes: dict[Key, tuple[int, int]]) -> None:
    """Add the (billable, non-billable) minutes of entries this transaction has just inserted
    to their keys' actuals: a first sync's keys without reading their entries back.

    Exact because those entries were not in the table before (insert_new's COPY fails on any
    that was) and an actual is the sum of the entries stored under its key: adding theirs keeps
    it so. A concurrent writer of the same key adds its own under the row lock, or is a
    backfill part that listed the same entry, whose COPY then fails and whose part is retried.
    """
    if not minutes:
        return
    keys = sorted(minutes)
    params = {
        "account_id": account_id,
        **_key_arrays(keys),
        "billable": pg_int_array([minutes[k][0] for k in keys]),
        "nonbillable": pg_int_array([minutes[k][1] for k in keys]),
    }
    conn.execute(_ADD, params)


_ADD = sa.text(
    f"""
    INSERT INTO actuals AS a (account_id, person_id, project_id, role_id, date,
                              billable_minutes, nonbillable_minutes, autofilled, updated_at)
    SELECT acct.id, k.person_id, k.project_id, k.role_id, k.day, k.billable, k.nonbillable, false, now()
    FROM {_ACCOUNT} CROSS JOIN unnest(CAST(:person_ids AS bigint[]), CAST(:project_ids AS bigint[]),
        CAST(:role_ids AS bigint[]), CAST(:days AS date[]), CAST(:billable AS integer[]),
        CAST(:nonbillable AS integer[])) AS k(person_id, project_id, role_id, day, billable, nonbillable)
    WHERE {_KEY_EXISTS}
    ORDER BY k.person_id, k.project_id, k.role_id, k.day
    ON CONFLICT (account_id, person_id, project_id, role_id, date) DO UPDATE
    SET billable_minutes = a.billable_minutes + excluded.billable_minutes,
        nonbillable_minutes = a.nonbillable_minutes + excluded.nonbillable_minutes,
        autofilled = false, updated_at = now()
    """
)


def _key_arrays(keys: list[Key]) -> dict[str, str]:
    return {
        "person_ids": pg_int_array([k[0] for k in keys]),
        "project_ids": pg_int_array([k[1] for k in keys]),
        "role_ids": pg_int_array([k[2] for k in keys]),
        "days": "{" + ",".join([k[3].isoformat() for k in keys]) + "}",
    }


def _settle_emptied(conn: sa.Connection, account_id: int, keys: list[Key]) -> None:
    # Which of the keys no entry counts under any more: one probe each, as in rebuild_actuals.
    orphans = conn.execute(
        sa.text(
            f"""
            SELECT k.person_id, k.project_id, k.role_id, k.day
            FROM {_ACCOUNT} CROSS JOIN {_keys("k")} CROSS JOIN LATERAL (
                SELECT count(*) AS entries FROM (SELECT 1 {_KEY_ENTRIES} LIMIT 1) AS one
            ) AS s
            WHERE s.entries = 0
            """
        ),
        {"account_id": account_id, **_key_arrays(keys)},
    ).all()
    if not orphans:
        return
    params = {"account_id": account_id, **_key_arrays([(p, pr, r, d) for p, pr, r, d in orphans])}
    conn.execute(
        sa.text(
            f"""
            UPDATE actuals AS a SET billable_minutes = 0, nonbillable_minutes = 0,
                   autofilled = true, updated_at = now()
            FROM {_keys("o")}
            WHERE a.account_id = :account_id AND a.person_id = o.person_id
              AND a.project_id = o.project_id AND a.role_id = o.role_id AND a.date = o.day
              AND {AUTOFILL_ELIGIBLE}
            """
        ),
        params,
    )
    conn.execute(
        sa.text(
            f"""
            DELETE FROM actuals AS a USING {_keys("o")}
            WHERE a.account_id = :account_id AND a.person_id = o.person_id
              AND a.project_id = o.project_id AND a.role_id = o.role_id AND a.date = o.day
              AND NOT a.autofilled
            """
        ),
        params,
    )
