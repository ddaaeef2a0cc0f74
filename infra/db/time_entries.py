"""Time entries: Harvest's latest version of each, and what of it counts now (the `applied_*`
columns), written set-based and always scoped to one account."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple

import psycopg2.errors
import sqlalchemy as sa

from domain.actuals import Applied, HarvestEntry
from domain.errors import TransientError
from infra.db import tables as t
from infra.db.bulk import pg_array, pg_int_array
from infra.db.entry_rows import (
    RAW_COLUMNS,
    STORED_COLUMNS,
    UNNEST_WRITES,
    UPDATES,
    WRITE_COLUMNS,
    Write,
    array_columns,
    copy_line,
)
from infra.db.prepared import Prepared


class ConcurrentEntryWrite(TransientError):
    """Another transaction stored one of the entries this one was inserting."""


class Stored(NamedTuple):
    """An entry as the table holds it."""

    entry: HarvestEntry
    applied: Applied | None
    hold_reason: str | None


# (harvest_user_id, harvest_project_id, hold_reason) -> whether that hold still stands.
HoldStands = Callable[[list[tuple[int, int, str]]], list[bool]]


class TimeEntryRepository:
    def __init__(
        self, conn: sa.Connection, account_id: int, *, hold_stands: HoldStands | None = None
    ) -> None:
        self.conn = conn
        self.account_id = account_id
        self._hold_stands = hold_stands

    def current(self, harvest_ids: Iterable[int]) -> dict[int, Stored]:
        ids = sorted(set(harvest_ids))
        if not ids:
            return {}
        # One primary-key probe per id. LIMIT 1 keeps the subquery from being flattened into
        # a join the planner may cost as a scan of the account's rows: with statistics that
        # lag a large first sync (autovacuum has not caught up, or is off) it did, and every
        # page then read the whole history (O(N^2) for a backfill). The first id from it in
        # key order (>=, ORDER BY), not the id itself (=): when the statistics know nothing of
        # the account (a new one among accounts they all know), every index led by
        # account_id looks as cheap as the key, and the planner took time_entries_spent_date,
        # scanning the account's rows per id (a page of 2,000 ids against 1M rows: 69 s; 20
        # ms now); only the key hands that id over in its order at once.
        rows = _CURRENT.execute(self.conn, {"ids": pg_int_array(ids), "account_id": self.account_id})
        return {r[0]: _stored(r) for r in rows}

    def insert_new(self, writes: Sequence[Write]) -> None:
        """Store entries that current() did not find, with a plain COPY: no conflict to
        resolve, so none of INSERT ... ON CONFLICT's per-row work (a first sync is all this).

        Another transaction can insert one of them meanwhile only in a backfill whose parts
        both listed an entry that moved between their date ranges. COPY then fails on the
        primary key and the whole part is retried, and then sees that version: safer than an
        upsert, which would overwrite it without rebuilding the actual it counted under.
        """
        if not writes:
            return
        account = f"{self.account_id}\t"
        lines = [account + copy_line(w) for w in sorted(writes, key=_harvest_id)]
        raw = self.conn.connection.driver_connection
        cursor = raw.cursor()
        try:
            cursor.copy_expert(
                f"COPY time_entries (account_id, {', '.join(WRITE_COLUMNS)}) FROM STDIN",
                io.StringIO("".join(lines)),
            )
        except psycopg2.errors.UniqueViolation as exc:
            raise ConcurrentEntryWrite("a time entry was stored concurrently; retrying the sync") from exc
        finally:
            cursor.close()
        held = [w for w in writes if w.hold_reason]
        if held:
            self._ledger_hold(sorted(held, key=_harvest_id))

    def write(self, writes: Sequence[Write], *, versions_changed: bool = True) -> None:
        """Store these versions and their applied parts in one statement.

        With `versions_changed`, an older version never overwrites a newer one (Harvest's
        updated_at decides; an equal timestamp with other values is taken: a running timer that
        grew, or a second edit within the same second). Without it (re-resolving stored
        entries) only the applied parts change.
        """
        if not writes:
            return
        # ORDER BY harvest_id: concurrent writers lock rows in the same order (no deadlocks).
        ordered = sorted(writes, key=_harvest_id)
        columns = array_columns(ordered)
        guard = ""
        if versions_changed:
            new = ", ".join(f"excluded.{c}" for c in RAW_COLUMNS)
            old = ", ".join(f"t.{c}" for c in RAW_COLUMNS)
            guard = (
                "WHERE excluded.harvest_updated_at >= t.harvest_updated_at"
                f" AND ({new}) IS DISTINCT FROM ({old})"
            )
        self.conn.execute(
            sa.text(
                f"""
                INSERT INTO time_entries AS t (account_id, {", ".join(WRITE_COLUMNS)})
                SELECT :account_id, w.* FROM {UNNEST_WRITES} ORDER BY w.harvest_id
                ON CONFLICT (account_id, harvest_id) DO UPDATE SET {UPDATES} {guard}
                """
            ),
            {"account_id": self.account_id, **columns},
        )
        held = [w for w in ordered if w.hold_reason]
        if held:
            self._ledger_hold(held)

    def _ledger_hold(self, held: Sequence[Write]) -> None:
        self.conn.execute(
            sa.text(
                f"""
                INSERT INTO import_ledger AS l (account_id, record_type, harvest_id, reason, detail)
                SELECT :account_id, 'time_entry', w.harvest_id, w.hold_reason,
                       jsonb_build_object('harvest_user_id', w.harvest_user_id,
                                          'harvest_project_id', w.harvest_project_id,
                                          'spent_date', w.spent_date, 'hours', w.hours)
                FROM {UNNEST_WRITES} ORDER BY w.harvest_id
                ON CONFLICT (account_id, record_type, harvest_id) DO UPDATE
                SET reason = excluded.reason, detail = excluded.detail, last_seen_at = now()
                """
            ),
            {"account_id": self.account_id, **array_columns(held)},
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
        """Held entries whose hold may have changed: every held entry, or with `hold_stands`
        only those of (Harvest user, project, reason) groups whose hold no longer stands. A
        daily sync then re-reads what a fixed cause released, not every held entry of the
        account's history (a role left Unknown would otherwise cost a re-read each day)."""
        if self._hold_stands is None:
            return list(
                self.conn.execute(
                    sa.text(
                        "SELECT harvest_id FROM time_entries"
                        " WHERE account_id = :a AND hold_reason IS NOT NULL"
                    ),
                    {"a": self.account_id},
                ).scalars()
            )
        groups = [
            (u, p, r)
            for u, p, r in self.conn.execute(
                sa.text(
                    "SELECT DISTINCT harvest_user_id, harvest_project_id, hold_reason FROM time_entries"
                    " WHERE account_id = :a AND hold_reason IS NOT NULL"
                ),
                {"a": self.account_id},
            )
        ]
        changed = [g for g, stands in zip(groups, self._hold_stands(groups), strict=True) if not stands]
        if not changed:
            return []
        return list(
            self.conn.execute(
                sa.text(
                    """
                    SELECT t.harvest_id FROM time_entries AS t
                    JOIN unnest(CAST(:users AS bigint[]), CAST(:projects AS bigint[]),
                                CAST(:reasons AS text[]))
                         AS g(harvest_user_id, harvest_project_id, hold_reason)
                      ON t.harvest_user_id = g.harvest_user_id AND t.harvest_project_id = g.harvest_project_id
                     AND t.hold_reason = g.hold_reason
                    WHERE t.account_id = :a AND t.hold_reason IS NOT NULL
                    """
                ),
                {
                    "a": self.account_id,
                    "users": pg_int_array([g[0] for g in changed]),
                    "projects": pg_int_array([g[1] for g in changed]),
                    "reasons": pg_array([g[2] for g in changed]),
                },
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

    def clear_dirty(self, person_ids: Iterable[int]) -> None:
        ids = list(person_ids)
        if ids:
            d = t.actuals_dirty_people
            self.conn.execute(sa.delete(d).where(d.c.account_id == self.account_id, d.c.person_id.in_(ids)))


def _stored(r: sa.Row) -> Stored:
    """A row of STORED_COLUMNS, in that order: the entry's 8 columns, the 6 applied ones (all
    null when nothing counts), the hold reason."""
    return Stored(HarvestEntry(*r[:8]), None if r[8] is None else Applied(*r[8:14]), r[14])


def _harvest_id(w: Write) -> int:
    return w.entry.harvest_id


def mark_person_dirty(conn: sa.Connection, account_id: int, person_id: int) -> None:
    """The person's role or assignments changed: the next actuals sync re-resolves their entries."""
    from sqlalchemy.dialects.postgresql import insert

    conn.execute(
        insert(t.actuals_dirty_people)
        .values(account_id=account_id, person_id=person_id)
        .on_conflict_do_nothing()
    )


# Prepared: every page of every listing asks it.
_CURRENT = Prepared(
    "hs_entries_current",
    f"""
    SELECT t.* FROM unnest(CAST(:ids AS bigint[])) AS i(harvest_id)
    CROSS JOIN LATERAL (
        SELECT {", ".join(STORED_COLUMNS)} FROM time_entries
        WHERE account_id = :account_id AND harvest_id >= i.harvest_id
        ORDER BY harvest_id LIMIT 1
    ) AS t
    WHERE t.harvest_id = i.harvest_id
    """,
    {"ids": "bigint[]", "account_id": "bigint"},
)
