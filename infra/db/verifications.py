"""What verifying against Harvest's reports reads (the hours of the entries we hold) and
keeps (each run and its rows). Always scoped to one account."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa

from domain.verify import Compared
from infra.db import tables as t
from infra.db.at_commit import AtCommit, driver_sql
from infra.db.prepared import Prepared


class _AccountHours:
    def __init__(self, conn: sa.Connection, account_id: int) -> None:
        self.conn = conn
        self.account_id = account_id
        self._read: dict[tuple[date, date], dict[str, dict[int, Decimal]]] = {}

    def hours_by(self, subject: str, start: date, end: date) -> dict[int, Decimal]:
        """Sums of our entries' hours per Harvest project or user, as Harvest would report
        them (not what we keep of an entry Harvest deleted). Both subjects of a range are
        read together, in one pass over its entries: compare() asks for one, then the other."""
        if (start, end) not in self._read:
            by: dict[str, dict[int, Decimal]] = {"project": {}, "person": {}}
            params = {"a": self.account_id, "start": start, "end": end}
            for per_project, harvest_id, hours in _HOURS.execute(self.conn, params):
                by["project" if per_project else "person"][int(harvest_id)] = Decimal(hours)
            self._read[(start, end)] = by
        return self._read[(start, end)][subject]


# Both groupings at once; GROUPING() tells which a row belongs to.
_HOURS = Prepared(
    "hs_verify_hours",
    """
    SELECT GROUPING(harvest_project_id) = 0,
           CASE WHEN GROUPING(harvest_project_id) = 0 THEN harvest_project_id ELSE harvest_user_id END,
           sum(hours)
    FROM time_entries
    WHERE account_id = :a AND spent_date BETWEEN :start AND :end AND harvest_deleted_at IS NULL
    GROUP BY GROUPING SETS ((harvest_project_id), (harvest_user_id))
    """,
    {"a": "bigint", "start": "date", "end": "date"},
)
_HELD_RANGE = Prepared(
    "hs_verify_held_range",
    "SELECT min(spent_date), max(spent_date) FROM time_entries WHERE account_id = :a",
    {"a": "bigint"},
)
# A run and its rows, one statement sent at commit: nobody reads them back in the sync.
_RECORD = driver_sql(
    sa.text(
        """
        WITH run AS (
            INSERT INTO verification_runs (account_id, checked_at, range_from, range_to, differences, source)
            VALUES (:a, :at, :start, :end, :differences, :source) RETURNING id
        )
        INSERT INTO verification_rows
            (account_id, run_id, subject, harvest_id, name, harvest_hours, our_hours, differs)
        SELECT :a, run.id, r.subject, r.harvest_id, r.name, r.harvest_hours, r.our_hours, r.differs
        FROM run, unnest(CAST(:subjects AS text[]), CAST(:ids AS bigint[]), CAST(:names AS text[]),
                         CAST(:theirs AS numeric[]), CAST(:ours AS numeric[]), CAST(:differs AS boolean[]))
             AS r(subject, harvest_id, name, harvest_hours, our_hours, differs)
        """
    )
)


class VerificationRepository:
    def __init__(self, conn: sa.Connection, at_commit: AtCommit) -> None:
        """`at_commit`: the unit of work's writes sent at commit (a run's record)."""
        self.conn = conn
        self._at_commit = at_commit

    def our_hours(self, account_id: int) -> _AccountHours:
        return _AccountHours(self.conn, account_id)

    def held_range(self, account_id: int) -> tuple[date, date] | None:
        """The oldest and newest spent date of the entries we hold."""
        oldest, newest = _HELD_RANGE.execute(self.conn, {"a": account_id}).one()
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
    ) -> None:
        """Keep the run and its rows, written when the unit of work commits."""
        params = {
            "a": account_id,
            "at": checked_at,
            "start": start,
            "end": end,
            "differences": sum(c.differs for c in compared),
            "source": source,
            "subjects": [c.subject for c in compared],
            "ids": [c.harvest_id for c in compared],
            "names": [c.name for c in compared],
            "theirs": [c.harvest_hours for c in compared],
            "ours": [c.our_hours for c in compared],
            "differs": [c.differs for c in compared],
        }
        self._at_commit.add(_RECORD, params)

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
