"""Property: whatever sequence of Harvest edits and planner changes happens between syncs,
after each sync the actuals equal the totals computed from Harvest's ground truth."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infra.db.planning import PlanningRepository
from tests.integration.actuals_support import known_people, our_id, sync_actuals, sync_entities
from tests.integration.truth import assert_actuals_match

OPS = st.sampled_from(
    [
        "hours",
        "billable",
        "date",
        "backdate",
        "project",
        "person",
        "delete",
        "create",
        "role",
        "assign",
        "unassign",
    ]
)
ROUNDS = st.lists(
    st.lists(st.tuples(OPS, st.integers(0, 10_000)), min_size=1, max_size=6), min_size=1, max_size=3
)


def _apply(op, n, store, engine, account_id):
    entries = store.list("time_entries")
    projects = [p["id"] for p in store.list("projects")]
    people = [hid for hid, key in known_people(engine, account_id).items() if key != "unknown"]
    entry = entries[n % len(entries)] if entries else None
    if op == "create" or entry is None:
        store.create(
            "time_entries",
            {
                "user_id": people[n % len(people)],
                "project_id": projects[n % len(projects)],
                "spent_date": (date.today() - timedelta(days=n % 20)).isoformat(),
                "hours": round((n % 700) / 100 + 0.01, 2),
                "billable": n % 2 == 0,
            },
        )
    elif op == "hours":
        store.update("time_entries", entry["id"], {"hours": round((n % 900) / 97, 2)})
    elif op == "billable":
        store.update("time_entries", entry["id"], {"billable": not entry["billable"]})
    elif op == "date":
        store.update(
            "time_entries", entry["id"], {"spent_date": (date.today() - timedelta(days=n % 25)).isoformat()}
        )
    elif op == "backdate":
        day = date.fromisoformat(entry["spent_date"]) - timedelta(days=365)
        store.update("time_entries", entry["id"], {"spent_date": day.isoformat()})
    elif op == "project":
        store.update("time_entries", entry["id"], {"project_id": projects[n % len(projects)]})
    elif op == "person":
        store.update("time_entries", entry["id"], {"user_id": people[n % len(people)]})
    elif op == "delete":
        store.delete("time_entries", entry["id"])
    else:
        person = (
            our_id(engine, account_id, "person", entry["user"]["id"])
            if entry["user"]["id"] in people
            else None
        )
        if person is None:
            return
        with engine.begin() as conn:
            plan = PlanningRepository(conn, account_id)
            if op == "role":
                plan.set_person_role(person, ["Designer", "Developer", "Lead"][n % 3])
            elif op == "assign":
                project = our_id(engine, account_id, "project", entry["project"]["id"])
                start = date.fromisoformat(entry["spent_date"]) - timedelta(days=n % 3)
                plan.assign(
                    person_id=person,
                    project_id=project,
                    role=["Lead", "Senior"][n % 2],
                    start=start,
                    end=start + timedelta(days=n % 5),
                    minutes_per_day=120,
                )
            elif op == "unassign":
                for a in plan.assignments(person)[:1]:
                    plan.unassign(a["id"])


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rounds=ROUNDS)
def test_actuals_equal_ground_truth_after_every_sync(app, simulator, new_account, engine, rounds):
    account_id, harvest_id = new_account(people=12, projects=5, clients=2, days=15, entries_per_day=1)
    store = simulator.store(harvest_id)
    sync_entities(app, account_id)
    sync_actuals(app, account_id)
    assert_actuals_match(engine, account_id, store.list("time_entries"))
    for changes in rounds:
        for op, n in changes:
            _apply(op, n, store, engine, account_id)
        # Full reconciliation: a back-dated entry may have left the trailing window.
        sync_actuals(app, account_id, full=True)
        assert_actuals_match(engine, account_id, store.list("time_entries"))
