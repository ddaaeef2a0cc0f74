"""Deterministic generator of a realistic agency: company, people, roles, clients, tasks,
projects and assignments. Time entries are produced by simulator.generate_entries.

Everything derives from ``random.Random(seed)``, the sizes and ``end_date``: the same inputs
give the same records and ids (multi-tenant tests rely on two accounts sharing ids).
Timestamps are capped at "now" when end_date is today, so only then do they depend on the
wall clock.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

from simulator import names
from simulator.defaults import claims_for, default_company, default_record
from simulator.gen_common import IdSequence, Sizes, Timeline, ascii_slug, later, stamps
from simulator.generate_assignments import generate_assignments
from simulator.generate_entries import generate_time_entries
from simulator.store import AccountStore
from simulator.timeutil import day_start

Record = dict[str, Any]

# (bill_by, budget_by, is_billable, is_fixed_fee, budget_is_monthly): the first projects
# cycle through these so every kind exists as soon as there are 8 projects.
PROJECT_KINDS: tuple[tuple[str, str, bool, bool, bool], ...] = (
    ("People", "person", True, False, False),
    ("Project", "project", True, False, False),
    ("People", "project_cost", True, True, False),
    ("Tasks", "task", True, False, False),
    ("Tasks", "task_fees", True, False, False),
    ("none", "project", False, False, False),
    ("none", "none", True, False, False),
    ("People", "project_cost", True, False, True),
)


def generate_account(store: AccountStore, seed: int, sizes: Sizes, end_date: date | None = None) -> None:
    """Fill an empty store with a generated agency."""
    rng = random.Random(seed)
    # The account's own clock (shiftable): nothing may be stamped after what it calls now.
    now = store.now()
    end = end_date or datetime.fromtimestamp(now, UTC).date()
    timeline = _timeline(rng, sizes, end, now)
    ids = IdSequence(rng)
    _generate_company(store, rng)
    users = _generate_users(store, rng, ids, timeline, sizes.people)
    _generate_roles(store, rng, ids, timeline, users)
    clients = _generate_clients(store, rng, ids, timeline, sizes)
    tasks = _generate_tasks(store, rng, ids, timeline, sizes.projects)
    projects = _generate_projects(store, rng, ids, timeline, clients, sizes.projects)
    generate_assignments(store, rng, ids, timeline, users, projects, tasks)
    if sizes.days > 0:
        generate_time_entries(store, rng, ids, timeline, sizes.entries_per_day)
    store.sync_last_ids()  # entries were bulk-loaded straight into the table
    store.owner_user_id = users[0]["id"] if users else None
    store.touch(*store.versions)
    store.entry_indexes.build(store.tables["time_entries"])


def _timeline(rng: random.Random, sizes: Sizes, end: date, now: int) -> Timeline:
    first_day = end - timedelta(days=max(sizes.days, 1) - 1)
    window_start = day_start(first_day)
    birth = window_start - rng.randint(200, 900) * 86400
    # Past end dates are fully deterministic; today's data must not claim to be from the future.
    horizon = day_start(end) + 86400 - 1
    cutoff = min(horizon, now - 60)
    return Timeline(birth, window_start, max(cutoff, birth + 1), first_day, end, horizon)


def _generate_company(store: AccountStore, rng: random.Random) -> None:
    company = default_company(store.account_id, rng.choice(names.COMPANY_WORDS))
    company.update(
        week_start_day=rng.choice(("Monday", "Monday", "Sunday")),
        wants_timestamp_timers=rng.random() < 0.3,
        time_format=rng.choice(("decimal", "hours_minutes")),
        clock=rng.choice(("12h", "24h")),
        currency=rng.choice(names.CURRENCIES),
        weekly_capacity=rng.choice((144000, 144000, 126000)),
    )
    store.company = company
    store.rounding_minutes = rng.choice((0, 0, 0, 6, 15))


def _generate_users(
    store: AccountStore, rng: random.Random, ids: IdSequence, tl: Timeline, count: int
) -> list[Record]:
    users: list[Record] = []
    domain = store.company["full_domain"].split(".")[0] + ".example.com"
    seen_emails: set[str] = set()
    for index, created in enumerate(stamps(rng, count, tl.birth, tl.window_start - 86400)):
        user = default_record("users", ids.next("users"))
        first, last = rng.choice(names.FIRST_NAMES), rng.choice(names.LAST_NAMES)
        email = f"{ascii_slug(first)}.{ascii_slug(last)}@{domain}"
        if email in seen_emails:
            email = email.replace("@", f"{index}@")
        seen_emails.add(email)
        roll = rng.random()
        access = ["member"]
        if index == 0 or roll < 0.08:
            access = ["administrator"]
        elif roll < 0.25:
            access = [
                "manager",
                *rng.sample(
                    ("project_creator", "billable_rates_manager", "time_and_expenses_manager"),
                    rng.randint(0, 2),
                ),
            ]
        # Guarantee archived people in any account with 5+ people.
        archived = index != 0 and (rng.random() < 0.1 or (index == 3 and count >= 5))
        user.update(
            first_name=first,
            last_name=last,
            email=email,
            telephone=rng.choice(("", "", f"+1 555 01{rng.randint(10, 99)}")),
            timezone=rng.choice(names.TIMEZONES),
            weekly_capacity=rng.choice((144000, 144000, 144000, 126000, 108000, 72000)),
            has_access_to_all_future_projects=rng.random() < 0.1,
            is_contractor=rng.random() < 0.1,
            is_active=not archived,
            can_create_projects=access[0] != "member",
            default_hourly_rate=None if rng.random() < 0.05 else rng.choice(names.HOURLY_RATES),
            cost_rate=None if rng.random() < 0.15 else rng.choice(names.COST_RATES),
            access_roles=access,
            permissions_claims=claims_for(access),
            avatar_url=f"https://d3s3969qhosaug.cloudfront.net/v2/default-avatars/{index % 50}.png",
            created_at=created,
            updated_at=later(rng, created, tl, 1.0 if archived else 0.3),
        )
        store.insert_raw("users", user)
        users.append(user)
    return users


def _generate_roles(
    store: AccountStore, rng: random.Random, ids: IdSequence, tl: Timeline, users: list[Record]
) -> None:
    if not users:
        return
    base = list(names.ROLE_NAMES[: min(len(names.ROLE_NAMES), 2 + len(users) // 6)])
    variants = [names.ROLE_VARIANTS[n] for n in base if n in names.ROLE_VARIANTS][:2]
    role_names = base + (variants if len(users) >= 5 else [])
    roles = []
    for name, created in zip(
        role_names, stamps(rng, len(role_names), tl.birth, tl.window_start), strict=True
    ):
        role = default_record("roles", ids.next("roles"))
        role.update(name=name, created_at=created, updated_at=later(rng, created, tl, 0.2))
        roles.append(role)
    for user, kind in zip(users, _role_counts(rng, len(users)), strict=True):
        if kind == "none":
            picked: list[Record] = []
        elif kind == "several":
            picked = rng.sample(roles, min(len(roles), rng.randint(2, 3)))
        else:
            picked = [rng.choice(roles)]
        for role in picked:
            role["user_ids"].append(user["id"])
    for role in roles:
        role["user_ids"].sort()
        store.insert_raw("roles", role)


def _role_counts(rng: random.Random, people: int) -> list[str]:
    """How many roles each person holds: ~10% none, ~10% several, the rest exactly one.

    Quotas rather than independent dice, so small accounts still have mostly one-role people
    plus at least one of each odd case (person 1 has none, person 2 several).
    """
    kinds = ["one"] * people
    if people >= 2:
        kinds[1] = "none"
    if people >= 3:
        kinds[2] = "several"
    others = [index for index in range(people) if index not in (1, 2)]
    rng.shuffle(others)
    extra = max(0, round(people / 10) - 1)
    for index in others[:extra]:
        kinds[index] = "none"
    for index in others[extra : 2 * extra]:
        kinds[index] = "several"
    return kinds


def _generate_clients(
    store: AccountStore, rng: random.Random, ids: IdSequence, tl: Timeline, sizes: Sizes
) -> list[Record]:
    count = max(sizes.clients, 1 if sizes.projects else 0)
    clients: list[Record] = []
    used: set[str] = set()
    currency = store.company["currency"]
    for index, created in enumerate(stamps(rng, count, tl.birth, tl.window_start - 86400)):
        client = default_record("clients", ids.next("clients"), currency)
        name = f"{rng.choice(names.CLIENT_WORDS)} {rng.choice(names.CLIENT_SUFFIXES)}".strip()
        if name in used:
            name = f"{name} {index}"
        used.add(name)
        archived = index != 0 and (rng.random() < 0.1 or (index == 2 and count >= 3))
        client.update(
            name=name,
            is_active=not archived,
            address=rng.choice((None, "", f"{rng.randint(1, 999)} Main Street\r\nSpringfield")),
            statement_key=f"{rng.getrandbits(128):032x}",
            currency=currency if rng.random() < 0.85 else rng.choice(names.CURRENCIES),
            created_at=created,
            updated_at=later(rng, created, tl, 1.0 if archived else 0.2),
        )
        store.insert_raw("clients", client)
        clients.append(client)
    return clients


def _generate_tasks(
    store: AccountStore, rng: random.Random, ids: IdSequence, tl: Timeline, project_count: int
) -> list[Record]:
    if project_count == 0:
        return []
    count = min(len(names.TASK_NAMES), 4 + project_count // 3)
    tasks: list[Record] = []
    for name, created in zip(
        names.TASK_NAMES[:count], stamps(rng, count, tl.birth, tl.birth + 86400), strict=True
    ):
        task = default_record("tasks", ids.next("tasks"))
        task.update(
            name=name,
            billable_by_default=name not in names.NON_BILLABLE_TASKS,
            default_hourly_rate=rng.choice((None, 100.0, 125.0)),
            is_default=name in ("Design", "Programming", "Project Management", "Meetings"),
            created_at=created,
            updated_at=created,
        )
        store.insert_raw("tasks", task)
        tasks.append(task)
    return tasks


def _generate_projects(
    store: AccountStore,
    rng: random.Random,
    ids: IdSequence,
    tl: Timeline,
    clients: list[Record],
    count: int,
) -> list[Record]:
    projects: list[Record] = []
    used: set[str] = set()
    for index, created in enumerate(stamps(rng, count, tl.birth + 86400, tl.window_start - 86400)):
        project = default_record("projects", ids.next("projects"))
        bill_by, budget_by, billable, fixed_fee, monthly = (
            PROJECT_KINDS[index] if index < len(PROJECT_KINDS) else rng.choice(PROJECT_KINDS)
        )
        client = rng.choice(clients)
        name = rng.choice(names.PROJECT_WORDS) if billable else "Internal Operations"
        if name in used:
            name = f"{name} {index + 1}"
        used.add(name)
        # Archived projects: ~10%, always at least one from 5 projects, and every project
        # of an archived client.
        archived = not client["is_active"] or rng.random() < 0.1 or (index == 4 and count >= 5)
        fee = float(rng.randrange(5000, 60000, 500)) if fixed_fee else None
        project.update(
            client_id=client["id"],
            name=name,
            code=f"{ascii_slug(client['name'])[:3].upper()}-{index + 1:03d}" if rng.random() < 0.7 else None,
            is_active=not archived,
            is_billable=billable,
            is_fixed_fee=fixed_fee,
            bill_by=bill_by,
            budget=float(rng.choice((80, 160, 240, 400))) if budget_by == "project" else None,
            budget_by=budget_by,
            budget_is_monthly=monthly,
            notify_when_over_budget=rng.random() < 0.4,
            show_budget_to_all=rng.random() < 0.2,
            starts_on=(
                datetime.fromtimestamp(created, UTC).date().isoformat() if rng.random() < 0.5 else None
            ),
            notes=rng.choice((None, "", "Phase 1 scope agreed in kickoff.")),
            cost_budget=(fee or float(rng.randrange(10000, 90000, 1000)))
            if budget_by == "project_cost"
            else None,
            cost_budget_include_expenses=fixed_fee,
            hourly_rate=rng.choice(names.HOURLY_RATES) if bill_by == "Project" else None,
            fee=fee,
            created_at=created,
            updated_at=later(rng, created, tl, 1.0 if archived else 0.3),
        )
        store.insert_raw("projects", project)
        projects.append(project)
    return projects
