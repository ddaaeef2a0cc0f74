"""Generated task assignments (task <-> project) and user assignments (person <-> project)."""

from __future__ import annotations

import random
from typing import Any

from simulator import names
from simulator.defaults import default_record
from simulator.gen_common import IdSequence, Timeline, later
from simulator.store import AccountStore

Record = dict[str, Any]


def generate_assignments(
    store: AccountStore,
    rng: random.Random,
    ids: IdSequence,
    tl: Timeline,
    users: list[Record],
    projects: list[Record],
    tasks: list[Record],
) -> None:
    """Link tasks and people to projects, then derive per-task and per-person budgets."""
    _task_assignments(store, rng, ids, tl, projects, tasks)
    _user_assignments(store, rng, ids, tl, users, projects)
    _roll_up_budgets(store, projects)


def _created_between(rng: random.Random, earliest: int, tl: Timeline) -> int:
    return rng.randint(earliest, max(earliest, tl.window_start - 1))


def _task_assignments(
    store: AccountStore,
    rng: random.Random,
    ids: IdSequence,
    tl: Timeline,
    projects: list[Record],
    tasks: list[Record],
) -> None:
    specs: list[tuple[int, Record, Record]] = []
    for project in projects:
        count = rng.randint(min(3, len(tasks)), min(6, len(tasks)))
        for task in rng.sample(tasks, count):
            specs.append((_created_between(rng, project["created_at"], tl), project, task))
    # Ids follow creation order, as they would in Harvest.
    specs.sort(key=lambda spec: spec[0])
    for created, project, task in specs:
        budget_by = project["budget_by"]
        budget = None
        if budget_by == "task":
            budget = float(rng.choice((10, 20, 40, 80)))
        elif budget_by == "task_fees":
            budget = float(rng.randrange(1000, 20000, 500))
        assignment = default_record("task_assignments", ids.next("task_assignments"))
        assignment.update(
            project_id=project["id"],
            task_id=task["id"],
            billable=project["is_billable"] and task["billable_by_default"],
            is_active=rng.random() > 0.05,
            hourly_rate=rng.choice(names.HOURLY_RATES) if project["bill_by"] == "Tasks" else None,
            budget=budget,
            created_at=created,
            updated_at=later(rng, created, tl, 0.1),
        )
        store.insert_raw("task_assignments", assignment)


def _user_assignments(
    store: AccountStore,
    rng: random.Random,
    ids: IdSequence,
    tl: Timeline,
    users: list[Record],
    projects: list[Record],
) -> None:
    if not projects or not users:
        return
    pairs: list[tuple[Record, Record]] = []
    seen: set[tuple[int, int]] = set()
    for user in users:
        for project in rng.sample(projects, rng.randint(1, min(5, len(projects)))):
            pairs.append((project, user))
            seen.add((project["id"], user["id"]))
    staffed = {project_id for project_id, _ in seen}
    for project in projects:
        if project["id"] not in staffed:
            pairs.append((project, rng.choice(users)))
    specs = [(_created_between(rng, max(p["created_at"], u["created_at"]), tl), p, u) for p, u in pairs]
    specs.sort(key=lambda spec: spec[0])
    for created, project, user in specs:
        use_default = rng.random() < 0.85
        manager_odds = 0.05 if user["access_roles"][0] == "member" else 0.5
        assignment = default_record("user_assignments", ids.next("user_assignments"))
        assignment.update(
            project_id=project["id"],
            user_id=user["id"],
            is_project_manager=rng.random() < manager_odds,
            is_active=rng.random() > 0.05,
            use_default_rates=use_default,
            hourly_rate=user["default_hourly_rate"] if use_default else rng.choice(names.HOURLY_RATES),
            budget=float(rng.choice((20, 40, 80, 120))) if project["budget_by"] == "person" else None,
            created_at=created,
            updated_at=later(rng, created, tl, 0.1),
        )
        store.insert_raw("user_assignments", assignment)


def _roll_up_budgets(store: AccountStore, projects: list[Record]) -> None:
    """Project totals for per-person and per-task budgets.

    For ``person`` the real sample shows project.budget = sum of assignment budgets; for
    ``task`` / ``task_fees`` Harvest's values are undocumented, so the simulator mirrors that
    rule (hours into ``budget``, fees into ``cost_budget``).
    """
    totals: dict[int, float] = {}
    for ua in store.tables["user_assignments"].values():
        if ua["budget"] is not None:
            totals[ua["project_id"]] = totals.get(ua["project_id"], 0.0) + ua["budget"]
    for ta in store.tables["task_assignments"].values():
        if ta["budget"] is not None:
            totals[ta["project_id"]] = totals.get(ta["project_id"], 0.0) + ta["budget"]
    for project in projects:
        total = totals.get(project["id"])
        if project["budget_by"] in ("person", "task"):
            project["budget"] = total
        elif project["budget_by"] == "task_fees":
            project["cost_budget"] = total
