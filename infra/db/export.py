"""Read-only views for `admin export`: every query filtered by account."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import sqlalchemy as sa

from infra.db import tables as t

EXPORT_VERSION = 1


def _harvest_ids(conn: sa.Connection, account_id: int, entity_type: str, column: str) -> dict[int, list[int]]:
    refs = t.external_refs
    out: dict[int, list[int]] = {}
    rows = conn.execute(
        sa.select(refs.c[column], refs.c.harvest_id)
        .where(refs.c.account_id == account_id, refs.c.entity_type == entity_type)
        .order_by(refs.c.harvest_id)
    )
    for entity_id, harvest_id in rows:
        out.setdefault(entity_id, []).append(harvest_id)
    return out


def clients(conn: sa.Connection, account_id: int) -> list[dict]:
    ids = _harvest_ids(conn, account_id, "client", "client_id")
    c = t.clients
    rows = conn.execute(
        sa.select(c.c.id, c.c.name, c.c.archived).where(c.c.account_id == account_id).order_by(c.c.id)
    )
    return [{**dict(r._mapping), "harvest_ids": ids.get(r.id, [])} for r in rows]


def projects(conn: sa.Connection, account_id: int) -> list[dict]:
    ids = _harvest_ids(conn, account_id, "project", "project_id")
    p = t.projects
    rows = conn.execute(
        sa.select(p.c.id, p.c.name, p.c.client_id, p.c.project_type, p.c.budget, p.c.tags, p.c.archived)
        .where(p.c.account_id == account_id)
        .order_by(p.c.id)
    )
    return [
        {
            **dict(r._mapping),
            "budget": str(r.budget) if r.budget is not None else None,
            "harvest_ids": ids.get(r.id, []),
        }
        for r in rows
    ]


def people(conn: sa.Connection, account_id: int) -> list[dict]:
    ids = _harvest_ids(conn, account_id, "person", "person_id")
    p, r = t.people, t.roles
    rows = conn.execute(
        sa.select(
            p.c.id, p.c.first_name, p.c.last_name, p.c.email, r.c.name.label("role"), p.c.cost, p.c.archived
        )
        .join(r, sa.and_(r.c.account_id == p.c.account_id, r.c.id == p.c.role_id))
        .where(p.c.account_id == account_id)
        .order_by(p.c.id)
    )
    return [
        {
            **dict(x._mapping),
            "cost": str(x.cost) if x.cost is not None else None,
            "harvest_ids": ids.get(x.id, []),
        }
        for x in rows
    ]


def actuals(conn: sa.Connection, account_id: int, start: date | None, end: date | None) -> Iterator[dict]:
    """Streamed: an account's actuals can run to millions of rows."""
    a, r = t.actuals, t.roles
    query = (
        sa.select(
            a.c.person_id,
            a.c.project_id,
            r.c.name.label("role"),
            a.c.date,
            a.c.billable_minutes,
            a.c.nonbillable_minutes,
            a.c.autofilled,
        )
        .join(r, sa.and_(r.c.account_id == a.c.account_id, r.c.id == a.c.role_id))
        .where(a.c.account_id == account_id)
        .order_by(a.c.date, a.c.person_id, a.c.project_id, r.c.name)
    )
    if start:
        query = query.where(a.c.date >= start)
    if end:
        query = query.where(a.c.date <= end)
    for row in conn.execution_options(stream_results=True, yield_per=5000).execute(query):
        yield {**dict(row._mapping), "date": row.date.isoformat()}
