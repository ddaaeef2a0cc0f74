"""What resolving a time entry needs from our side: people, projects, assignments. Cached for
the life of one sync transaction (they do not change under its advisory lock)."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY

from domain.actuals import SYNC_OFF_TAG, AssignmentSpan, PersonFacts, ProjectFacts
from infra.db import tables as t
from infra.db.bulk import pg_int_array


class ResolutionLookups:
    def __init__(self, conn: sa.Connection, account_id: int) -> None:
        self.conn = conn
        self.account_id = account_id
        self._people: dict[int, PersonFacts | None] = {}
        self._projects: dict[int, ProjectFacts | None] = {}
        self._spans: dict[int, dict[int, list[AssignmentSpan]]] = {}

    def people(self, harvest_user_ids: Iterable[int]) -> dict[int, PersonFacts | None]:
        missing = sorted({i for i in harvest_user_ids if i not in self._people})
        if missing:
            refs, p, r = t.external_refs, t.people, t.roles
            rows = self.conn.execute(
                sa.select(refs.c.harvest_id, p.c.id, p.c.role_id, r.c.match_key)
                .join(p, sa.and_(p.c.account_id == refs.c.account_id, p.c.id == refs.c.person_id))
                .join(r, sa.and_(r.c.account_id == p.c.account_id, r.c.id == p.c.role_id))
                .where(
                    refs.c.account_id == self.account_id,
                    refs.c.entity_type == "person",
                    refs.c.harvest_id == _any(missing),
                )
            )
            self._people.update(dict.fromkeys(missing))
            for hid, pid, rid, key in rows:
                self._people[hid] = PersonFacts(person_id=pid, role_id=rid, role_is_unknown=key == "unknown")
        return self._people

    def projects(self, harvest_project_ids: Iterable[int]) -> dict[int, ProjectFacts | None]:
        missing = sorted({i for i in harvest_project_ids if i not in self._projects})
        if missing:
            refs, pr = t.external_refs, t.projects
            rows = self.conn.execute(
                sa.select(refs.c.harvest_id, pr.c.id, pr.c.tags)
                .join(pr, sa.and_(pr.c.account_id == refs.c.account_id, pr.c.id == refs.c.project_id))
                .where(
                    refs.c.account_id == self.account_id,
                    refs.c.entity_type == "project",
                    refs.c.harvest_id == _any(missing),
                )
            )
            self._projects.update(dict.fromkeys(missing))
            for hid, pid, tags in rows:
                self._projects[hid] = ProjectFacts(project_id=pid, sync_off=SYNC_OFF_TAG in (tags or []))
        return self._projects

    def assignments(self, person_ids: Iterable[int]) -> dict[int, dict[int, list[AssignmentSpan]]]:
        """person id -> project id -> that person's assignments on that project."""
        missing = sorted({i for i in person_ids if i not in self._spans})
        if missing:
            a = t.assignments
            rows = self.conn.execute(
                sa.select(
                    a.c.id, a.c.person_id, a.c.project_id, a.c.role_id, a.c.start_date, a.c.end_date
                ).where(a.c.account_id == self.account_id, a.c.person_id == _any(missing))
            )
            for person_id in missing:
                self._spans[person_id] = {}
            for aid, person_id, project_id, role_id, start, end in rows:
                self._spans[person_id].setdefault(project_id, []).append(
                    AssignmentSpan(aid, role_id, start, end)
                )
        return self._spans


def _any(ids: list[int]) -> sa.ColumnElement:
    """`= ANY(array)`: one parameter however many ids, where IN would bind (and PostgreSQL
    parse and plan) one per id: a page of entries names a thousand people."""
    return sa.any_(sa.cast(sa.literal(pg_int_array(ids)), ARRAY(sa.BigInteger)))


# A digest of everything a hold depends on: which Harvest users and projects we imported,
# whose role is Unknown, which projects are sync_off (resolve() decides every hold from these
# alone). While it stays the same, every held entry stays held for the same reason, and a sync
# need not look at them (an account's held entries can be a large part of its history). Read
# with the sync's start (infra.db.sync_start).
HOLD_FACTS_SQL = """
    SELECT md5(concat_ws('|',
      (SELECT string_agg(refs.harvest_id || ':' || (r.match_key = 'unknown')::text, ','
                         ORDER BY refs.harvest_id)
       FROM external_refs AS refs
       JOIN people AS p ON p.account_id = refs.account_id AND p.id = refs.person_id
       JOIN roles AS r ON r.account_id = p.account_id AND r.id = p.role_id
       WHERE refs.account_id = :a AND refs.entity_type = 'person'),
      (SELECT string_agg(refs.harvest_id || ':' || (:sync_off = ANY(pr.tags))::text, ','
                         ORDER BY refs.harvest_id)
       FROM external_refs AS refs
       JOIN projects AS pr ON pr.account_id = refs.account_id AND pr.id = refs.project_id
       WHERE refs.account_id = :a AND refs.entity_type = 'project')))
    """
