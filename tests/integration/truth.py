"""Ground truth for actuals, computed independently of the code under test.

From the simulator's time entries and our own people, projects, roles, assignments and tags,
work out what every actual must be, the straightforward way.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa

from infra.db import tables as t

Key = tuple[int, int, int, date]


def minutes(hours: object) -> int:
    return int((Decimal(str(hours)) * 60).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def expected_actuals(engine: sa.Engine, account_id: int, entries: list[dict]) -> dict[Key, tuple[int, int]]:
    with engine.connect() as conn:
        refs = t.external_refs
        people = {
            hid: (pid, rid, key)
            for hid, pid, rid, key in conn.execute(
                sa.select(refs.c.harvest_id, t.people.c.id, t.people.c.role_id, t.roles.c.match_key)
                .join(t.people, t.people.c.id == refs.c.person_id)
                .join(t.roles, t.roles.c.id == t.people.c.role_id)
                .where(refs.c.account_id == account_id, refs.c.entity_type == "person")
            )
        }
        projects = {
            hid: (pid, tags or [])
            for hid, pid, tags in conn.execute(
                sa.select(refs.c.harvest_id, t.projects.c.id, t.projects.c.tags)
                .join(t.projects, t.projects.c.id == refs.c.project_id)
                .where(refs.c.account_id == account_id, refs.c.entity_type == "project")
            )
        }
        spans = defaultdict(list)
        for aid, person, project, role, start, end in conn.execute(
            sa.select(
                t.assignments.c.id,
                t.assignments.c.person_id,
                t.assignments.c.project_id,
                t.assignments.c.role_id,
                t.assignments.c.start_date,
                t.assignments.c.end_date,
            ).where(t.assignments.c.account_id == account_id)
        ):
            spans[(person, project)].append((start, aid, role, end))
    sums: dict[Key, list[int]] = defaultdict(lambda: [0, 0])
    for e in entries:
        person = people.get(e["user"]["id"])
        project = projects.get(e["project"]["id"])
        if person is None or project is None or "sync_off" in project[1] or person[2] == "unknown":
            continue
        day = date.fromisoformat(e["spent_date"])
        covering = sorted(s for s in spans[(person[0], project[0])] if s[0] <= day <= s[3])
        role = covering[-1][2] if covering else person[1]
        sums[(person[0], project[0], role, day)][0 if e["billable"] else 1] += minutes(e["hours"])
    return {k: (v[0], v[1]) for k, v in sums.items()}


def actual_rows(
    engine: sa.Engine, account_id: int, *, autofilled: bool | None = False
) -> dict[Key, tuple[int, int]]:
    a = t.actuals
    query = sa.select(
        a.c.person_id, a.c.project_id, a.c.role_id, a.c.date, a.c.billable_minutes, a.c.nonbillable_minutes
    ).where(a.c.account_id == account_id)
    if autofilled is not None:
        query = query.where(a.c.autofilled.is_(autofilled))
    with engine.connect() as conn:
        return {(p, pr, r, d): (b, n) for p, pr, r, d, b, n in conn.execute(query)}


def assert_actuals_match(engine: sa.Engine, account_id: int, entries: list[dict]) -> None:
    expected = expected_actuals(engine, account_id, entries)
    actual = actual_rows(engine, account_id)
    missing = {k: v for k, v in expected.items() if k not in actual}
    extra = {k: v for k, v in actual.items() if k not in expected}
    wrong = {k: (actual[k], v) for k, v in expected.items() if k in actual and actual[k] != v}
    assert not (missing or extra or wrong), (
        f"{len(missing)} missing, {len(extra)} extra, {len(wrong)} wrong; "
        f"e.g. missing={list(missing.items())[:3]} extra={list(extra.items())[:3]} "
        f"wrong={list(wrong.items())[:3]}"
    )
    assert expected, "the scenario produced no actuals at all; it tests nothing"


def assert_entries_match(engine: sa.Engine, account_id: int, entries: list[dict]) -> None:
    """Every entry Harvest has, stored as Harvest has it, and nothing else (what a sync keeps
    for a sync_off project after Harvest deleted it is marked, and left out here). Also that
    the per-day counts the deletion check reads agree with the entries."""
    te = t.time_entries
    with engine.connect() as conn:
        ours = {
            hid: (day.isoformat(), Decimal(hours), billable, user, project)
            for hid, day, hours, billable, user, project in conn.execute(
                sa.select(
                    te.c.harvest_id, te.c.spent_date, te.c.hours, te.c.billable,
                    te.c.harvest_user_id, te.c.harvest_project_id,
                ).where(te.c.account_id == account_id, te.c.harvest_deleted_at.is_(None))
            )
        }  # fmt: skip
        per_day = dict(
            conn.execute(
                sa.select(t.entry_day_counts.c.spent_date, t.entry_day_counts.c.entries).where(
                    t.entry_day_counts.c.account_id == account_id, t.entry_day_counts.c.entries != 0
                )
            ).all()
        )
    theirs = {
        e["id"]: (
            e["spent_date"], Decimal(str(e["hours"])), e["billable"], e["user"]["id"], e["project"]["id"]
        )
        for e in entries
    }  # fmt: skip
    missing = sorted(set(theirs) - set(ours))
    extra = sorted(set(ours) - set(theirs))
    stale = sorted(i for i in set(ours) & set(theirs) if ours[i] != theirs[i])
    assert not (missing or extra or stale), (
        f"{len(missing)} missing {missing[:5]}, {len(extra)} extra {extra[:5]}, "
        f"{len(stale)} stale {[(i, ours[i], theirs[i]) for i in stale[:3]]}"
    )
    counted: dict[date, int] = defaultdict(int)
    for day, *_ in ours.values():
        counted[date.fromisoformat(day)] += 1
    assert per_day == dict(counted), "entry_day_counts disagrees with the stored entries"
