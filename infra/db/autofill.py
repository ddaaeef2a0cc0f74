"""Autofill reads (assignments, time off, existing actuals of a week) and writes (zeros)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from domain.actuals import Key
from domain.autofill import Scheduled
from infra.db import tables as t
from infra.db.bulk import copy_rows, temp_table
from infra.db.scoping import require_in_account

# A key with no hours left gets its autofilled zero back when autofill would have written one:
# its week was autofilled, the day is a working day, the person was scheduled on that project in
# that role, and was not off. The same conditions as domain.autofill.zero_days, set-based.
# Expects the key's columns as o.person_id, o.project_id, o.role_id, o.day.
AUTOFILL_ELIGIBLE = """
    EXISTS (SELECT 1 FROM accounts acc WHERE acc.id = :account_id AND acc.autofill AND acc.import_actuals
            AND CAST(EXTRACT(ISODOW FROM o.day) AS smallint) = ANY(acc.working_days))
    AND EXISTS (SELECT 1 FROM autofill_weeks w WHERE w.account_id = :account_id
                AND o.day BETWEEN w.week_start AND w.week_start + 6)
    AND EXISTS (SELECT 1 FROM assignments a WHERE a.account_id = :account_id
                AND a.person_id = o.person_id AND a.project_id = o.project_id AND a.role_id = o.role_id
                AND o.day BETWEEN a.start_date AND a.end_date AND a.minutes_per_day > 0)
    AND NOT EXISTS (SELECT 1 FROM time_off off WHERE off.account_id = :account_id
                    AND off.person_id = o.person_id AND o.day BETWEEN off.start_date AND off.end_date)
"""


class AutofillRepository:
    def __init__(self, conn: sa.Connection, account_id: int) -> None:
        self.conn = conn
        self.account_id = account_id

    def scheduled(self, start: date, end: date) -> list[Scheduled]:
        a = t.assignments
        rows = self.conn.execute(
            sa.select(
                a.c.person_id, a.c.project_id, a.c.role_id, a.c.start_date, a.c.end_date, a.c.minutes_per_day
            )
            .where(a.c.account_id == self.account_id, a.c.start_date <= end, a.c.end_date >= start)
            .order_by(a.c.id)
        )
        return [Scheduled(*r) for r in rows]

    def time_off(self, start: date, end: date) -> dict[int, list[tuple[date, date]]]:
        off = t.time_off
        out: dict[int, list[tuple[date, date]]] = {}
        rows = self.conn.execute(
            sa.select(off.c.person_id, off.c.start_date, off.c.end_date).where(
                off.c.account_id == self.account_id, off.c.start_date <= end, off.c.end_date >= start
            )
        )
        for person_id, s, e in rows:
            out.setdefault(person_id, []).append((s, e))
        return out

    def existing(self, start: date, end: date) -> set[Key]:
        a = t.actuals
        rows = self.conn.execute(
            sa.select(a.c.person_id, a.c.project_id, a.c.role_id, a.c.date).where(
                a.c.account_id == self.account_id, a.c.date.between(start, end)
            )
        )
        return {tuple(r) for r in rows}  # type: ignore[misc]

    def insert_zeros(self, keys: Iterable[Key]) -> int:
        temp_table(self.conn, "af_keys", "person_id bigint, project_id bigint, role_id bigint, day date")
        n = copy_rows(self.conn, "af_keys", ("person_id", "project_id", "role_id", "day"), keys)
        if not n:
            return 0
        # DO NOTHING: real hours that arrived meanwhile win over a zero.
        return self.conn.execute(
            sa.text(
                """
                INSERT INTO actuals (account_id, person_id, project_id, role_id, date,
                                     billable_minutes, nonbillable_minutes, autofilled)
                SELECT :account_id, person_id, project_id, role_id, day, 0, 0, true FROM af_keys
                ORDER BY person_id, project_id, role_id, day
                ON CONFLICT (account_id, person_id, project_id, role_id, date) DO NOTHING
                """
            ),
            {"account_id": self.account_id},
        ).rowcount

    def mark_week(self, monday: date) -> None:
        self.conn.execute(
            insert(t.autofill_weeks)
            .values(account_id=self.account_id, week_start=monday)
            .on_conflict_do_nothing()
        )

    def add_time_off(self, person_id: int, start: date, end: date) -> int:
        require_in_account(self.conn, t.people, self.account_id, person_id, "person")
        if end < start:
            raise ValueError("--to is before --from")
        return self.conn.execute(
            sa.insert(t.time_off)
            .values(account_id=self.account_id, person_id=person_id, start_date=start, end_date=end)
            .returning(t.time_off.c.id)
        ).scalar_one()

    def list_time_off(self) -> list[dict]:
        off = t.time_off
        rows = self.conn.execute(
            sa.select(off)
            .where(off.c.account_id == self.account_id)
            .order_by(off.c.person_id, off.c.start_date)
        ).mappings()
        return [dict(r) for r in rows]

    def remove_time_off(self, time_off_id: int) -> None:
        off = t.time_off
        gone = self.conn.execute(
            sa.delete(off)
            .where(off.c.id == time_off_id, off.c.account_id == self.account_id)
            .returning(off.c.id)
        ).first()
        if gone is None:
            raise LookupError(f"no time off {time_off_id} in this account")
