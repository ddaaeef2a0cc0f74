"""The generated agency: deterministic, realistic, internally consistent."""

from __future__ import annotations

import time
from collections import Counter
from datetime import date

import pytest

from simulator.schema import COLLECTIONS
from simulator.state import SimulatorState
from simulator.store import AccountStore
from simulator.timeutil import parse_instant

END = date(2024, 6, 28)


def _generate(seed: int = 1, account_id: int = 1, **sizes: int) -> AccountStore:
    params = {"people": 30, "projects": 12, "clients": 6, "days": 40, "entries_per_day": 2, **sizes}
    return SimulatorState().add_account(account_id, "t", seed=seed, end_date=END, **params)


def _everything(store: AccountStore) -> dict[str, list[dict]]:
    return {name: store.list(name) for name in COLLECTIONS} | {"company": [store.company]}


@pytest.fixture(scope="module")
def agency() -> dict[str, list[dict]]:
    return _everything(_generate())


def test_same_seed_same_data_and_ids_across_accounts() -> None:
    first, second = _generate(seed=5, account_id=1), _generate(seed=5, account_id=2)
    assert _everything(first) == _everything(second)
    other = _everything(_generate(seed=6))
    assert other["users"] != _everything(first)["users"]


def test_ids_are_unique_and_large(agency: dict[str, list[dict]]) -> None:
    all_ids = [r["id"] for name in COLLECTIONS for r in agency[name]]
    assert len(all_ids) == len(set(all_ids))
    assert all(len(str(i)) >= 7 for i in all_ids)
    assert min(e["id"] for e in agency["time_entries"]) > 2**31


def test_roles_zero_one_several_with_name_variants(agency: dict[str, list[dict]]) -> None:
    per_user = Counter(min(len(u["roles"]), 2) for u in agency["users"])
    assert per_user[0] >= 1 and per_user[2] >= 1 and per_user[1] > per_user[0] + per_user[2]
    names = {r["name"] for r in agency["roles"]}
    normalised = Counter(n.strip().lower() for n in names)
    assert any(count > 1 for count in normalised.values()), "expected case/space variants"
    assert any(n != n.strip() for n in names)


def test_user_roles_match_role_user_ids(agency: dict[str, list[dict]]) -> None:
    from_roles: dict[int, set[str]] = {}
    for role in agency["roles"]:
        for user_id in role["user_ids"]:
            from_roles.setdefault(user_id, set()).add(role["name"])
    assert {u["id"]: set(u["roles"]) for u in agency["users"] if u["roles"]} == from_roles


def test_every_billing_and_budget_kind(agency: dict[str, list[dict]]) -> None:
    projects = agency["projects"]
    assert {p["budget_by"] for p in projects} == {
        "project",
        "project_cost",
        "task",
        "task_fees",
        "person",
        "none",
    }
    assert {p["bill_by"] for p in projects} == {"Project", "Tasks", "People", "none"}
    assert any(p["is_fixed_fee"] and p["fee"] for p in projects)
    assert any(not p["is_billable"] for p in projects)
    cost = [p for p in projects if p["budget_by"] == "project_cost"]
    assert all(p["cost_budget"] and p["budget"] is None for p in cost)
    for project in (p for p in projects if p["budget_by"] == "person"):
        budgets = [a["budget"] for a in agency["user_assignments"] if a["project"]["id"] == project["id"]]
        assert project["budget"] == sum(budgets)


def test_archived_records_exist(agency: dict[str, list[dict]]) -> None:
    for name in ("users", "projects", "clients"):
        assert any(not r["is_active"] for r in agency[name]), name


def test_time_entries_look_real(agency: dict[str, list[dict]]) -> None:
    entries = agency["time_entries"]
    running = [e for e in entries if e["is_running"]]
    assert running and all(e["timer_started_at"] and e["spent_date"] == END.isoformat() for e in running)
    assert len({e["user"]["id"] for e in running}) == len(running)
    assert all(e["timer_started_at"] is None for e in entries if not e["is_running"])
    assert all(round(e["hours"], 2) == e["hours"] for e in entries)
    assert {True, False} <= {e["billable"] for e in entries}
    non_billable = {p["id"] for p in agency["projects"] if not p["is_billable"]}
    assert all(not e["billable"] for e in entries if e["project"]["id"] in non_billable)
    assert all(e["billable_rate"] is None for e in entries if not e["billable"])
    weekdays = Counter(date.fromisoformat(e["spent_date"]).weekday() < 5 for e in entries)
    assert weekdays[True] > 10 * weekdays[False]
    assert any(e["invoice"] for e in entries) and any(e["external_reference"] for e in entries)
    assert {e["approval_status"] for e in entries} == {"approved", "submitted", "unsubmitted"}
    assert all(e["is_closed"] == (e["approval_status"] == "approved") for e in entries)
    days = {e["spent_date"] for e in entries}
    assert min(days) >= "2024-05-20" and max(days) == "2024-06-28"


def test_entries_per_day_is_an_average_per_working_day() -> None:
    store = _generate(people=10, projects=4, clients=2, days=28, entries_per_day=3)
    active_people = sum(1 for u in store.list("users") if u["is_active"])
    count = len(store.list("time_entries"))
    expected = active_people * 20 * 3  # 20 weekdays in 28 days
    assert 0.8 * expected < count < 1.3 * expected


def test_entries_reference_consistent_records(agency: dict[str, list[dict]]) -> None:
    projects = {p["id"]: p for p in agency["projects"]}
    assignments = {(a["project"]["id"], a["user"]["id"]): a["id"] for a in agency["user_assignments"]}
    for entry in agency["time_entries"]:
        project = projects[entry["project"]["id"]]
        assert entry["client"] == project["client"]
        assert entry["user_assignment"]["id"] == assignments[(project["id"], entry["user"]["id"])]


def test_timestamps_are_utc_seconds_and_in_the_past(agency: dict[str, list[dict]]) -> None:
    now = time.time()
    for name in (
        "clients",
        "projects",
        "users",
        "roles",
        "user_assignments",
        "task_assignments",
        "time_entries",
    ):
        for record in agency[name]:
            created, updated = record["created_at"], record["updated_at"]
            assert len(created) == 20 and created.endswith("Z")
            assert parse_instant(created) <= parse_instant(updated) < now


def test_users_carry_harvest_fields(agency: dict[str, list[dict]]) -> None:
    users = agency["users"]
    assert any(u["cost_rate"] is None for u in users) or len(users) < 10
    assert all(" (" in u["timezone"] or u["timezone"].isalpha() for u in users)
    assert all(u["weekly_capacity"] % 1800 == 0 for u in users)
    assert all(u["access_roles"][0] in ("administrator", "manager", "member") for u in users)


def test_empty_account() -> None:
    store = _generate(people=0, projects=0, clients=0, days=0)
    assert all(len(store.list(name)) == 0 for name in COLLECTIONS)


def test_ids_do_not_depend_on_the_time_of_generation() -> None:
    """With end_date = today, timestamps are capped at the simulator's "now" (its clock, shifted
    or not); the ids must not move with it."""

    def generated_at(hour: int) -> dict[str, list[dict]]:
        state = SimulatorState()
        instant = parse_instant(f"{END.isoformat()}T{hour:02d}:00:00Z")
        state.clock.set_offset(int(instant - time.time()))
        params = {"people": 30, "projects": 12, "clients": 6, "days": 40, "entries_per_day": 2}
        return _everything(state.add_account(1, "t", seed=1, end_date=END, **params))

    morning, evening = generated_at(1), generated_at(23)
    for name in COLLECTIONS:
        assert [r["id"] for r in morning[name]] == [r["id"] for r in evening[name]], name
    latest = max(parse_instant(e["updated_at"]) for e in morning["time_entries"])
    assert latest <= parse_instant(f"{END.isoformat()}T01:00:00Z")
