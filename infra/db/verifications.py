"""What verifying against Harvest's reports reads (the hours of the entries we hold) and
keeps (each run and its rows). Always scoped to one account."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa

from domain.verify import Compared
from infra.db import tables as t

_GROUP = {"project": t.time_entries.c.harvest_project_id, "person": t.time_entries.c.harvest_user_id}


class _AccountHours:
    def __init__(self, conn: sa.Connection, account_id: int) -> None:
        self.conn = conn
        self.account_id = account_id

    def hours_by(self, subject: str, start: date, end: date) -> dict[int, Decimal]:
        """Sums of our entries' hours per Harvest project or user, as Harvest would report
        them (not what we keep of an entry Harvest deleted)."""
        te, key = t.time_entries, _GROUP[subject]
        rows = self.conn.execute(
            sa.select(key, sa.func.sum(te.c.hours))
            .where(
                te.c.account_id == self.account_id,
                te.c.spent_date.between(start, end),
                te.c.harvest_deleted_at.is_(None),
            )
            .group_by(key)
        )
        return {int(k): Decimal(v) for k, v in rows}


class VerificationRepository:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def our_hours(self, account_id: int) -> _AccountHours:
        return _AccountHours(self.conn, account_id)

    def held_range(self, account_id: int) -> tuple[date, date] | None:
        """The oldest and newest spent date of the entries we hold."""
        te = t.time_entries
        oldest, newest = self.conn.execute(
            sa.select(sa.func.min(te.c.spent_date), sa.func.max(te.c.spent_date)).where(
                te.c.account_id == account_id
            )
        ).one()
        return (oldest, newest) if oldest is not None else None

    def record(
        self,
        account_id: int,
        *,
        checked_at: datetime,
        start: date,
        end: date,
        compared: list[Compared],
        source: str,
    ) -> int:
        runs = t.verification_runs
        run_id = self.conn.execute(
            sa.insert(runs)
            .values(
                account_id=account_id,
                checked_at=checked_at,
                range_from=start,
                range_to=end,
                differences=sum(c.differs for c in compared),
                source=source,
            )
            .returning(runs.c.id)
        ).scalar_one()
        if compared:
            self.conn.execute(
                sa.insert(t.verification_rows),
                [
                    {
                        "account_id": account_id,
                        "run_id": run_id,
                        "subject": c.subject,
                        "harvest_id": c.harvest_id,
                        "name": c.name,
                        "harvest_hours": c.harvest_hours,
                        "our_hours": c.our_hours,
                        "differs": c.differs,
                    }
                    for c in compared
                ],
            )
        return run_id

    def latest(self, account_id: int) -> dict | None:
        runs = t.verification_runs
        row = (
            self.conn.execute(
                sa.select(runs).where(runs.c.account_id == account_id).order_by(runs.c.id.desc()).limit(1)
            )
            .mappings()
            .first()
        )
        return dict(row) if row else None

    def project_rows(self, account_id: int, run_id: int, project_id: int) -> list[dict]:
        """The rows of one run for the Harvest projects that feed our project `project_id`."""
        vr, refs = t.verification_rows, t.external_refs
        harvest_ids = sa.select(refs.c.harvest_id).where(
            refs.c.account_id == account_id, refs.c.entity_type == "project", refs.c.project_id == project_id
        )
        query = sa.select(vr).where(
            vr.c.account_id == account_id,
            vr.c.run_id == run_id,
            vr.c.subject == "project",
            vr.c.harvest_id.in_(harvest_ids),
        )
        return [dict(r) for r in self.conn.execute(query.order_by(vr.c.harvest_id)).mappings()]

    def rows(self, account_id: int, run_id: int, *, differing_only: bool = False) -> list[dict]:
        vr = t.verification_rows
        query = sa.select(vr).where(vr.c.account_id == account_id, vr.c.run_id == run_id)
        if differing_only:
            query = query.where(vr.c.differs)
        order = query.order_by(vr.c.subject, vr.c.name, vr.c.harvest_id)
        return [dict(r) for r in self.conn.execute(order).mappings()]
