"""What the planner edits by hand: assignments, person roles, project tags. Each change that
moves a person's time to another role marks the person for re-resolution at the next sync."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from domain.model import role_match_key
from infra.db import tables as t
from infra.db.scoping import require_in_account
from infra.db.time_entries import mark_person_dirty


class PlanningRepository:
    def __init__(self, conn: sa.Connection, account_id: int) -> None:
        self.conn = conn
        self.account_id = account_id

    def _require(self, table: sa.Table, entity_id: int, what: str) -> None:
        require_in_account(self.conn, table, self.account_id, entity_id, what)

    def role_id(self, name: str) -> int:
        """The role matching `name` (case- and space-insensitively), created if new."""
        key = role_match_key(name)
        if not key:
            raise ValueError("a role name must not be empty")
        self.conn.execute(
            insert(t.roles)
            .values(account_id=self.account_id, name=" ".join(name.split()), match_key=key)
            .on_conflict_do_nothing(index_elements=["account_id", "match_key"])
        )
        return self.conn.execute(
            sa.select(t.roles.c.id).where(t.roles.c.account_id == self.account_id, t.roles.c.match_key == key)
        ).scalar_one()

    def assign(
        self, *, person_id: int, project_id: int, role: str, start: date, end: date, minutes_per_day: int
    ) -> int:
        self._require(t.people, person_id, "person")
        self._require(t.projects, project_id, "project")
        if end < start:
            raise ValueError("--to is before --from")
        new_id = self.conn.execute(
            sa.insert(t.assignments)
            .values(
                account_id=self.account_id,
                person_id=person_id,
                project_id=project_id,
                role_id=self.role_id(role),
                start_date=start,
                end_date=end,
                minutes_per_day=minutes_per_day,
            )
            .returning(t.assignments.c.id)
        ).scalar_one()
        mark_person_dirty(self.conn, self.account_id, person_id)
        return new_id

    def unassign(self, assignment_id: int) -> None:
        a = t.assignments
        person_id = self.conn.execute(
            sa.delete(a)
            .where(a.c.id == assignment_id, a.c.account_id == self.account_id)
            .returning(a.c.person_id)
        ).scalar()
        if person_id is None:
            raise LookupError(f"no assignment {assignment_id} in this account")
        mark_person_dirty(self.conn, self.account_id, person_id)

    def assignments(self, person_id: int | None = None) -> list[dict]:
        a, r = t.assignments, t.roles
        query = (
            sa.select(a, r.c.name.label("role"))
            .join(r, sa.and_(r.c.account_id == a.c.account_id, r.c.id == a.c.role_id))
            .where(a.c.account_id == self.account_id)
            .order_by(a.c.person_id, a.c.start_date, a.c.id)
        )
        if person_id is not None:
            query = query.where(a.c.person_id == person_id)
        return [dict(row) for row in self.conn.execute(query).mappings()]

    def set_person_role(self, person_id: int, role: str) -> None:
        self._require(t.people, person_id, "person")
        self.conn.execute(
            sa.update(t.people)
            .where(t.people.c.id == person_id, t.people.c.account_id == self.account_id)
            .values(role_id=self.role_id(role))
        )
        mark_person_dirty(self.conn, self.account_id, person_id)

    def tag_project(self, project_id: int, *, add: str | None = None, remove: str | None = None) -> list[str]:
        self._require(t.projects, project_id, "project")
        p = t.projects
        tags = self.conn.execute(sa.select(p.c.tags).where(p.c.id == project_id)).scalar_one() or []
        if add and add not in tags:
            tags = [*tags, add]
        if remove:
            tags = [x for x in tags if x != remove]
        self.conn.execute(sa.update(p).where(p.c.id == project_id).values(tags=tags))
        return tags

    def ledger(self) -> list[dict]:
        led = t.import_ledger
        rows = self.conn.execute(
            sa.select(led)
            .where(led.c.account_id == self.account_id)
            .order_by(led.c.record_type, led.c.harvest_id)
        ).mappings()
        return [dict(r) for r in rows]
