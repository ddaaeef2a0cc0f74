"""Property: whatever users do in Harvest between two page requests of any listing (of a first
sync, of its backfill parts, of a daily sync) and between syncs, every sync ends with our
entries and actuals equal to Harvest's. No full listing, no waiting a week."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.commands import BackfillPart
from simulator.store import AccountStore
from tests.integration.actuals_support import plan_first_sync_in_parts, sync_actuals, sync_entities
from tests.integration.conftest import replace_settings
from tests.integration.truth import assert_actuals_match, assert_entries_match

PER_PAGE = 6
OPS = st.sampled_from(["hours", "billable", "move", "backdate", "project", "person", "delete", "create"])
MUTATIONS = st.lists(st.tuples(OPS, st.integers(0, 10_000)), min_size=1, max_size=4)
# After page K of a listing, these mutations (only between two pages: not after its last one).
HOOKS = st.lists(st.tuples(st.integers(1, 5), MUTATIONS), max_size=3)
DAYS = st.lists(st.tuples(st.lists(st.tuples(OPS, st.integers(0, 10_000)), max_size=8), HOOKS), max_size=3)


def mutate(store: AccountStore, op: str, n: int) -> None:
    """One thing a user does in Harvest, chosen by `n` from what the account holds now."""
    entries = store.list("time_entries")
    users = [u["id"] for u in store.list("users")]
    projects = [p["id"] for p in store.list("projects")]
    today = date.fromisoformat(store.today())
    if op == "create" or not entries:
        store.create(
            "time_entries",
            {
                "user_id": users[n % len(users)],
                "project_id": projects[n % len(projects)],
                # Today mostly, but also back-dated time typed in late.
                "spent_date": (today - timedelta(days=(n % 7) if n % 3 else (n % 60))).isoformat(),
                "hours": round((n % 600) / 100 + 0.25, 2),
                "billable": n % 2 == 0,
            },
        )
        return
    entry = entries[n % len(entries)]
    if op == "delete":
        store.delete("time_entries", entry["id"])
        return
    changes: dict[str, object] = {
        "hours": {"hours": round((n % 800) / 97 + 0.01, 2)},
        "billable": {"billable": not entry["billable"]},
        "move": {"spent_date": (today - timedelta(days=n % 40)).isoformat()},
        "backdate": {
            "spent_date": (date.fromisoformat(entry["spent_date"]) - timedelta(days=200)).isoformat()
        },
        "project": {"project_id": projects[n % len(projects)]},
        "person": {"user_id": users[n % len(users)]},
    }[op]
    store.update("time_entries", entry["id"], changes)


def arm(simulator, harvest_id: int, hooks: list, match: dict) -> None:
    for page, mutations in hooks:
        simulator.after_page(harvest_id, page, _doing(mutations), match=match, between_pages=True)


def _doing(mutations: list[tuple[str, int]]) -> Callable[[AccountStore], None]:
    def act(store: AccountStore) -> None:
        for op, n in mutations:
            mutate(store, op, n)

    return act


def exact(engine, account_id: int, store: AccountStore) -> None:
    entries = store.list("time_entries")
    assert_entries_match(engine, account_id, entries)
    assert_actuals_match(engine, account_id, entries)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(split=st.booleans(), first_hooks=HOOKS, days=DAYS)
def test_every_sync_ends_exact_whatever_users_do_meanwhile(
    app, simulator, new_account, engine, split, first_hooks, days
):
    account_id, harvest_id = new_account(people=6, projects=3, clients=2, days=25, entries_per_day=1)
    store = simulator.store(harvest_id)
    small = replace_settings(app, harvest_per_page=PER_PAGE)
    sync_entities(small, account_id)
    # First sync: its main listing, its parts, its checks (nothing of a daily sync yet).
    arm(simulator, harvest_id, first_hooks, {"updated_since": False, "is_running": False})
    _first_sync(small, account_id, store, split)
    exact(engine, account_id, store)
    for between, during in days:
        simulator.state.hooks.clear(harvest_id)
        for op, n in between:
            mutate(store, op, n)
        arm(simulator, harvest_id, during, {})
        sync_actuals(small, account_id)
        exact(engine, account_id, store)


def _first_sync(app, account_id: int, store: AccountStore, split: bool) -> None:
    if not split:
        sync_actuals(app, account_id)
        return
    for part in plan_first_sync_in_parts(app, account_id, max(10, len(store.list("time_entries")) // 3)):
        app.handlers[BackfillPart](part)
